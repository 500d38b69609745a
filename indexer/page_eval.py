"""Evaluation with page judgments: a folder of paged documents and questions judged by file and page.

The judgments file is JSON Lines, one question per line: `{"question": "...", "evidence": [{"doc_name": "NAME",
"page": N}, ...]}` (other fields are ignored). `doc_name` names a file of the folder by its path relative to the
folder, with or without its extension; `page` counts from 1, as a PDF viewer does. The folder goes through the
same pipeline as `indexer build` (into a kept `--index`, a rerun embeds nothing), and every question is asked
through `Searcher.search`, the call the service makes, in each system. The figures:

- doc@1: the first hit lies in a document the question is judged on;
- page@5, page@20: some judged page is among the first 5 (20) hits' pages;
- MRR@20: the mean of 1 / the rank of the first hit on a judged page (0 beyond 20);
- navigation@5: the mean number of navigation passages (tables of contents, indexes) among the first 5 hits.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm import tqdm

from indexer.judgments import read_jsonl
from indexer.retrieval.results import Group, Hit, Mode, Navigation
from indexer.retrieval.searcher import Searcher

DEPTH = 20
PAGE_QUESTIONS = "questions.jsonl"  # a dataset folder holding this file (and one folder of documents) is judged by page

# What `indexer eval` runs on page judgments: the default search, each retriever alone, and the default without
# each page-aware search step (the ablations of docs/evaluation.md).
PAGE_SYSTEMS: dict[str, dict[str, Any]] = {
    "seekr hybrid (default: one hit per page, navigation below content)": {},
    "seekr dense": {"mode": Mode.dense},
    "seekr lexical": {"mode": Mode.lexical},
    "hybrid, without document scores": {"document_weight": 0.0},
    "hybrid, one hit per passage": {"group": Group.passage},
    "hybrid, navigation ranked as content": {"navigation": Navigation.include},
    "hybrid, per passage, navigation as content": {"group": Group.passage, "navigation": Navigation.include},
}


@dataclass(frozen=True)
class PageQuestion:
    """A question and the (document name, page) pairs that answer it."""

    qid: str
    text: str
    pages: frozenset[tuple[str, int]]

    @property
    def documents(self) -> frozenset[str]:
        """The documents judged to answer it."""
        return frozenset(doc for doc, _ in self.pages)


def read_page_questions(path: Path) -> list[PageQuestion]:
    """The judged questions of a JSON Lines file (see the module docstring); lines without evidence are left out."""
    questions = []
    for n, record in enumerate(read_jsonl(path), start=1):
        text = record.get("question")
        evidence = record.get("evidence") or []
        pages = frozenset(
            (_name(str(e["doc_name"])), int(e["page"]))
            for e in evidence
            if isinstance(e, dict) and e.get("doc_name") and e.get("page") is not None
        )
        if isinstance(text, str) and text.strip() and pages:
            qid = str(record.get("id") or record.get("financebench_id") or n)
            questions.append(PageQuestion(qid, text, pages))
    return questions


def _name(source: str) -> str:
    """A document's name as judgments write it: its path without the extension."""
    path = PurePosixPath(source)
    return str(path.with_suffix("")) if path.suffix else str(path)


@dataclass
class PageRow:
    """One system's figures over every question."""

    system: str
    doc_at_1: float
    page_at_5: float
    page_at_20: float
    mrr_at_20: float
    navigation_at_5: float
    mean_query_ms: float
    found_at_5: list[str] = field(default_factory=list)  # questions with a judged page in the first 5


@dataclass
class PageReport:
    """What `indexer eval` prints for a folder with page judgments."""

    dataset: str
    documents: int
    pages: int
    chunks: int
    questions: int
    build_seconds: float
    rows: list[PageRow] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def score_hits(question: PageQuestion, hits: list[Hit]) -> tuple[float, float, float, float, float]:
    """(doc@1, page@5, page@20, reciprocal rank within 20, navigation passages in the first 5) of one ranking."""
    keys = [(_name(h.source), h.page or 0) for h in hits[:DEPTH]]
    doc1 = float(bool(keys) and keys[0][0] in question.documents)
    first = next((i for i, key in enumerate(keys, start=1) if key in question.pages), None)
    page5 = float(first is not None and first <= 5)
    page20 = float(first is not None)
    rr = 1.0 / first if first is not None else 0.0
    navigation = float(sum(1 for h in hits[:5] if h.kind == "navigation"))
    return doc1, page5, page20, rr, navigation


def evaluate_pages(
    searcher: Searcher,
    questions: list[PageQuestion],
    systems: dict[str, dict[str, Any]],
    *,
    progress: bool = True,
) -> list[PageRow]:
    """Ask every question of every system (a name and the search options it stands for) and score the hits."""
    rows = []
    for name, options in systems.items():
        figures: list[tuple[float, float, float, float, float]] = []
        times: list[float] = []
        found: list[str] = []
        for q in tqdm(questions, desc=name, unit="q", leave=False, disable=not progress):
            started = time.perf_counter()
            result = searcher.search(q.text, k=DEPTH, highlight=False, **options)
            times.append((time.perf_counter() - started) * 1000)
            scored = score_hits(q, result.hits)
            figures.append(scored)
            if scored[1]:
                found.append(q.qid)
        doc1, page5, page20, rr, navigation = (
            [statistics.fmean(column) for column in zip(*figures, strict=True)] if figures else [0.0] * 5
        )
        mean_ms = statistics.fmean(times) if times else 0.0
        rows.append(PageRow(name, doc1, page5, page20, rr, navigation, mean_ms, found))
    return rows


def format_page_table(report: PageReport) -> str:
    """The report as a Markdown table with a header line of context."""
    lines = [
        f"{report.dataset}: {report.documents} documents, {report.pages} pages, {report.chunks} passages, "
        f"{report.questions} judged questions; build {report.build_seconds:.1f} s",
        "",
        "| system | doc@1 | page@5 | page@20 | MRR@20 | navigation in top 5 | mean ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report.rows:
        lines.append(
            f"| {row.system} | {row.doc_at_1:.3f} | {row.page_at_5:.3f} | {row.page_at_20:.3f} | "
            f"{row.mrr_at_20:.3f} | {row.navigation_at_5:.2f} | {row.mean_query_ms:.1f} |"
        )
    return "\n".join(lines)
