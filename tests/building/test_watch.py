"""Watching a folder: bursts of creates, renames, deletes and a file replaced while it is read all end with the
index equal to a fresh build of the folder as it finally stands (waiting for that condition, never for time)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.samples import make_docx, make_pdf
from indexer.building.builder import build_index, sync_index
from indexer.building.watch import FolderWatcher
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.ocr.recognizer import Recognizer
from indexer.ingest.readers import READERS
from indexer.ingest.readers.base import Extracted
from indexer.storage.base import Backend
from indexer.storage.settings import BackendName
from tests.conftest import engine_backend, wait_until
from tests.fakes import FakeEmbedder


def _state(backend: Backend) -> dict[str, tuple[str, tuple[tuple[int, int, int | None], ...]]]:
    """doc_id -> (content hash, its passages' offsets and pages): what a fresh build must agree with."""
    snapshot = backend.open()
    store = snapshot.store
    hashes = store.hashes()
    chunk_ids = store.chunk_ids_of(list(hashes))
    records = store.chunks([c for ids in chunk_ids.values() for c in ids])
    return {
        doc: (h, tuple(sorted((records[c].start, records[c].end, records[c].page) for c in chunk_ids.get(doc, []))))
        for doc, h in hashes.items()
    }


def _fresh(folder: Path, root: Path) -> dict[str, tuple[str, tuple[tuple[int, int, int | None], ...]]]:
    copy = root / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(folder, copy)  # copy2 keeps modification times, which are metadata
    index = root / "fresh-index"
    shutil.rmtree(index, ignore_errors=True)
    build_index(copy, index, FakeEmbedder())
    from indexer.storage.factory import as_backend

    return _state(as_backend(index))


@pytest.fixture
def watching(
    engine: BackendName, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[FolderWatcher, Backend]]:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "first.txt").write_text("The first note is about puffins on the cliffs.", encoding="utf-8")
    backend = engine_backend(engine, tmp_path)
    poll = getattr(request, "param", False)
    embedder, config = FakeEmbedder(), ChunkingConfig()
    watcher = FolderWatcher(folder, lambda f: sync_index(f, backend, embedder, config), settle_ms=200, poll=poll)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            watcher.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test, which fails with it
            failure.append(exc)

    thread = threading.Thread(target=run, name="watch", daemon=True)
    thread.start()
    wait_until(lambda: watcher.builds >= 1 or bool(failure), "the initial build")
    try:
        yield watcher, backend
    finally:
        watcher.stop.set()
        thread.join(timeout=60)
        backend.close()
    assert not failure, failure
    assert not thread.is_alive()


def test_bursts_of_creates_renames_and_deletes_end_equal_to_a_fresh_build(
    watching: tuple[FolderWatcher, Backend], tmp_path: Path
) -> None:
    watcher, backend = watching
    folder = watcher.source
    for n in range(5):  # a burst
        (folder / f"note{n}.txt").write_text(f"Note {n} tells of guillemots and razorbills, number {n}.", "utf-8")
    make_pdf(folder / "report.pdf", pages=2)
    (folder / "sub").mkdir()
    make_docx(folder / "sub" / "handbook.docx")
    (folder / "note1.txt").rename(folder / "sub" / "moved.txt")  # a move
    (folder / "note2.txt").unlink()  # a delete
    (folder / "note3.txt").write_text("Note three was rewritten: it is about gannets now.", "utf-8")  # a change
    (folder / "first.txt").unlink()
    expected = _fresh(folder, tmp_path)
    assert "sub/moved.txt" in expected and "note2.txt" not in expected and "first.txt" not in expected
    wait_until(lambda: _state(backend) == expected, "the watched index to equal a fresh build")
    # A second burst after the first settled: deletes only.
    for path in sorted(folder.rglob("*.txt")):
        path.unlink()
    expected = _fresh(folder, tmp_path)
    assert set(expected) == {"report.pdf", "sub/handbook.docx"}
    wait_until(lambda: _state(backend) == expected, "the second burst to be applied")


def test_a_file_replaced_while_it_is_read_ends_as_its_last_version(
    watching: tuple[FolderWatcher, Backend], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher, backend = watching
    folder = watcher.source
    original = READERS[".pdf"]
    replaced = threading.Event()
    reads: list[Path] = []

    def read_then_replace(path: Path, ocr: Recognizer | None) -> Extracted:
        extracted = original(path, ocr)
        reads.append(path)
        if len(reads) == 1:  # the first read: the file changes under the reader
            make_pdf(path, pages=4, title="Second edition")
            replaced.set()  # only once the new file is whole: the test's fresh build must read it
        return extracted

    monkeypatch.setitem(READERS, ".pdf", read_then_replace)
    make_pdf(folder / "book.pdf", pages=2, title="First edition")
    wait_until(replaced.is_set, "the PDF to be read once")
    expected = _fresh(folder, tmp_path)
    wait_until(lambda: _state(backend) == expected, "the index to hold the file's last version")
    assert backend.open().store.document("book.pdf").title == "Second edition"  # type: ignore[union-attr]


@pytest.mark.parametrize("watching", [True], indirect=True, ids=["polling"])
def test_polling_sees_changes_where_events_do_not_arrive(
    watching: tuple[FolderWatcher, Backend], tmp_path: Path
) -> None:
    watcher, backend = watching
    (watcher.source / "late.txt").write_text("A late note about kittiwakes.", encoding="utf-8")
    expected = _fresh(watcher.source, tmp_path)
    wait_until(lambda: _state(backend) == expected, "polling to apply the new file")
