"""One index segment: an immutable directory holding some documents with their chunks, vectors and postings.

Layout::

    segments/<name>/store.sqlite     documents and chunks (`indexer.storage.local.store`)
    segments/<name>/vectors.faiss    FAISS IndexIDMap2 over flat or HNSW vectors, ids = chunk ids
    segments/<name>/lexical/         term postings (`indexer.analysis.Postings`)
    segments/<name>/deletes-v<N>.npz tombstones as of index version N (see `Tombstones`)

A segment is written once (`SegmentWriter`) and never changed; deleting a document adds a tombstone file
instead. Segments of `ANN_MIN_CHUNKS` chunks or more get an HNSW graph, smaller ones a flat (exact) index.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from indexer.analysis import Analyzer
from indexer.errors import IndexCorruptError
from indexer.storage.hnsw import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M
from indexer.storage.local.postings import Postings
from indexer.storage.local.store import StoreReader, StoreWriter
from indexer.types import Chunk, Document, PassageContext

STORE_FILE = "store.sqlite"
VECTORS_FILE = "vectors.faiss"
LEXICAL_DIR = "lexical"

# Flat search costs about 0.14 ms per 1,000 vectors on one core here (100k: 13.6 ms), so from 20k chunks on
# a graph pays: HNSW answers in about 1 ms at any size this machine holds, at recall@10 >= 0.95.
ANN_MIN_CHUNKS = 20_000
_ADD_BLOCK = 8192  # vectors handed to FAISS at once while writing a segment


def fsync_path(path: Path) -> None:
    """Make a file or directory durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_vector_index(dimension: int, expected_chunks: int) -> faiss.Index:
    """An empty index with explicit ids: HNSW from `ANN_MIN_CHUNKS` chunks on, exact inner product below."""
    inner: faiss.Index
    if expected_chunks >= ANN_MIN_CHUNKS:
        graph = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        graph.hnsw.efSearch = HNSW_EF_SEARCH
        # Reserve the vectors' buffer up front (resize, then back to empty: the capacity stays). Grown block by
        # block it is reallocated, and each reallocation briefly holds the old and the new copy.
        codes = faiss.downcast_index(graph.storage).codes  # type: ignore[attr-defined]
        codes.resize(expected_chunks * dimension * 4)
        codes.resize(0)
        inner = graph
    else:
        inner = faiss.IndexFlatIP(dimension)
    return faiss.IndexIDMap2(inner)


def is_hnsw(vectors: faiss.Index) -> bool:
    """Whether the index searches a graph (approximate) rather than every vector."""
    mapped = faiss.downcast_index(vectors)
    return isinstance(faiss.downcast_index(getattr(mapped, "index", mapped)), faiss.IndexHNSW)


