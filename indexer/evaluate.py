"""Retrieval evaluation on BEIR-format data sets, with plain baselines measured in the same run.

The corpus goes through the project's own pipeline (cleaning, chunking, embedding, the same index a user
gets). Rankings are per passage, so each mode is asked for documents with `max_per_doc=1`: a document split
into several chunks counts once, at its best rank. Metrics come from `ir-measures` (trec_eval underneath):
nDCG@10 with graded gains, Recall@10 and @100 (any grade >= 1 is relevant), MRR@10.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from indexer.building.builder import sync_index
from indexer.calibrate import CHOICES, DEFAULT, DEFAULT_FOLDS, cross_validated_choices, folds_of
from indexer.embed.base import Embedder
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.clean import Cleaning
from indexer.ingest.folder import FolderReport
from indexer.ingest.read_options import ReadOptions
from indexer.ingest.readers.base import SkipKind, Skipped
from indexer.ingest.readers.text import read_document
from indexer.judgments import DEPTH, Qrels, Run, per_query_ndcg, read_jsonl, read_qrels, score_run
from indexer.retrieval.defaults import SearchDefaults
from indexer.retrieval.fusion import DEFAULT_DENSE_WEIGHT, Fusion
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Backend
from indexer.storage.factory import open_backend
from indexer.storage.settings import BackendName, StorageSettings


@dataclass
class BeirDataset:
    """A BEIR folder: corpus documents (cleaned as a user's .jsonl would be), judged queries and qrels."""

    name: str
    corpus: FolderReport
    raw: dict[str, str]  # doc_id -> title + text, as a plain baseline sees it
    queries: dict[str, str]
    qrels: Qrels


@dataclass
class Row:
    """One system's figures."""

    system: str
    metrics: dict[str, float]
    mean_query_ms: float
    p95_query_ms: float
    per_query: dict[str, float] = field(default_factory=dict)  # nDCG@10 of each query
    wins: int | None = None  # queries with a higher nDCG@10 than seekr dense
    losses: int | None = None  # ... and with a lower one


@dataclass
class Report:
    """Everything `indexer eval` prints, and writes with --json."""

    dataset: str
    documents: int
    skipped_documents: int
    queries: int
    chunks: int
    chunk_tokens: int
    overlap_tokens: int
    model: str
    build_seconds: float
    baseline_encode_seconds: float
    backend: str = "local"
    rows: list[Row] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def load_beir(path: Path, cleaning: Cleaning = Cleaning.auto) -> BeirDataset:
    """Read a BEIR folder (its corpus cleaned as a user's .jsonl would be); only judged queries are kept."""
    report = FolderReport(read=ReadOptions(cleaning))
    raw: dict[str, str] = {}
    for n, rec in enumerate(read_jsonl(path / "corpus.jsonl"), start=1):
        doc_id, text, title = str(rec.get("_id", "")), rec.get("text") or "", rec.get("title") or None
        raw[doc_id] = f"{title}\n{text}" if title and not text.startswith(title) else text
        body = text or (title or "")
        read = read_document(cleaning, doc_id=doc_id, raw_text=body, source=f"corpus.jsonl:{n}", title=title)
        if read is None:
            report.skipped.append(Skipped(f"corpus.jsonl:{n}", "no text", SkipKind.no_text))
        else:
            report.add(*read)
    qrels = read_qrels(path / "qrels" / "test.tsv")
    queries = {str(q["_id"]): q["text"] for q in read_jsonl(path / "queries.jsonl") if str(q["_id"]) in qrels}
    return BeirDataset(path.name, report, raw, queries, qrels)


def _timed_run(
    queries: dict[str, str], rank: Callable[[str], list[str]], desc: str, progress: bool
) -> tuple[Run, list[float]]:
    run: Run = {}
    times: list[float] = []
    for qid, text in tqdm(queries.items(), desc=desc, unit="q", leave=False, disable=not progress):
        started = time.perf_counter()
        doc_ids = rank(text)
        times.append((time.perf_counter() - started) * 1000)
        # Scores strictly decreasing with rank, so trec_eval's tie-breaking never reorders.
        run[qid] = {doc: float(DEPTH - i) for i, doc in enumerate(doc_ids)}
    return run, times


def _row(system: str, qrels: Qrels, run: Run, times: list[float]) -> Row:
    p95 = float(np.percentile(times, 95)) if times else 0.0
    mean = statistics.fmean(times) if times else 0.0
    return Row(system, score_run(qrels, run), mean, p95, per_query_ndcg(qrels, run))


def _calibrated_row(dataset: BeirDataset, runs: list[tuple[Run, list[float]]], rows: list[Row]) -> Row:
    """What `indexer calibrate` gives on questions it did not see: each question ranked by the mode (dense,
    lexical or the default hybrid) chosen on the other folds of a 5-fold cross-validation."""
    names = [c.name for c in CHOICES[1:]] + [DEFAULT.name]  # rows 0..2: dense, lexical, the default hybrid
    scores = {name: row.per_query for name, row in zip(names, rows, strict=True)}
    qids = list(dataset.queries)
    choices = cross_validated_choices(scores, folds_of(qids, DEFAULT_FOLDS))
    by_name = {name: (run, dict(zip(qids, times, strict=True))) for name, (run, times) in zip(names, runs, strict=True)}
    run = {q: by_name[choices[q]][0].get(q, {}) for q in qids}
    times = [by_name[choices[q]][1][q] for q in qids]
    return _row(f"seekr calibrated ({DEFAULT_FOLDS}-fold cross-validated)", dataset.qrels, run, times)


def _compare(rows: list[Row], reference: Row) -> None:
    """Count, per row, the queries it wins and loses against `reference` on nDCG@10."""
    for row in rows:
        pairs = [(row.per_query.get(q, 0.0), score) for q, score in reference.per_query.items()]
        row.wins = sum(1 for mine, ref in pairs if mine > ref + 1e-9)
        row.losses = sum(1 for mine, ref in pairs if mine < ref - 1e-9)


def evaluate(
    dataset: BeirDataset,
    embedder: Embedder,
    config: ChunkingConfig,
    *,
    backend: Backend | None = None,
    engine: BackendName = BackendName.local,
    baselines: bool = True,
    progress: bool = True,
    dense_weight: float = DEFAULT_DENSE_WEIGHT,
) -> Report:
    """Index the corpus with the project's pipeline, run every judged query in each mode, and score them.

    The index goes into `backend`, or a temporary one of `engine` (a folder, or a Milvus Lite file).
    """
    with tempfile.TemporaryDirectory(prefix="seekr-eval-") as tmp, contextlib.ExitStack() as stack:
        if backend is None:
            storage = StorageSettings(backend=engine, index_dir=Path(tmp) / "index", milvus_uri=f"{tmp}/eval.db")
            backend = open_backend(storage)
            stack.callback(backend.close)
        build = sync_index(dataset.corpus, backend, embedder, config, progress=progress)
        searcher = Searcher(backend.open(), embedder, defaults=SearchDefaults(dense_weight=dense_weight))
        report = Report(
            dataset=dataset.name,
            documents=len(dataset.corpus.documents),
            skipped_documents=len(dataset.corpus.skipped),
            queries=len(dataset.queries),
            chunks=build.chunks,
            chunk_tokens=config.chunk_tokens,
            overlap_tokens=config.overlap_tokens,
            model=embedder.model_id,
            build_seconds=build.seconds,
            baseline_encode_seconds=0.0,
            backend=backend.name.value,
        )
        systems: list[tuple[Mode | None, Fusion | None]] = [
            (Mode.dense, None),
            (Mode.lexical, None),
            (Mode.hybrid, searcher.defaults.fusion),
        ]
        systems += [(Mode.hybrid, f) for f in Fusion if f is not searcher.defaults.fusion]
        # What a request naming no mode gets: hybrid, or keywords for a question the model cannot read.
        systems.append((None, None))
        runs: list[tuple[Run, list[float]]] = []
        for mode, fusion in systems:

            def rank(text: str, mode: Mode | None = mode, fusion: Fusion | None = fusion) -> list[str]:
                result = searcher.search(text, k=DEPTH, mode=mode, max_per_doc=1, highlight=False, fusion=fusion)
                return [h.doc_id for h in result.hits]

            name = f"seekr {mode.value}" if mode is not None else "seekr default (no mode named)"
            if fusion is not None:
                name += f" ({fusion.value}{', default' if fusion is searcher.defaults.fusion else ''})"
            run, times = _timed_run(dataset.queries, rank, name, progress)
            runs.append((run, times))
            report.rows.append(_row(name, dataset.qrels, run, times))
        if len(dataset.queries) >= DEFAULT_FOLDS:
            report.rows.append(_calibrated_row(dataset, runs[:3], report.rows[:3]))
    if baselines:
        report.rows.extend(_baselines(dataset, embedder, report, progress))
    _compare(report.rows, report.rows[0])
    return report


def _baselines(dataset: BeirDataset, embedder: Embedder, report: Report, progress: bool) -> list[Row]:
    """Plain baselines: whole-document dense (encode + IndexFlatIP) and BM25 (bm25s) over whole documents."""
    import bm25s
    import faiss
    import icu

    ids = list(dataset.raw)
    texts = [dataset.raw[i] for i in ids]
    started = time.perf_counter()
    vectors = embedder.encode(texts, progress=progress)
    report.baseline_encode_seconds = time.perf_counter() - started
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)

    def dense(text: str) -> list[str]:
        _, idx = flat.search(embedder.encode_queries([text]), DEPTH)
        return [ids[i] for i in idx[0] if i >= 0]

    bm25 = bm25s.BM25()
    bm25.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)

    def lexical(text: str) -> list[str]:
        tokens = bm25s.tokenize([text], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        docs, _ = bm25.retrieve(tokens, k=min(DEPTH, len(ids)), show_progress=False)
        return [ids[i] for i in docs[0]]

    # An outside BM25 for any language, as Elasticsearch's icu_tokenizer indexes: ICU's words (dictionaries for
    # scripts without spaces), NFKC and case folding, no stemming. Written apart from `indexer.analysis`.
    breaker = icu.BreakIterator.createWordInstance(icu.Locale.getRoot())

    def icu_words(text: str) -> list[str]:
        breaker.setText(text)
        words, start = [], breaker.first()
        for end in breaker:
            if breaker.getRuleStatus() >= 100:  # numbers, letters, kana, ideographs
                words.append(unicodedata.normalize("NFKC", text[start:end]).casefold())
            start = end
        return words

    icu_bm25 = bm25s.BM25()
    icu_bm25.index([icu_words(t) for t in texts], show_progress=False)
    icu_vocab = icu_bm25.vocab_dict

    def icu_lexical(text: str) -> list[str]:
        tokens = [w for w in icu_words(text) if w in icu_vocab]
        if not tokens:
            return []
        docs, _ = icu_bm25.retrieve([tokens], k=min(DEPTH, len(ids)), show_progress=False, n_threads=1)
        return [ids[i] for i in docs[0]]

    rows = []
    for name, fn in (
        ("baseline dense (whole docs, IndexFlatIP)", dense),
        ("baseline BM25 (bm25s, whole docs)", lexical),
        ("baseline BM25 (ICU words, bm25s, whole docs)", icu_lexical),
    ):
        run, times = _timed_run(dataset.queries, fn, name, progress)
        rows.append(_row(name, dataset.qrels, run, times))
    return rows


def format_table(report: Report) -> str:
    """The report as a Markdown table with a header line of context."""
    lines = [
        f"{report.dataset}: {report.documents} documents ({report.skipped_documents} skipped), {report.chunks} "
        f"chunks ({report.chunk_tokens}/{report.overlap_tokens} tokens), {report.queries} judged queries, "
        f"model {report.model}",
        f"index ({report.backend}) build {report.build_seconds:.1f} s; "
        f"baseline whole-document encode {report.baseline_encode_seconds:.1f} s",
        "",
        "| system | nDCG@10 | Recall@10 | Recall@100 | MRR@10 | vs dense: won / lost | mean ms | p95 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report.rows:
        m = row.metrics
        versus = "-" if row is report.rows[0] else f"{row.wins} / {row.losses}"
        lines.append(
            f"| {row.system} | {m['nDCG@10']:.4f} | {m['Recall@10']:.4f} | {m['Recall@100']:.4f} | "
            f"{m['MRR@10']:.4f} | {versus} | {row.mean_query_ms:.1f} | {row.p95_query_ms:.1f} |"
        )
    lines.append("\n(won / lost: judged queries with a higher / lower nDCG@10 than seekr dense)")
    return "\n".join(lines)
