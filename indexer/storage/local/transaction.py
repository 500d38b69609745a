"""A write on the local engine: one new segment, new tombstones, then a new version made current atomically."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from indexer.analysis import Analyzer
from indexer.manifest import (
    Calibration,
    ChunkingInfo,
    Counts,
    LexicalInfo,
    Manifest,
    ModelInfo,
    SegmentInfo,
    SourceInfo,
)
from indexer.storage.base import lexical_analyzer, new_lexical
from indexer.storage.local.segment import Segment, SegmentWriter, Tombstones, fsync_path
from indexer.storage.local.snapshot import IndexSnapshot, LiveSegment
from indexer.storage.local.versions import (
    SEGMENTS_DIR,
    VECTOR_INFO,
    new_segment_dir,
    point_current,
    prune,
    version_numbers,
)
from indexer.types import DocumentUpdate


class Transaction:
    """One write: new segments, tombstones and replaced segments, committed as one new version.

    The caller holds `write_lock(index_dir)`. `base` None starts from an empty index.
    """

    def __init__(
        self,
        index_dir: Path,
        base: IndexSnapshot | None,
        model: ModelInfo,
        chunking: ChunkingInfo,
        lexical: LexicalInfo | None = None,
    ) -> None:
        numbers = version_numbers(index_dir) if index_dir.is_dir() else []
        self.number = (numbers[-1] if numbers else 0) + 1
        self._index_dir = index_dir
        self._base = base
        self._model = model
        self._chunking = chunking
        self._calibration = base.manifest.calibration if base else None
        self._keep_originals = base.manifest.keep_originals if base else False
        self._lexical = lexical or (base.manifest.lexical if base else new_lexical())
        if base is not None and not base.manifest.lexical.same_analysis(self._lexical):
            raise ValueError("a write analyses text as its base does; another analysis is a new index (base None)")
        self._analyzer = lexical_analyzer(self._lexical)
        self._segments: dict[str, LiveSegment] = {s.name: s for s in base.segments} if base else {}
        self._next_id = base.manifest.next_chunk_id if base else 1
        self._tombstones: dict[str, tuple[set[str], list[int]]] = {}
        self._new: list[tuple[Segment, int, dict[str, int]]] = []  # (segment, documents, chunks per language)

    def delete(self, doc_ids: Sequence[str]) -> set[str]:
        """Mark live documents deleted; returns those that were live."""
        if self._base is None or not doc_ids:
            return set()
        found = self._base.store.locate(list(dict.fromkeys(doc_ids)))
        for doc_id, (seg, chunk_ids) in found.items():
            docs, chunks = self._tombstones.setdefault(seg.name, (set(), []))
            docs.add(doc_id)
            chunks.extend(chunk_ids)
        return set(found)

    def add(self, updates: Sequence[DocumentUpdate]) -> None:
        """Insert or replace documents: the old versions get tombstones, the new ones one new segment."""
        self.add_stream([updates], sum(len(u.chunks) for u in updates))

    def add_stream(self, batches: Iterable[Sequence[DocumentUpdate]], expected_chunks: int) -> None:
        """`add` for a stream of batches written into one segment, so a bulk load holds one batch at a time."""
        directory = new_segment_dir(self._index_dir, self.number)
        writer = SegmentWriter(
            directory,
            self._model.dimension,
            expected_chunks,
            context=self._chunking.passage_context,
            analyzer=self._analyzer,
        )
        try:
            for batch in batches:
                self.delete([u.document.doc_id for u in batch])
                for update in batch:
                    ids = list(range(self._next_id, self._next_id + len(update.chunks)))
                    self._next_id += len(ids)
                    writer.add(update.document, update.origin, update.chunks, ids, update.vectors)
        except BaseException:
            writer.abort()
            raise
        segment, n_docs, languages = writer.finish()
        if n_docs:
            self._new.append((segment, n_docs, languages))

    @property
    def analyzer(self) -> Analyzer:
        """How this write analyses text (a merge builds its segment's postings with it)."""
        return self._analyzer

    def replace(
        self,
        merged: Sequence[str],
        segment: Segment,
        documents: int,
        tombstones: Tombstones,
        languages: dict[str, int],
    ) -> None:
        """Swap segments `merged` for `segment`, which holds their live documents (a merge's commit)."""
        for name in merged:
            self._segments.pop(name)
        if len(tombstones.chunk_ids) or tombstones.doc_ids:
            self._tombstones[segment.name] = (set(tombstones.doc_ids), tombstones.chunk_ids.tolist())
        self._new.append((segment, documents, languages))

    def _segment_info(self, segment: Segment, documents: int, languages: dict[str, int]) -> SegmentInfo:
        return SegmentInfo(
            name=segment.name,
            documents=documents,
            chunks=segment.chunks,
            tokens=int(segment.postings.lengths.sum()),
            hnsw=segment.hnsw,
            languages=languages,
        )

    def _with_tombstones(self, live: LiveSegment) -> LiveSegment:
        """`live` with this transaction's tombstones for it written to a new file."""
        docs, chunks = self._tombstones[live.name]
        tombstones = live.tombstones.plus(docs, chunks)
        name = f"deletes-v{self.number:06d}.npz"
        tombstones.save(live.segment.path / name)
        fsync_path(live.segment.path)
        rows = np.searchsorted(live.segment.postings.ids, tombstones.chunk_ids)
        info = live.info.model_copy(
            update={
                "deletes": name,
                "deleted_documents": len(tombstones.doc_ids),
                "deleted_chunks": len(tombstones.chunk_ids),
                "deleted_tokens": int(live.segment.postings.lengths[rows].sum()),
            }
        )
        return LiveSegment(live.segment, info, tombstones)

    def calibrate(self, calibration: Calibration | None) -> None:
        """Record `calibration` as the new version's search defaults (None: none)."""
        self._calibration = calibration

    def keep_originals(self, keep: bool) -> None:
        """Record whether files sent over HTTP keep their bytes from the new version on."""
        self._keep_originals = keep

    def commit(self, build_seconds: float | None = None, source: SourceInfo | None = None) -> IndexSnapshot:
        """Write the new version's manifest and make it current; the new snapshot."""
        index_dir = self._index_dir
        tmp = index_dir / f".tmp-v{self.number:06d}-{uuid.uuid4().hex[:8]}"
        try:
            for segment, documents, languages in self._new:
                self._segments[segment.name] = LiveSegment(
                    segment, self._segment_info(segment, documents, languages), Tombstones.none()
                )
            for name in self._tombstones:
                self._segments[name] = self._with_tombstones(self._segments[name])
            # A segment whose every document is deleted is dropped, and its files pruned with it.
            kept = tuple(s for s in self._segments.values() if s.info.documents > s.info.deleted_documents)
            manifest = Manifest.create(
                version=self.number,
                model=self._model,
                chunking=self._chunking,
                counts=Counts(
                    documents=sum(s.info.documents - s.info.deleted_documents for s in kept),
                    chunks=sum(s.info.live_chunks for s in kept),
                ),
                vectors=VECTOR_INFO,
                segments=tuple(s.info for s in kept),
                next_chunk_id=self._next_id,
                build_seconds=build_seconds,
                source=source if source is not None else self._base.manifest.source if self._base else None,
                calibration=self._calibration,
                keep_originals=self._keep_originals,
                lexical=self._lexical.model_copy(update={"languages": _languages(s.info for s in kept)}),
            )
            tmp.mkdir(parents=True)
            if (index_dir / SEGMENTS_DIR).is_dir():
                fsync_path(index_dir / SEGMENTS_DIR)  # the new segments' directory entries
            manifest.save(tmp)
            fsync_path(tmp / "manifest.json")
            fsync_path(tmp)
            final = index_dir / f"v{self.number:06d}"
            os.rename(tmp, final)
            fsync_path(index_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        point_current(index_dir, final.name)
        prune(index_dir, keep=final.name)
        return IndexSnapshot(final, manifest, kept)


def _languages(segments: Iterable[SegmentInfo]) -> dict[str, int]:
    """Chunks per language over `segments`, most first."""
    total: dict[str, int] = {}
    for info in segments:
        for code, n in info.languages.items():
            total[code] = total.get(code, 0) + n
    return dict(sorted(total.items(), key=lambda item: -item[1]))
