"""Segments written before passages had pages (no `page` column) or stored sentences (no `sentences` and
`sentence_vectors` columns) are read, searched, written beside and merged as ever."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.samples import make_pdf
from indexer.building.builder import build_index
from indexer.retrieval.highlight import DENSE_RANKS, DENSE_SENTENCES
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.factory import as_backend
from indexer.storage.local.segment import STORE_FILE
from tests.fakes import FakeEmbedder


def test_a_segment_without_pages_reads_writes_and_merges(tmp_path: Path, seeds_copy: Path) -> None:
    index = tmp_path / "index"
    build_index(seeds_copy, index, FakeEmbedder())
    (store,) = (index / "segments").glob(f"*/{STORE_FILE}")
    with sqlite3.connect(store) as conn:  # what an older version of seekr wrote
        conn.execute("ALTER TABLE chunks DROP COLUMN page")
    backend = as_backend(index)
    old = backend.open()
    assert all(r.page is None for r in old.store.chunks(old.store.chunk_ids()).values())
    make_pdf(seeds_copy / "report.pdf", pages=2)
    build_index(seeds_copy, index, FakeEmbedder())  # a new segment, with pages, beside the old one
    merged = backend.merge_all_segments(backend.open())
    assert merged is not None and len(merged.manifest.segments) == 1
    records = merged.store.chunks(merged.store.chunk_ids())
    pages = {r.doc_id: r.page for r in records.values()}
    assert pages["report.pdf"] in (1, 2) and pages["000_27323d1700c7a7d6.txt"] is None
    merged.deep_check()


def test_a_segment_without_stored_sentences_is_highlighted_at_search_time(tmp_path: Path, seeds_copy: Path) -> None:
    index = tmp_path / "index"
    embedder = FakeEmbedder()
    build_index(seeds_copy, index, embedder)
    (store,) = (index / "segments").glob(f"*/{STORE_FILE}")
    with sqlite3.connect(store) as conn:  # what an older version of seekr wrote
        conn.execute("ALTER TABLE chunks DROP COLUMN sentences")
        conn.execute("ALTER TABLE chunks DROP COLUMN sentence_vectors")
    backend = as_backend(index)
    old = backend.open()
    assert all(
        r.sentences is None and r.sentence_vectors is None for r in old.store.chunks(old.store.chunk_ids()).values()
    )
    searcher = Searcher(old, embedder)
    lexical = searcher.search("Temur Umarov", k=1, mode=Mode.lexical).hits[0]
    assert lexical.highlight is not None and "Temur Umarov" in lexical.text[slice(*lexical.highlight.spans[0])]
    before = embedder.encoded
    dense = searcher.search("quixotic zeppelins", k=50, mode=Mode.dense).hits
    marked = [h for h in dense if h.highlight is not None]
    assert marked and all(h.highlight is not None and h.highlight.method == "dense" for h in marked)
    assert len(marked) <= DENSE_RANKS and embedder.encoded - before <= 1 + DENSE_SENTENCES  # within the budget
    (seeds_copy / "added.txt").write_text("Zeppelins drifted over the quiet harbour at dawn.", encoding="utf-8")
    build_index(seeds_copy, index, embedder)  # a new segment, with stored sentences, beside the old one
    merged = backend.merge_all_segments(backend.open())
    assert merged is not None
    records = merged.store.chunks(merged.store.chunk_ids()).values()
    assert {r.doc_id for r in records if r.sentence_vectors} == {"added.txt"}
    merged.deep_check()
