"""Merging segments: keeps their number small and drops deleted chunks, without blocking searches or writes.

Policy (tiered, as Lucene's): segments are grouped in tiers by size (under 10k live chunks, under 100k, under
1M, ...). When a tier holds `SEGMENTS_PER_TIER` segments they are merged into one, which usually lands in the
next tier; a segment whose chunks are more than `MAX_DELETED_FRACTION` deleted is rewritten alone. Each chunk
is therefore rewritten about once per tier it climbs: O(log N) times over its life, in the background.

A merge reads a snapshot, builds the merged segment outside the write lock (holding only the merge lock),
then takes the write lock for a moment: documents deleted or replaced since that snapshot get tombstones in
the merged segment, and one new version swaps the merged segments for it. A crash mid-merge leaves an
unreferenced directory that the next writer or startup removes.
"""

from __future__ import annotations

import math
import shutil
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from indexer.manifest import SegmentInfo
from indexer.storage.base import lexical_analyzer
from indexer.storage.local.segment import SegmentWriter, Tombstones
from indexer.storage.local.snapshot import IndexSnapshot
from indexer.storage.local.transaction import Transaction
from indexer.storage.local.versions import merge_lock, new_segment_dir, open_index, write_lock

SEGMENTS_PER_TIER = 8
SMALLEST_TIER = 10_000  # every segment below this size is in the first tier
MAX_DELETED_FRACTION = 0.25
_VECTOR_BATCH = 8192  # vectors copied per step: a merge never holds two full copies, and stops soon when asked


class _Stopped(Exception):
    """The caller asked a running merge to stop."""


def _tier(info: SegmentInfo) -> int:
    return int(math.log10(max(info.live_chunks, SMALLEST_TIER)))


def plan(segments: Sequence[SegmentInfo]) -> list[str]:
    """Names of the segments to merge next (empty: nothing to do)."""
    tiers: dict[int, list[SegmentInfo]] = {}
    for info in segments:
        tiers.setdefault(_tier(info), []).append(info)
    for tier in sorted(tiers):
        if len(tiers[tier]) >= SEGMENTS_PER_TIER:
            return [s.name for s in tiers[tier]]
    for info in segments:
        if info.deleted_chunks > MAX_DELETED_FRACTION * info.chunks:
            return [info.name]
    return []


def merge(
    index_dir: Path,
    base: IndexSnapshot,
    names: Sequence[str],
    commit_lock: threading.Lock | None = None,
    stop: threading.Event | None = None,
) -> IndexSnapshot | None:
    """Merge segments `names` of `base` into one and commit; the new snapshot, or None if another merge is
    running, the index was rebuilt meanwhile, or `stop` was set (the partial segment is removed).
    `commit_lock` is the caller's in-process writer lock."""
    with merge_lock(index_dir) as mine:
        if not mine:
            return None
        sources = [s for s in base.segments if s.name in set(names)]
        live_chunks = sum(s.info.live_chunks for s in sources)
        directory = new_segment_dir(index_dir, base.version)
        writer = SegmentWriter(
            directory,
            base.manifest.model.dimension,
            live_chunks,
            context=base.manifest.chunking.passage_context,
            analyzer=lexical_analyzer(base.manifest.lexical),
        )
        try:
            for source in sources:
                writer.copy_store(source.segment.store, source.tombstones.doc_ids)
                ids = source.live_ids
                for start in range(0, len(ids), _VECTOR_BATCH):
                    if stop is not None and stop.is_set():
                        raise _Stopped
                    part = ids[start : start + _VECTOR_BATCH]
                    writer.add_vectors(part, source.segment.vectors.reconstruct_batch(part))
        except BaseException as exc:
            writer.abort()
            shutil.rmtree(directory, ignore_errors=True)
            if isinstance(exc, _Stopped):
                return None
            raise
        try:
            segment, documents, languages = writer.finish()
            with commit_lock or threading.Lock(), write_lock(index_dir):
                current = open_index(index_dir, reuse=base)
                now = {s.name: s for s in current.segments}
                if (
                    not any(name in now for name in names)
                    or current.manifest.model != base.manifest.model
                    or not current.manifest.lexical.same_analysis(base.manifest.lexical)
                ):
                    shutil.rmtree(directory, ignore_errors=True)  # rebuilt meanwhile: nothing left to merge
                    return None
                # Deleted or replaced since `base`: those documents live in the merged segment now. A source
                # segment gone from the index had every document deleted (or merged elsewhere).
                late = Tombstones.none()
                for source in sources:
                    docs: Iterable[str]
                    if source.name in now:
                        gone = now[source.name].tombstones
                        docs = gone.doc_ids - source.tombstones.doc_ids
                        chunks = set(gone.chunk_ids.tolist()) - set(source.tombstones.chunk_ids.tolist())
                    else:
                        docs = set(source.segment.store.hashes()) - source.tombstones.doc_ids
                        chunks = set(source.live_ids.tolist())
                    late = late.plus(docs, chunks)
                tx = Transaction(index_dir, current, current.manifest.model, current.manifest.chunking)
                tx.replace([n for n in names if n in now], segment, documents, late, languages)
                return tx.commit()
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise


def merge_all(
    index_dir: Path,
    snapshot: IndexSnapshot,
    commit_lock: threading.Lock | None = None,
    stop: threading.Event | None = None,
) -> IndexSnapshot:
    """Apply the policy until it has nothing left to do (or `stop` is set); the last snapshot."""
    while names := plan(snapshot.manifest.segments):
        merged = merge(index_dir, snapshot, names, commit_lock, stop)
        if merged is None:
            break
        snapshot = merged
    return snapshot
