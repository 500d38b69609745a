"""The index directory: immutable versions, an atomically swapped pointer, and a single writer at a time.

Layout::

    DIR/CURRENT              name of the committed version, e.g. "v000003" (replaced atomically)
    DIR/v000003/manifest.json
    DIR/v000003/vectors.faiss   FAISS IndexIDMap2(IndexFlatIP), ids = chunk ids
    DIR/v000003/store.sqlite    documents and chunks
    DIR/v000003/lexical/        BM25 index (bm25s) over the chunks
    DIR/.lock                   held by the one writer

A writer copies the current version into a hidden temporary directory, applies its changes there, makes
every file durable, renames the directory to its version name and only then replaces CURRENT. A process
killed at any moment therefore leaves CURRENT naming a complete, unchanged version. Readers hold an
`IndexSnapshot` (vectors in memory, store opened read-only) that never changes under them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from indexer import __version__
from indexer.chunking import Chunk
from indexer.documents import Document
from indexer.errors import IndexCorruptError, IndexLockedError, IndexNotFoundError, IndexReadOnlyError
from indexer.lexical import LexicalIndex
from indexer.manifest import ChunkingInfo, Counts, Manifest, ModelInfo
from indexer.store import StoreReader, StoreWriter

CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
KEEP_VERSIONS = 2  # the current one and the one before, for readers still holding it
_VERSION_DIR = re.compile(r"^v(\d{6,})$")


@dataclass(frozen=True)
class IndexSnapshot:
    """One committed, immutable index version."""

    path: Path
    manifest: Manifest
    vectors: faiss.Index
    store: StoreReader
    lexical: LexicalIndex

    @property
    def version(self) -> int:
        """The version number."""
        return self.manifest.version

    def deep_check(self) -> None:
        """IndexCorruptError unless every part agrees row by row, beyond the counts `open_index` checks.

        Reads every chunk id and document: for tests and soak runs, not for the serving path.
        """
        docs = self.store.documents()
        chunk_ids = self.store.chunk_ids()
        problem = None
        if sum(d.n_chunks for d in docs) != len(chunk_ids) or self.vectors.ntotal != len(chunk_ids):
            problem = "chunk counts differ between the documents, the store and FAISS"
        elif self.lexical.ids.tolist() != chunk_ids:
            problem = "the BM25 index's ids differ from the store's chunk ids"
        elif {d.doc_id: d.content_hash for d in docs} != self.manifest.documents:
            problem = "the manifest's documents differ from the store's"
        elif not {r.doc_id for r in self.store.chunks(chunk_ids).values()} <= {d.doc_id for d in docs}:
            problem = "the store has chunks of documents it does not hold"
        if problem:
            raise IndexCorruptError(f"{self.path} is inconsistent: {problem}. Rebuild the index.")


@dataclass(frozen=True)
class DocumentUpdate:
    """A document to insert or replace, with its chunks and their vectors (one row per chunk)."""

    document: Document
    origin: str
    chunks: Sequence[Chunk]
    vectors: np.ndarray


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def current_version_dir(index_dir: Path) -> Path:
    """The directory of the committed version; IndexNotFoundError when there is none."""
    pointer = index_dir / CURRENT_FILE
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError as exc:
        raise IndexNotFoundError(
            f"no index at {index_dir} (no {CURRENT_FILE} file). Build one with "
            f"`python -m indexer build SRC --index {index_dir}`."
        ) from exc
    if not _VERSION_DIR.match(name) or not (index_dir / name).is_dir():
        raise IndexCorruptError(f"{pointer} names {name!r}, which is not a version directory in {index_dir}")
    return index_dir / name


def open_index(index_dir: Path) -> IndexSnapshot:
    """Load the committed version, checking that manifest, vectors and store agree."""
    vdir = current_version_dir(index_dir)
    manifest = Manifest.load(vdir)
    faiss_path = vdir / manifest.faiss.file
    store_path = vdir / manifest.store_file
    for path in (faiss_path, store_path):
        if not path.is_file():
            raise IndexCorruptError(f"{path} is missing; rebuild the index")
    vectors = faiss.read_index(str(faiss_path))
    store = StoreReader(store_path)
    lexical = LexicalIndex.load(vdir / manifest.lexical_dir)
    docs, chunks = store.counts()
    counts = manifest.counts
    if (
        vectors.ntotal != counts.chunks
        or chunks != counts.chunks
        or docs != counts.documents
        or len(lexical.ids) != counts.chunks
    ):
        raise IndexCorruptError(
            f"{vdir} is inconsistent: manifest says {counts.documents} documents / {counts.chunks} chunks, "
            f"store has {docs} / {chunks}, vector index has {vectors.ntotal}, lexical index has "
            f"{len(lexical.ids)}. Rebuild the index."
        )
    if vectors.d != manifest.model.dimension:
        raise IndexCorruptError(f"{faiss_path} has dimension {vectors.d}, manifest says {manifest.model.dimension}")
    return IndexSnapshot(vdir, manifest, vectors, store, lexical)


def empty_vectors(dimension: int) -> faiss.Index:
    """A new, empty vector index: exact inner product (cosine on normalised vectors) with explicit ids."""
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


@contextlib.contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's single-writer lock (released by the OS if the process dies)."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fh = (index_dir / LOCK_FILE).open("a")
    except PermissionError as exc:
        raise IndexReadOnlyError(
            f"cannot write the index at {index_dir}: permission denied; give this process write access to it "
            "or serve a copy it can write"
        ) from exc
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexLockedError(
                f"another process is writing the index at {index_dir}; wait for it to finish and retry"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _version_numbers(index_dir: Path) -> list[int]:
    return sorted(int(m.group(1)) for p in index_dir.iterdir() if (m := _VERSION_DIR.match(p.name)))


def commit_version(
    index_dir: Path,
    base: IndexSnapshot | None,
    *,
    model: ModelInfo,
    chunking: ChunkingInfo,
    upserts: Sequence[DocumentUpdate],
    deletes: Sequence[str],
    build_seconds: float | None = None,
) -> IndexSnapshot:
    """Write a new version = `base` + `upserts` - `deletes`, and make it current atomically.

    The caller holds `write_lock(index_dir)`. `base` None starts from an empty index.
    """
    numbers = _version_numbers(index_dir)
    number = (numbers[-1] if numbers else 0) + 1
    tmp = index_dir / f".tmp-v{number:06d}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        store = StoreWriter(tmp / "store.sqlite", base.path / base.manifest.store_file if base else None)
        vectors = faiss.clone_index(base.vectors) if base else empty_vectors(model.dimension)
        try:
            removed: list[int] = []
            for doc_id in [*deletes, *(u.document.doc_id for u in upserts)]:
                removed.extend(store.delete_document(doc_id))
            if removed:
                vectors.remove_ids(faiss.IDSelectorBatch(np.asarray(removed, dtype=np.int64)))
            for update in upserts:
                ids = store.insert_document(update.document, update.origin, update.chunks)
                if ids:
                    vecs = np.ascontiguousarray(update.vectors, dtype=np.float32)
                    vectors.add_with_ids(vecs, np.asarray(ids, dtype=np.int64))
            n_docs, n_chunks = store.counts()
            hashes = store.hashes()
            chunk_ids, chunk_texts = store.chunk_texts(chunking.titles)
        except BaseException:
            store.abort()
            raise
        store.commit_and_close()
        if vectors.ntotal != n_chunks:
            raise IndexCorruptError(f"internal error: {vectors.ntotal} vectors for {n_chunks} chunks")
        manifest = Manifest(
            version=number,
            created_at=datetime.now(UTC),
            package_version=__version__,
            model=model,
            chunking=chunking,
            counts=Counts(documents=n_docs, chunks=n_chunks),
            build_seconds=build_seconds,
            documents=hashes,
        )
        faiss.write_index(vectors, str(tmp / manifest.faiss.file))
        lexical = LexicalIndex.build(chunk_ids, chunk_texts)
        lexical.save(tmp / manifest.lexical_dir)
        manifest.save(tmp)
        for child in [*tmp.iterdir(), *(tmp / manifest.lexical_dir).iterdir()]:
            if child.is_file():
                _fsync_file(child)
        _fsync_dir(tmp / manifest.lexical_dir)
        _fsync_dir(tmp)
        final = index_dir / f"v{number:06d}"
        os.rename(tmp, final)
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _point_current(index_dir, final.name)
    _prune(index_dir, keep=final.name)
    # The parts are in memory already and their counts were checked above: no need to read them back.
    return IndexSnapshot(final, manifest, vectors, StoreReader(final / manifest.store_file), lexical)


def _point_current(index_dir: Path, name: str) -> None:
    tmp = index_dir / f".{CURRENT_FILE}.{uuid.uuid4().hex[:8]}"
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT_FILE)
    _fsync_dir(index_dir)


def _remove_uncommitted(index_dir: Path, current_number: int) -> list[str]:
    """Remove temporary version directories, half-written pointer files and version directories newer
    than the current one (renamed but never made current); returns their names. Caller holds the lock."""
    removed: list[str] = []
    for child in sorted(index_dir.iterdir()):
        newer = (m := _VERSION_DIR.match(child.name)) is not None and int(m.group(1)) > current_number
        if child.name.startswith((".tmp-", f".{CURRENT_FILE}.")) or newer:
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
            removed.append(child.name)
    return removed


def recover(index_dir: Path) -> list[str]:
    """After a crash: remove what uncommitted writers left behind, and say what was removed.

    Skipped while another process holds the write lock (its temporary files are in use). The committed
    version itself is checked by `open_index`.
    """
    current_number = int(current_version_dir(index_dir).name[1:])
    try:
        with write_lock(index_dir):
            return [f"removed uncommitted {name}" for name in _remove_uncommitted(index_dir, current_number)]
    except (IndexLockedError, IndexReadOnlyError):
        return []  # another writer is busy, or nobody can have written here


def _prune(index_dir: Path, keep: str) -> None:
    """Remove leftovers of killed writers and versions older than the last KEEP_VERSIONS."""
    keep_number = int(keep[1:])
    _remove_uncommitted(index_dir, keep_number)
    for n in _version_numbers(index_dir):
        if n <= keep_number - KEEP_VERSIONS:
            shutil.rmtree(index_dir / f"v{n:06d}", ignore_errors=True)
