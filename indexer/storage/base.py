"""The storage seam: what search and writes need from an index, whichever engine keeps it.

Two engines implement it, one package each: `indexer.storage.local` (FAISS + BM25 postings + SQLite segments
in a directory) and `indexer.storage.milvus` (Milvus collections, on a server or in a Milvus Lite file).
`indexer.storage.factory` picks one by name, above both; this module imports neither. Searching
(`indexer.retrieval`), writing (`indexer.building`), evaluation and the service see only these interfaces, so
both engines rank with the same fusion and answer in the same shape.

A `Snapshot` is one committed version and never changes; a `Transaction` writes the next version, which
readers see all at once or not at all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from indexer.analysis import AUTO, CURRENT, Analyzer, Term, analyzer
from indexer.manifest import Calibration, ChunkingInfo, LexicalInfo, Manifest, ModelInfo, SourceInfo
from indexer.storage.settings import BackendName
from indexer.types import ChunkRecord, DocumentUpdate, Filter, Place, StoredDocument


class Restriction(Protocol):
    """A filter resolved against one snapshot, opaque to everything but the engine that made it."""

    @property
    def size(self) -> int:
        """How many live chunks pass."""
        ...


class LexicalScores(Protocol):
    """BM25 scores of one query."""

    def top(self, n: int, allowed: Restriction | None = None) -> list[tuple[int, float]]:
        """The best `n` (chunk_id, score), best first, ties by id; among `allowed` if given."""
        ...

    def scores_of(self, chunk_ids: Sequence[int]) -> dict[int, float]:
        """The score of each chunk in `chunk_ids` (0.0 where no query term occurs)."""
        ...


class VectorSearch(Protocol):
    """Dense search over the live chunks."""

    @property
    def ntotal(self) -> int:
        """How many live chunks have a vector."""
        ...

    def search(self, query: np.ndarray, n: int, allowed: Restriction | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top `n` (scores, ids), shape (queries, n), best first with ties by id, padded with -inf / -1."""
        ...

    def reconstruct_batch(self, chunk_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The stored vectors of live chunks `chunk_ids`, in that order."""
        ...


def new_lexical(language: str = AUTO) -> LexicalInfo:
    """The lexical record of a new index: this version's analyzer, set to `language`."""
    return LexicalInfo(
        tokens="Unicode words (ICU, with dictionaries for scripts without spaces), NFKC, case-folded, Hangul "
        "bigrams, each language's Snowball stems; English stop words removed from English passages",
        analyzer=CURRENT,
        language=language,
    )


def lexical_analyzer(lexical: LexicalInfo) -> Analyzer:
    """The analyzer a manifest's lexical record names, set to its language and languages."""
    return analyzer(lexical.analyzer, lexical.language, lexical.languages)


class AnalyzedLexical:
    """What every engine's `LexicalSearch` shares: the analyzer its manifest names, and the terms it makes."""

    def __init__(self, lexical: LexicalInfo) -> None:
        self._analyzer = lexical_analyzer(lexical)

    @property
    def analyzer(self) -> Analyzer:
        """How the collection's text was analysed (and questions are)."""
        return self._analyzer

    def stems(self, text: str, language: str | None = None) -> list[Term]:
        """(start, end, stem) of each indexed term in `text` (see `Analyzer.stems`)."""
        return self._analyzer.stems(text, language)

    def terms(self, query: str) -> list[str]:
        """The terms `query` is matched on (see `Analyzer.terms`)."""
        return self._analyzer.terms(query)


class LexicalSearch(Protocol):
    """BM25 over the live chunks, with the collection's statistics."""

    @property
    def analyzer(self) -> Analyzer:
        """How the collection's text was analysed (and questions are)."""
        ...

    def query(self, query: str) -> LexicalScores | None:
        """The query's scores; None when it has no indexed term."""
        ...

    def stems(self, text: str, language: str | None = None) -> list[Term]:
        """(start, end, stem) of each indexed term in `text`, analysed as `language` (None: as a passage)."""
        ...

    def terms(self, query: str) -> list[str]:
        """The terms `query` is matched on."""
        ...


class DocumentStore(Protocol):
    """Documents and chunks of one snapshot."""

    def counts(self) -> tuple[int, int]:
        """(documents, chunks)."""
        ...

    def chunk_ids(self) -> list[int]:
        """Every live chunk id, ascending."""
        ...

    def chunks(self, ids: Iterable[int]) -> dict[int, ChunkRecord]:
        """The live chunks with these ids."""
        ...

    def doc_ids_of(self, chunk_ids: Sequence[int]) -> dict[int, str]:
        """chunk_id -> doc_id."""
        ...

    def places_of(self, chunk_ids: Sequence[int]) -> dict[int, Place]:
        """chunk_id -> its document, page and kind (no text: what ranking reads of every candidate)."""
        ...

    def restrict(self, where: Filter) -> Restriction:
        """The live chunks passing `where`, for the searches of this snapshot."""
        ...

    def filtered_chunk_ids(self, where: Filter) -> list[int]:
        """Ids of the live chunks that pass `where`, ascending."""
        ...

    def documents(self, origin: str | None = None) -> list[StoredDocument]:
        """Every live document (optionally of one origin), ordered by id."""
        ...

    def document(self, doc_id: str) -> StoredDocument | None:
        """One live document, or None."""
        ...

    def documents_of(self, doc_ids: Sequence[str]) -> dict[str, StoredDocument]:
        """doc_id -> live document, for those among `doc_ids` (a few queries for many documents)."""
        ...

    def page(self, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """(total, one page of {doc_id, title, source, origin, chunks}) ordered by id."""
        ...

    def origins(self) -> dict[str, str]:
        """doc_id -> origin of every live document."""
        ...

    def hashes(self, doc_ids: Sequence[str] | None = None) -> dict[str, str]:
        """doc_id -> content hash of live documents (of `doc_ids`, or all)."""
        ...

    def chunk_ids_of(self, doc_ids: Sequence[str]) -> dict[str, list[int]]:
        """doc_id -> its live chunk ids (ascending), for live documents among `doc_ids`."""
        ...


class Snapshot(Protocol):
    """One committed, immutable index version."""

    @property
    def manifest(self) -> Manifest:
        """What the version was built with and holds."""
        ...

    @property
    def version(self) -> int:
        """The version number."""
        ...

    @property
    def store(self) -> DocumentStore:
        """Documents and chunks."""
        ...

    @property
    def vectors(self) -> VectorSearch:
        """Dense search."""
        ...

    @property
    def lexical(self) -> LexicalSearch:
        """BM25 search."""
        ...

    def deep_check(self) -> None:
        """IndexCorruptError unless every part agrees row by row (slow: for tests and soak runs)."""
        ...


class Transaction(Protocol):
    """One write, committed as one new version."""

    def delete(self, doc_ids: Sequence[str]) -> set[str]:
        """Mark live documents deleted; returns those that were live."""
        ...

    def add(self, updates: Sequence[DocumentUpdate]) -> None:
        """Insert or replace documents."""
        ...

    def add_stream(self, batches: Iterable[Sequence[DocumentUpdate]], expected_chunks: int) -> None:
        """`add` for a stream of batches, so a bulk load holds one batch at a time."""
        ...

    def calibrate(self, calibration: Calibration | None) -> None:
        """Record `calibration` (None: none) as the new version's search defaults; without this call the base
        version's are carried forward."""
        ...

    def keep_originals(self, keep: bool) -> None:
        """Record whether files sent over HTTP keep their bytes from the new version on (without this call: as
        the base version records)."""
        ...

    def commit(self, build_seconds: float | None = None, source: SourceInfo | None = None) -> Snapshot:
        """Make the new version current, all at once; the new snapshot. `source`: what the build read from its
        folder (None: the base version's record is kept)."""
        ...


class Backend(Protocol):
    """An engine keeping one index: opens its versions and writes new ones."""

    @property
    def name(self) -> BackendName:
        """Which engine this is."""
        ...

    @property
    def location(self) -> str:
        """Where the index is, for messages."""
        ...

    @property
    def originals_root(self) -> Path | None:
        """The folder kept original files go in (`indexer.storage.originals`; None: the engine has none)."""
        ...

    def open(self, reuse: Snapshot | None = None) -> Snapshot:
        """The committed version (IndexNotFoundError when there is none); `reuse` shares what it already holds."""
        ...

    def open_version(self, version: int, reuse: Snapshot | None = None) -> Snapshot:
        """An older committed version still kept (pages pinned to the version they started on);
        VersionNotKeptError when it is not."""
        ...

    def current_version(self) -> int | None:
        """The committed version's number, read cheaply (None: no index yet)."""
        ...

    def read_manifest(self) -> Manifest:
        """The committed version's manifest, without opening the version (to fail fast)."""
        ...

    def recover(self) -> list[str]:
        """After a crash: remove what uncommitted writers left behind; what was removed."""
        ...

    def write_lock(self) -> AbstractContextManager[None]:
        """Hold the index's single-writer lock."""
        ...

    def transaction(
        self, base: Snapshot | None, model: ModelInfo, chunking: ChunkingInfo, lexical: LexicalInfo | None = None
    ) -> Transaction:
        """A write on top of `base` (None: an empty index). The caller holds `write_lock`. `lexical`: how text is
        analysed (None: as `base` analyses it, or this version's analyzer with language `auto`)."""
        ...

    def needs_merge(self, snapshot: Snapshot) -> bool:
        """Whether compaction has work this engine does itself (not the case for engines that compact alone)."""
        ...

    def merge(
        self, base: Snapshot, lock: threading.Lock | None = None, stop: threading.Event | None = None
    ) -> Snapshot:
        """Compact while there is work; the last snapshot. `lock` serialises commits with the caller's writer."""
        ...

    def merge_all_segments(self, base: Snapshot) -> Snapshot | None:
        """Merge every segment into one now (None: another merge is running); `base` where there is nothing to
        merge or the engine compacts alone."""
        ...

    def drop(self) -> None:
        """Remove the whole index: first what makes a version committed, so that from then on `open` finds
        none, then the rest (a crash in between leaves only uncommitted remains, which a layout's `recover`
        removes). Searches must be finished."""
        ...

    def close(self) -> None:
        """Release connections (searches must be finished)."""
        ...

    def legacy_api_documents(self) -> list[StoredDocument]:
        """API documents of an index in a format `open` no longer reads, to carry over into a rebuild."""
        ...


class Layout(Protocol):
    """Where an engine keeps the indexes of many collections, one `Backend` each.

    A collection exists once its index has a committed version; a first build or a drop cut short leaves an
    uncommitted remainder that `recover` removes, so the list of collections is never half-changed.
    """

    @property
    def name(self) -> BackendName:
        """Which engine this is."""
        ...

    @property
    def location(self) -> str:
        """Where the collections are, for messages."""
        ...

    def names(self) -> list[str]:
        """The collections with a committed version, sorted."""
        ...

    def backend(self, collection: str) -> Backend:
        """The index of `collection` (a valid name; it need not exist yet: writing it creates it)."""
        ...

    def drop(self, collection: str) -> None:
        """Remove `collection`'s index and whatever else holds it (see `Backend.drop`)."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """Serialise creating and dropping collections."""
        ...

    def recover(self) -> list[str]:
        """After a crash: remove what creates and drops cut short left behind; what was removed."""
        ...

    def close(self) -> None:
        """Release what the layout itself holds."""
        ...


def commit(
    tx: Transaction,
    *,
    upserts: Sequence[DocumentUpdate],
    deletes: Sequence[str],
    build_seconds: float | None = None,
    source: SourceInfo | None = None,
) -> Snapshot:
    """Apply `deletes` then `upserts` in `tx` and commit it."""
    tx.delete(deletes)
    if upserts:
        tx.add(upserts)
    return tx.commit(build_seconds, source)
