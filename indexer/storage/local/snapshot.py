"""One committed index version as searches see it: its segments with their tombstones, read as one index.

`IndexSnapshot.store`, `.vectors` and `.lexical` answer across every segment and leave deleted documents
out, so nothing above this module knows how the index is cut into segments. A snapshot never changes.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from indexer.errors import IndexCorruptError
from indexer.manifest import Manifest, SegmentInfo
from indexer.storage.base import AnalyzedLexical, Restriction
from indexer.storage.hnsw import HNSW_EF_SEARCH
from indexer.storage.local.bm25 import Allowed, LexicalQuery, SegmentPostings, as_allowed
from indexer.storage.local.postings import find_sorted
from indexer.storage.local.segment import Segment, Tombstones
from indexer.types import ChunkRecord, Filter, Place, StoredDocument

# Below this many allowed chunks a filtered search scores them all exactly instead of walking the graph:
# exact is cheap there, and a graph search with most nodes filtered out loses recall.
EXACT_FILTER_MAX = 20_000


@dataclass(frozen=True, eq=False)
class LiveSegment:
    """A segment as of one version: the shared, immutable segment plus that version's tombstones."""

    segment: Segment
    info: SegmentInfo
    tombstones: Tombstones
    _keep_alive: list[Any] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        """The segment's directory name."""
        return self.segment.name

    @cached_property
    def deleted_rows(self) -> npt.NDArray[np.int64]:
        """Postings rows of deleted chunks, ascending."""
        return np.searchsorted(self.segment.postings.ids, self.tombstones.chunk_ids).astype(np.int64)

    @cached_property
    def live_ids(self) -> npt.NDArray[np.int64]:
        """Chunk ids not deleted, ascending."""
        ids = self.segment.postings.ids
        return ids if not len(self.deleted_rows) else np.delete(ids, self.deleted_rows)

    def holds(self, chunk_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Which of `chunk_ids` are live chunks of this segment."""
        _, found = find_sorted(self.segment.postings.ids, chunk_ids)
        if len(self.tombstones.chunk_ids):
            found &= ~np.isin(chunk_ids, self.tombstones.chunk_ids)
        return found

    def search(self, query: np.ndarray, n: int, allowed: npt.NDArray[np.int64] | None) -> tuple[np.ndarray, np.ndarray]:
        """Top `n` (scores, ids) of live chunks (among `allowed` if given), as FAISS returns them."""
        vectors = self.segment.vectors
        selector: faiss.IDSelector | None
        if allowed is not None:
            if not len(allowed):
                return np.zeros((len(query), 0), dtype=np.float32), np.zeros((len(query), 0), dtype=np.int64)
            if self.segment.hnsw and len(allowed) <= EXACT_FILTER_MAX:
                scores = query @ vectors.reconstruct_batch(allowed).T
                top = np.argsort(-scores, axis=1, kind="stable")[:, :n]
                return np.take_along_axis(scores, top, axis=1), allowed[top]
            selector = faiss.IDSelectorBatch(allowed)
        elif len(self.tombstones.chunk_ids):
            selector = self._not_deleted
        else:
            selector = None
        params: Any = None
        if self.segment.hnsw:
            params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # missing from the stubs
            params.efSearch = max(HNSW_EF_SEARCH, n)
        elif selector is not None:
            params = faiss.SearchParameters()
        if params is not None and selector is not None:
            params.sel = selector
        scores, ids = vectors.search(query, n, params=params)
        return scores, ids

    @cached_property
    def _not_deleted(self) -> faiss.IDSelector:
        inner = faiss.IDSelectorBatch(self.tombstones.chunk_ids)
        selector = faiss.IDSelectorNot(inner)
        self._keep_alive.append(inner)  # the SWIG wrapper does not keep its inner selector alive
        return selector


def _live_ids(segments: Sequence[LiveSegment]) -> npt.NDArray[np.int64]:
    parts = [s.live_ids for s in segments]
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


class SnapshotVectors:
    """Dense search over every live chunk of a snapshot."""

    def __init__(self, segments: Sequence[LiveSegment], total: int) -> None:
        self._segments = segments
        self.ntotal = total

    def search(
        self, query: np.ndarray, n: int, restriction: Restriction | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top `n` (scores, ids), shape (queries, n), padded with -inf / -1 like FAISS; among `restriction` if given."""
        m = len(query)
        allowed = as_allowed(restriction)
        found = [
            seg.search(query, n, None if allowed is None else allowed[seg.name])
            for seg in self._segments
            if n > 0 and (allowed is None or seg.name in allowed)
        ]
        if len(found) == 1:
            scores, ids = found[0]  # the usual case after a merge: nothing to stack
        elif found:
            scores, ids = np.hstack([s for s, _ in found]), np.hstack([i for _, i in found])
        else:
            scores, ids = np.full((m, 0), -np.inf, dtype=np.float32), np.full((m, 0), -1, dtype=np.int64)
        scores = np.where(ids >= 0, scores, -np.inf)  # ties are broken by id below, whatever FAISS's order
        order = np.lexsort((ids, -scores), axis=1)[:, :n] if ids.shape[1] else np.zeros((m, 0), dtype=np.int64)
        scores, ids = np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)
        pad = n - ids.shape[1]
        if pad > 0:
            scores = np.hstack([scores, np.full((m, pad), -np.inf, dtype=np.float32)])
            ids = np.hstack([ids, np.full((m, pad), -1, dtype=np.int64)])
        return scores.astype(np.float32), ids

    def reconstruct_batch(self, chunk_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The stored vectors of live chunks `chunk_ids`, in that order."""
        wanted = np.asarray(chunk_ids, dtype=np.int64)
        out = np.zeros((len(wanted), 0), dtype=np.float32)
        found = np.zeros(len(wanted), dtype=bool)
        for seg in self._segments:
            here = seg.holds(wanted) & ~found
            if here.any():
                vecs = seg.segment.vectors.reconstruct_batch(wanted[here])
                if out.shape[1] == 0:
                    out = np.zeros((len(wanted), vecs.shape[1]), dtype=np.float32)
                out[here] = vecs
                found |= here
        if not found.all():
            raise KeyError(f"no live chunk with id {int(wanted[~found][0])}")
        return out

    def reconstruct(self, chunk_id: int) -> np.ndarray:
        """The stored vector of one live chunk."""
        row: np.ndarray = self.reconstruct_batch([chunk_id])[0]
        return row


class SnapshotLexical(AnalyzedLexical):
    """BM25 over every live chunk of a snapshot, with the whole collection's statistics."""

    def __init__(self, segments: Sequence[LiveSegment], manifest: Manifest) -> None:
        self._segments = segments
        self._postings = [SegmentPostings(s.name, s.segment.postings, s.deleted_rows) for s in segments]
        self._chunks = manifest.counts.chunks
        super().__init__(manifest.lexical)
        tokens = sum(s.info.tokens - s.info.deleted_tokens for s in segments)
        self._avg_length = tokens / self._chunks if self._chunks else 0.0

    @property
    def ids(self) -> npt.NDArray[np.int64]:
        """Every live chunk id, ascending."""
        return _live_ids(self._segments)

    def query(self, query: str) -> LexicalQuery | None:
        """The query's scores; None when none of its terms occurs in a live chunk."""
        terms = self.terms(query)
        if not terms or not self._chunks:
            return None
        scored = LexicalQuery(self._postings, terms, self._chunks, self._avg_length)
        return scored if scored.matches else None

    def scores(self, query: str) -> dict[int, float] | None:
        """chunk id -> BM25 score of every chunk holding a query term; None when no term occurs."""
        scored = self.query(query)
        return None if scored is None else scored.as_dict()


class SnapshotStore:
    """Documents and chunks of every live segment, deleted documents left out."""

    def __init__(self, segments: Sequence[LiveSegment], manifest: Manifest) -> None:
        self._segments = segments
        self._manifest = manifest

    def counts(self) -> tuple[int, int]:
        """(documents, chunks)."""
        return self._manifest.counts.documents, self._manifest.counts.chunks

    def chunk_ids(self) -> list[int]:
        """Every live chunk id, ascending."""
        ids: list[int] = _live_ids(self._segments).tolist()
        return ids

    def _route(self, chunk_ids: Iterable[int]) -> list[tuple[LiveSegment, list[int]]]:
        wanted = np.asarray(list(chunk_ids), dtype=np.int64)
        out = []
        for seg in self._segments:
            if len(wanted):
                here = seg.holds(wanted)
                if here.any():
                    out.append((seg, wanted[here].tolist()))
        return out

    def chunks(self, ids: Iterable[int]) -> dict[int, ChunkRecord]:
        """The live chunks with these ids, joined with their document's title and source."""
        out: dict[int, ChunkRecord] = {}
        for seg, part in self._route(ids):
            out.update(seg.segment.store.chunks(part))
        return out

    def doc_ids_of(self, chunk_ids: Sequence[int]) -> dict[int, str]:
        """chunk_id -> doc_id."""
        out: dict[int, str] = {}
        for seg, part in self._route(chunk_ids):
            out.update(seg.segment.store.doc_ids_of(part))
        return out

    def places_of(self, chunk_ids: Sequence[int]) -> dict[int, Place]:
        """chunk_id -> its document, page and kind."""
        out: dict[int, Place] = {}
        for seg, part in self._route(chunk_ids):
            out.update(seg.segment.store.places_of(part))
        return out

    def restrict(self, where: Filter) -> Allowed:
        """Per segment, the live chunk ids passing `where` (ascending)."""
        out = Allowed()
        for seg in self._segments:
            ids = np.asarray(sorted(seg.segment.store.filtered_chunk_ids(where)), dtype=np.int64)
            if len(seg.tombstones.chunk_ids) and len(ids):
                ids = ids[~np.isin(ids, seg.tombstones.chunk_ids)]
            out[seg.name] = ids
        return out

    def filtered_chunk_ids(self, where: Filter) -> list[int]:
        """Ids of the live chunks that pass `where`, ascending."""
        return sorted(int(i) for ids in self.restrict(where).values() for i in ids)

    def documents(self, origin: str | None = None) -> list[StoredDocument]:
        """Every live document (optionally only those of one origin), ordered by id."""
        docs = [
            d for s in self._segments for d in s.segment.store.documents(origin) if d.doc_id not in s.tombstones.doc_ids
        ]
        return sorted(docs, key=lambda d: d.doc_id)

    def document(self, doc_id: str) -> StoredDocument | None:
        """One live document, or None."""
        return self.documents_of([doc_id]).get(doc_id)

    def documents_of(self, doc_ids: Sequence[str]) -> dict[str, StoredDocument]:
        """doc_id -> live document, for those among `doc_ids`."""
        out: dict[str, StoredDocument] = {}
        for seg in self._segments:
            found = seg.segment.store.documents_of(doc_ids)
            out.update((d, doc) for d, doc in found.items() if d not in seg.tombstones.doc_ids)
        return out

    def page(self, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """(total, one page of {doc_id, title, source, origin, chunks}) ordered by id."""
        total = self._manifest.counts.documents
        if offset >= total:
            return total, []
        streams = []
        for seg in self._segments:
            # Each segment's first offset+limit live rows suffice; its deleted rows may sit among them.
            want = offset + limit + len(seg.tombstones.doc_ids)
            _, rows = seg.segment.store.page(0, want)
            streams.append([r for r in rows if r["doc_id"] not in seg.tombstones.doc_ids])
        merged = heapq.merge(*streams, key=lambda r: r["doc_id"])
        return total, list(itertools.islice(merged, offset, offset + limit))

    def origins(self) -> dict[str, str]:
        """doc_id -> origin ('build' or 'api') of every live document."""
        out: dict[str, str] = {}
        for seg in self._segments:
            out.update((d, o) for d, o in seg.segment.store.origins().items() if d not in seg.tombstones.doc_ids)
        return out

    def hashes(self, doc_ids: Sequence[str] | None = None) -> dict[str, str]:
        """doc_id -> content hash of live documents (of `doc_ids`, or all)."""
        out: dict[str, str] = {}
        for seg in self._segments:
            found = seg.segment.store.hashes(doc_ids)
            out.update((d, h) for d, h in found.items() if d not in seg.tombstones.doc_ids)
        return out

    def chunk_ids_of(self, doc_ids: Sequence[str]) -> dict[str, list[int]]:
        """doc_id -> its chunk ids, for live documents among `doc_ids`."""
        return {doc_id: sorted(ids) for doc_id, (_, ids) in self.locate(doc_ids).items()}

    def locate(self, doc_ids: Sequence[str]) -> dict[str, tuple[LiveSegment, list[int]]]:
        """doc_id -> (its live segment, its chunk ids), for live documents among `doc_ids`."""
        out: dict[str, tuple[LiveSegment, list[int]]] = {}
        for seg in self._segments:
            live = [d for d in seg.segment.store.hashes(doc_ids) if d not in seg.tombstones.doc_ids]
            chunks = seg.segment.store.chunk_ids_of(live)
            for doc_id in live:
                out[doc_id] = (seg, chunks.get(doc_id, []))
        return out


@dataclass(frozen=True, eq=False)
class IndexSnapshot:
    """One committed, immutable index version."""

    path: Path
    manifest: Manifest
    segments: tuple[LiveSegment, ...]

    @property
    def version(self) -> int:
        """The version number."""
        return self.manifest.version

    @cached_property
    def store(self) -> SnapshotStore:
        """Documents and chunks."""
        return SnapshotStore(self.segments, self.manifest)

    @cached_property
    def vectors(self) -> SnapshotVectors:
        """Dense search."""
        return SnapshotVectors(self.segments, self.manifest.counts.chunks)

    @cached_property
    def lexical(self) -> SnapshotLexical:
        """BM25 search."""
        return SnapshotLexical(self.segments, self.manifest)

    def deep_check(self) -> None:
        """IndexCorruptError unless every part agrees row by row, beyond the counts `open_index` checks.

        Reads every chunk id and document: for tests and soak runs, not for the serving path.
        """
        docs = self.store.documents()
        chunk_ids = self.store.chunk_ids()
        problem = None
        if len({d.doc_id for d in docs}) != len(docs):
            problem = "a document is live in two segments"
        elif sum(d.n_chunks for d in docs) != len(chunk_ids) or len(docs) != self.manifest.counts.documents:
            problem = "chunk or document counts differ between the documents, the segments and the manifest"
        elif len(chunk_ids) != self.manifest.counts.chunks:
            problem = "the manifest's chunk count differs from the segments'"
        elif not {r.doc_id for r in self.store.chunks(chunk_ids).values()} <= {d.doc_id for d in docs}:
            problem = "the store has live chunks of documents it does not hold"
        else:
            for seg in self.segments:
                if seg.segment.vectors.ntotal != len(seg.segment.postings.ids):
                    problem = f"segment {seg.name} has {seg.segment.vectors.ntotal} vectors for "
                    problem += f"{len(seg.segment.postings.ids)} chunks"
                elif seg.segment.store.chunk_ids() != seg.segment.postings.ids.tolist():
                    problem = f"segment {seg.name}'s postings ids differ from its store's chunk ids"
        if problem:
            raise IndexCorruptError(f"{self.path} is inconsistent: {problem}. Rebuild the index.")