@dataclass(frozen=True)
class Tombstones:
    """What is deleted from one segment: documents and their chunk ids (sorted)."""

    doc_ids: frozenset[str]
    chunk_ids: npt.NDArray[np.int64]

    @classmethod
    def none(cls) -> Tombstones:
        """Nothing deleted."""
        return cls(frozenset(), np.zeros(0, dtype=np.int64))

    def plus(self, doc_ids: Iterable[str], chunk_ids: Iterable[int]) -> Tombstones:
        """These tombstones and more."""
        ids = np.union1d(self.chunk_ids, np.fromiter(chunk_ids, dtype=np.int64)).astype(np.int64)
        return Tombstones(self.doc_ids | frozenset(doc_ids), ids)

    def save(self, path: Path) -> None:
        """Write atomically-enough for an unpublished name: the caller fsyncs before referencing it."""
        with path.open("wb") as fh:
            np.savez(fh, chunk_ids=self.chunk_ids, doc_ids=np.asarray(sorted(self.doc_ids), dtype=str))
            fh.flush()
            os.fsync(fh.fileno())

    @classmethod
    def load(cls, path: Path) -> Tombstones:
        """Read what `save` wrote."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(frozenset(data["doc_ids"].tolist()), data["chunk_ids"].astype(np.int64))
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"tombstones {path} cannot be read ({exc}); rebuild the index") from exc


@dataclass(frozen=True, eq=False)
class Segment:
    """An open segment: its store, vectors and postings. Shared by every snapshot that includes it."""

    name: str
    path: Path
    store: StoreReader
    vectors: faiss.Index
    postings: Postings

    @property
    def chunks(self) -> int:
        """Chunks written into the segment, deleted ones included."""
        return len(self.postings.ids)

    @cached_property
    def hnsw(self) -> bool:
        """Whether dense search here is approximate (asked on every search, so worked out once)."""
        return is_hnsw(self.vectors)

    @classmethod
    def open(cls, path: Path) -> Segment:
        """Open a committed segment; its vectors are memory-mapped, so processes share one copy."""
        vectors_path, store_path = path / VECTORS_FILE, path / STORE_FILE
        for part in (vectors_path, store_path):
            if not part.is_file():
                raise IndexCorruptError(f"{part} is missing; rebuild the index")
        vectors = faiss.read_index(str(vectors_path), faiss.IO_FLAG_MMAP_IFC)
        postings = Postings.load(path / LEXICAL_DIR)
        if vectors.ntotal != len(postings.ids):
            raise IndexCorruptError(
                f"segment {path} is inconsistent: {vectors.ntotal} vectors, {len(postings.ids)} chunks in its "
                "postings. Rebuild the index."
            )
        return cls(path.name, path, StoreReader(store_path), vectors, postings)


class SegmentWriter:
    """Writes one new segment into an unpublished directory; `finish` makes it durable and opens it."""

    def __init__(
        self, directory: Path, dimension: int, expected_chunks: int, *, context: PassageContext, analyzer: Analyzer
    ) -> None:
        directory.mkdir(parents=True)
        self._dir = directory
        self._context = context
        self._analyzer = analyzer
        self._store = StoreWriter(directory / STORE_FILE)
        self._vectors = new_vector_index(dimension, expected_chunks)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_rows = 0

    def add(
        self, document: Document, origin: str, chunks: Sequence[Chunk], ids: Sequence[int], vectors: np.ndarray
    ) -> None:
        """Add a document with its chunks under `ids` and their vectors (one row per chunk)."""
        self._store.insert_document(document, origin, chunks, ids)
        self.add_vectors(ids, vectors)

    def add_vectors(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors of chunks whose rows are (or will be) in the store.

        Vectors are added to FAISS in blocks: a graph is built in parallel only over a block of many vectors,
        and documents come one at a time.
        """
        if len(ids):
            self._pending.append((np.asarray(ids, dtype=np.int64), np.asarray(vectors, dtype=np.float32)))
            self._pending_rows += len(ids)
        if self._pending_rows >= _ADD_BLOCK:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            ids = np.concatenate([i for i, _ in self._pending])
            vectors = np.ascontiguousarray(np.vstack([v for _, v in self._pending]))
            self._vectors.add_with_ids(vectors, ids)
        self._pending, self._pending_rows = [], 0

    def copy_store(self, source: StoreReader, deleted_docs: Iterable[str]) -> None:
        """Copy another segment's live rows (for merges; its vectors are added with `add_vectors`)."""
        self._store.copy_live(source, deleted_docs)

    def finish(self) -> tuple[Segment, int, dict[str, int]]:
        """Write every part, make it durable; (the open segment, its documents, its chunks per language).

        The vectors are written and freed before the postings are built, and the texts are tokenized a batch
        at a time, so a large segment never holds its vectors and its texts in memory together.
        """
        try:
            self._flush()
            n_docs, n_chunks = self._store.counts()
            if self._vectors.ntotal != n_chunks:
                raise IndexCorruptError(f"internal error: {self._vectors.ntotal} vectors for {n_chunks} chunks")
            faiss.write_index(self._vectors, str(self._dir / VECTORS_FILE))
            # Freed, not reset: reset() clears FAISS's buffers but keeps their memory reserved.
            self._vectors = new_vector_index(self._vectors.d, 0)
            postings, languages = Postings.build_batches(self._store.chunk_texts(self._context), self._analyzer)
        except BaseException:
            self._store.abort()
            raise
        self._store.commit_and_close()
        postings.save(self._dir / LEXICAL_DIR)
        del postings
        for child in [*self._dir.iterdir(), *(self._dir / LEXICAL_DIR).iterdir()]:
            fsync_path(child)
        fsync_path(self._dir)
        # Opened from disk like any committed segment: the vectors become a shared, file-backed mapping.
        return Segment.open(self._dir), n_docs, languages

    def abort(self) -> None:
        """Drop what was written (the caller removes the directory)."""
        self._store.abort()
