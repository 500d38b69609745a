"""Evaluation with page judgments: questions judged by file and page, scored through the searcher."""

from __future__ import annotations

import json
from pathlib import Path

from indexer.building.builder import build_index
from indexer.ingest.chunking import ChunkingConfig
from indexer.page_eval import (
    PageQuestion,
    PageReport,
    evaluate_pages,
    format_page_table,
    read_page_questions,
    score_hits,
)
from indexer.retrieval.results import Hit, Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.local.backend import LocalBackend
from tests.fakes import FakeEmbedder
from tests.ingest.test_pages import make_handbook


def _hit(rank: int, source: str, page: int, kind: str | None = None) -> Hit:
    return Hit(rank, 1.0 / rank, rank, source, "t", source, "x", 0, 1, None, None, None, None, page=page, kind=kind)


def test_scores_count_documents_pages_ranks_and_navigation() -> None:
    question = PageQuestion("q", "?", frozenset({("dir/a", 3), ("dir/a", 9)}))
    hits = [_hit(1, "dir/a.pdf", 2, "navigation"), _hit(2, "b.pdf", 3), _hit(3, "dir/a.pdf", 9)]
    assert score_hits(question, hits) == (1.0, 1.0, 1.0, 1 / 3, 1.0)
    late = [_hit(r, "b.pdf", r) for r in range(1, 7)] + [_hit(7, "dir/a.pdf", 3)]
    assert score_hits(question, late) == (0.0, 0.0, 1.0, 1 / 7, 0.0)
    assert score_hits(question, []) == (0.0, 0.0, 0.0, 0.0, 0.0)


def test_questions_are_read_with_their_judged_pages(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    lines = [
        {"financebench_id": "x1", "question": "Where?", "evidence": [{"doc_name": "a", "page": 4}]},
        {"id": "x2", "question": "What?", "evidence": [{"doc_name": "sub/b.pdf", "page": 1}, {"doc_name": "a"}]},
        {"question": "No evidence", "evidence": []},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    questions = read_page_questions(path)
    assert [(q.qid, set(q.pages)) for q in questions] == [("x1", {("a", 4)}), ("x2", {("sub/b", 1)})]


def test_a_folder_of_handbooks_is_measured_by_page(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("north_harbour", "south_harbour"):
        make_handbook(folder / f"{name}.pdf")
    backend = LocalBackend(tmp_path / "index")
    build_index(folder, backend, FakeEmbedder(), ChunkingConfig(32, 8))
    searcher = Searcher(backend.open(), FakeEmbedder())
    # The ledger pages (5 and 6 of each handbook) are the only ones naming the ledger: the four fill the top 5.
    both = frozenset({("north_harbour", 6), ("south_harbour", 6)})
    questions = [
        PageQuestion("ledger", "quarterly lantern oil ledger", both),
        PageQuestion("wrong", "quarterly lantern oil ledger", frozenset({("west_harbour", 5)})),  # not indexed
    ]
    (row,) = evaluate_pages(searcher, questions, {"lexical": {"mode": Mode.lexical}}, progress=False)
    assert (row.doc_at_1, row.page_at_5, row.page_at_20) == (0.5, 0.5, 0.5)
    assert row.found_at_5 == ["ledger"]
    assert "| lexical | 0.500 | 0.500 | 0.500 |" in format_page_table(PageReport("d", 2, 16, 1, 2, 0.0, [row]))
