"""The local engine: segments of FAISS vectors, BM25 postings and SQLite stores in one directory.

A thin adapter from the storage seam (`indexer.backend`) to `indexer.index` (versions, transactions,
locks), `indexer.snapshot` (reading a version) and `indexer.merge` (compaction).
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from pathlib import Path

from indexer.backend import BackendName, Snapshot
from indexer.errors import IndexerError
from indexer.index import Transaction, current_version_dir, open_index, recover, write_lock
from indexer.manifest import ChunkingInfo, Manifest, ModelInfo
from indexer.merge import merge_all, plan
from indexer.snapshot import IndexSnapshot
from indexer.store import StoredDocument, StoreReader


def _local(snapshot: Snapshot | None) -> IndexSnapshot | None:
    if snapshot is not None and not isinstance(snapshot, IndexSnapshot):
        raise TypeError(f"the local engine cannot use a snapshot of another engine ({type(snapshot).__name__})")
    return snapshot


class LocalBackend:
    """The index in directory `index_dir`."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir

    @property
    def name(self) -> BackendName:
        """Which engine this is."""
        return BackendName.local

    @property
    def location(self) -> str:
        """The index directory."""
        return str(self.index_dir)

    def open(self, reuse: Snapshot | None = None) -> IndexSnapshot:
        """The committed version; segments `reuse` holds are not read again."""
        return open_index(self.index_dir, reuse=_local(reuse))

    def current_version(self) -> int | None:
        """The number CURRENT names (None: no index, or an unreadable pointer that `open` will report)."""
        try:
            return int(current_version_dir(self.index_dir).name[1:])
        except IndexerError:
            return None

    def read_manifest(self) -> Manifest:
        """The committed version's manifest."""
        return Manifest.load(current_version_dir(self.index_dir))

    def recover(self) -> list[str]:
        """Remove uncommitted leftovers (see `indexer.index.recover`)."""
        return recover(self.index_dir)

    def write_lock(self) -> AbstractContextManager[None]:
        """The directory's flock."""
        return write_lock(self.index_dir)

    def transaction(self, base: Snapshot | None, model: ModelInfo, chunking: ChunkingInfo) -> Transaction:
        """A write on top of `base`."""
        return Transaction(self.index_dir, _local(base), model, chunking)

    def needs_merge(self, snapshot: Snapshot) -> bool:
        """Whether the tiered policy has segments to merge."""
        return bool(plan(snapshot.manifest.segments))

    def merge(
        self, base: Snapshot, lock: threading.Lock | None = None, stop: threading.Event | None = None
    ) -> IndexSnapshot:
        """Merge segments while the policy asks for it."""
        snapshot = _local(base)
        assert snapshot is not None
        return merge_all(self.index_dir, snapshot, lock, stop)

    def close(self) -> None:
        """Nothing to release: open snapshots keep their own files."""

    def legacy_api_documents(self) -> list[StoredDocument]:
        """API documents of a format-1 index (one store per version), to carry them over."""
        try:
            store_path = current_version_dir(self.index_dir) / "store.sqlite"
        except IndexerError:
            return []
        if not store_path.is_file():
            return []
        store = StoreReader(store_path)
        try:
            return store.documents(origin="api")
        finally:
            store.close()
