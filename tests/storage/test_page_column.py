"""Segments written before passages had pages (no `page` column) are read, written beside and merged as ever."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.samples import make_pdf
from indexer.building.builder import build_index
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
