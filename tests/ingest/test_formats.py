"""Every supported format read from files generated here: titles, structure, metadata, exact page provenance
(on both engines), and every kind of bad file skipped with its reason while the rest is indexed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.samples import (
    PAGE_WORDS,
    all_formats,
    make_corrupt,
    make_docx,
    make_pdf,
    make_pptx,
    make_scanned_pdf,
)
from indexer.building.builder import build_index
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.documents import file_metadata
from indexer.ingest.folder import read_folder
from indexer.ingest.readers.base import SkipKind
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.settings import BackendName
from indexer.types import Filter
from tests.conftest import engine_backend
from tests.fakes import FakeEmbedder

SMALL = ChunkingConfig(chunk_tokens=24, overlap_tokens=4)  # several passages per page


def test_every_format_is_read_with_its_title_and_metadata(tmp_path: Path) -> None:
    files = all_formats(tmp_path)
    report = read_folder(tmp_path)
    assert report.skipped == []
    docs = {d.doc_id: d for d in report.documents}
    assert set(docs) == {p.name for p in files.values()}
    titles = {name: d.title for name, d in docs.items()}
    assert titles == {
        "notes.pdf": "Field notes",
        "handbook.docx": "Orchard handbook",
        "survey.pptx": "Coastal survey",
        "diary.odt": "Meadow diary",
        "travels.epub": "Travels",
        "estuary.rtf": "The estuary tide rose twice a day.",
        "plan.eml": "Tundra expedition plan",
    }
    for name, doc in docs.items():
        assert doc.metadata["file_type"] == Path(name).suffix[1:]
        assert doc.metadata["file_size"] == (tmp_path / name).stat().st_size
        assert doc.metadata["file_modified"].endswith("+00:00")
    assert docs["notes.pdf"].metadata | {"pages": 3, "author": "A. Keeper"} == docs["notes.pdf"].metadata
    assert docs["notes.pdf"].metadata["created"].startswith("2024-05-17")
    assert docs["survey.pptx"].metadata["slides"] == 3
    assert docs["travels.epub"].metadata["author"] == "C. Walker"
    assert docs["plan.eml"].metadata["attachments"] == ["route.gpx"]
    assert "Pack warm boots" in docs["plan.eml"].text
    assert docs["handbook.docx"].metadata["author"] == "B. Grower"


def test_tables_become_rows_and_headings_start_sections(tmp_path: Path) -> None:
    make_docx(tmp_path / "handbook.docx")
    (doc,) = read_folder(tmp_path).documents
    assert "Conference | September" in doc.text.split("\n\n")
    assert "Cox | October" in doc.text.split("\n\n")
    headings = [doc.text[s:].split("\n", 1)[0] for s in doc.sections]
    assert headings == ["Orchard handbook", "Pruning", "Harvest"]
    # A passage never crosses a section start.
    index = tmp_path / "index"
    build_index(tmp_path, index, FakeEmbedder(), SMALL)
    from indexer.storage.factory import as_backend

    store = as_backend(index).open().store
    chunks = store.chunks(store.chunk_ids())
    for chunk in chunks.values():
        assert not any(chunk.start < s < chunk.end for s in doc.sections), chunk.text


@pytest.mark.parametrize("engine", [BackendName.local, pytest.param(BackendName.milvus, marks=pytest.mark.milvus)])
def test_every_passage_says_the_page_whose_text_holds_it(tmp_path: Path, engine: BackendName) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_pdf(folder / "notes.pdf", pages=6)
    make_pptx(folder / "survey.pptx", slides=4)
    (folder / "plain.txt").write_text("A plain text file has no pages at all.", encoding="utf-8")
    docs = {d.doc_id: d for d in read_folder(folder).documents}
    backend = engine_backend(engine, tmp_path)
    try:
        build_index(folder, backend, FakeEmbedder(), SMALL)
        snapshot = backend.open()
        store = snapshot.store
        chunks = store.chunks(store.chunk_ids())
        seen_pages: dict[str, set[int]] = {}
        for chunk in chunks.values():
            doc = docs[chunk.doc_id]
            assert doc.text[chunk.start : chunk.end] == chunk.text
            if not doc.pages:
                assert chunk.page is None
                continue
            assert chunk.page is not None
            page_start = doc.pages[chunk.page - 1]
            page_end = doc.pages[chunk.page] if chunk.page < len(doc.pages) else len(doc.text)
            assert page_start <= chunk.start and chunk.end <= page_end, (chunk.page, chunk.text)
            # Each page's keyword occurs on that page only.
            for page, word in enumerate(PAGE_WORDS[: len(doc.pages)], start=1):
                if word in chunk.text:
                    assert page == chunk.page, (word, chunk.text)
            seen_pages.setdefault(chunk.doc_id, set()).add(chunk.page)
        assert seen_pages == {"notes.pdf": set(range(1, 7)), "survey.pptx": set(range(1, 5))}
        hits = Searcher(snapshot, FakeEmbedder()).search("volcano keeper report", k=3, mode=Mode.lexical).hits
        assert hits and hits[0].doc_id == "notes.pdf" and hits[0].page == 4  # volcano is page 4's word
    finally:
        backend.close()


def test_bad_files_are_skipped_with_their_reason_and_the_rest_is_indexed(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    good = make_pdf(folder / "good.pdf")
    make_docx(folder / "good.docx")
    make_pdf(folder / "locked.pdf", password="secret")
    make_scanned_pdf(folder / "scan.pdf")
    make_corrupt(folder / "truncated.pdf", good)
    make_corrupt(folder / "truncated.docx", folder / "good.docx")
    (folder / "garbage.pptx").write_bytes(b"PK\x03\x04 not really a deck")
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (folder / "notes.xyz").write_text("?", encoding="utf-8")
    (folder / "big.txt").write_text("word " * 20_000, encoding="utf-8")
    report = build_index(folder, tmp_path / "index", FakeEmbedder(), max_file_bytes=50_000)
    assert report.documents == 2
    kinds = {s.path: s.kind for s in report.skipped}
    assert kinds == {
        "locked.pdf": SkipKind.encrypted,
        "scan.pdf": SkipKind.no_text,  # blank scanned pages: OCR finds nothing on them
        "truncated.pdf": SkipKind.corrupt,
        "truncated.docx": SkipKind.corrupt,
        "garbage.pptx": SkipKind.corrupt,
        "empty.pdf": SkipKind.empty,
        "photo.jpg": SkipKind.corrupt,
        "notes.xyz": SkipKind.unsupported,
        "big.txt": SkipKind.too_large,
    }
    assert report.skipped_by_kind == {"corrupt": 4} | {
        k: 1 for k in ("encrypted", "no_text", "empty", "unsupported", "too_large")
    }
    assert all(s.reason for s in report.skipped)
    written = json.loads(json.dumps(report.to_json()))
    assert written["skipped_by_kind"] == report.skipped_by_kind and len(written["skipped"]) == 9
    assert {"path": "scan.pdf", "kind": "no_text"}.items() <= written["skipped"][
        [s["path"] for s in written["skipped"]].index("scan.pdf")
    ].items()
    # What was skipped is recorded with the version, for /stats.
    from indexer.storage.factory import as_backend

    source = as_backend(tmp_path / "index").open().manifest.source
    assert source is not None and source.files == 11 and source.skipped == report.skipped_by_kind


def test_markdown_front_matter_becomes_filterable_metadata(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text(
        "---\ntitle: Puffin census\nteam: birds\nyear: 2024\ndate: 2024-06-01\n---\nPuffins nest on the cliffs.\n",
        encoding="utf-8",
    )
    (folder / "b.md").write_text("---\nteam: fish\n---\nSalmon run upstream in autumn.\n", encoding="utf-8")
    (folder / "c.md").write_text("---\n: not yaml [\n---\nThe text is kept whole.\n", encoding="utf-8")
    docs = {d.doc_id: d for d in read_folder(folder).documents}
    assert docs["a.md"].title == "Puffin census"
    assert docs["a.md"].metadata | {"team": "birds", "year": 2024, "date": "2024-06-01"} == docs["a.md"].metadata
    assert "---" in docs["c.md"].text  # bad front matter: indexed as text, nothing lost
    build_index(folder, tmp_path / "index", FakeEmbedder())
    from indexer.storage.factory import as_backend

    snapshot = as_backend(tmp_path / "index").open()
    searcher = Searcher(snapshot, FakeEmbedder())
    hits = searcher.search("nest", k=5, where=Filter(metadata=(("team", "birds"),))).hits
    assert {h.doc_id for h in hits} == {"a.md"}
    md = searcher.search("text", k=5, where=Filter(metadata=(("file_type", "md"),))).hits
    assert {h.doc_id for h in md} <= {"a.md", "b.md", "c.md"} and md


def test_a_metadata_only_change_keeps_the_vectors(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_pdf(folder / "notes.pdf")
    first = build_index(folder, tmp_path / "index", FakeEmbedder())
    assert first.embedded_chunks > 0
    path = folder / "notes.pdf"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: only file_modified changes
    second = build_index(folder, tmp_path / "index", FakeEmbedder())
    assert (second.updated, second.embedded_chunks, second.reused_chunks) == (1, 0, first.embedded_chunks)
    from indexer.storage.factory import as_backend

    snapshot = as_backend(tmp_path / "index").open()
    stored = snapshot.store.document("notes.pdf")
    assert stored is not None and stored.metadata["file_modified"] == file_metadata(path)["file_modified"]
    pages = {r.page for r in snapshot.store.chunks(snapshot.store.chunk_ids()).values()}
    assert pages == {1, 2, 3}  # the kept passages keep their pages
