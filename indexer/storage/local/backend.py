"""The local engine behind the storage seam: a thin adapter over `versions` (the directory, locks, recovery),
`transaction` (writes), `snapshot` (reading a version) and `merge` (compaction)."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from pathlib import Path

import faiss

from indexer.errors import IndexerError
from indexer.manifest import ChunkingInfo, LexicalInfo, Manifest, ModelInfo
from indexer.storage.base import Snapshot
from indexer.storage.local.merge import merge, merge_all, plan
from indexer.storage.local.snapshot import IndexSnapshot
from indexer.storage.local.store import StoreReader
from indexer.storage.local.transaction import Transaction
from indexer.storage.local.versions import ORIGINALS_DIR, clear, current_version_dir, open_index, recover, write_lock
from indexer.storage.settings import BackendName
from indexer.types import StoredDocument


def _local(snapshot: Snapshot | None) -> IndexSnapshot | None:
    if snapshot is not None and not isinstance(snapshot, IndexSnapshot):
        raise TypeError(f"the local engine cannot use a snapshot of another engine ({type(snapshot).__name__})")
    return snapshot


class LocalBackend:
    """The index in directory `index_dir`."""

    def __init__(self, index_dir: Path, *, search_threads: int | None = None) -> None:
        self.index_dir = index_dir
        self.search_threads = search_threads

    @property
    def name(self) -> BackendName:
        """Which engine this is."""
        return BackendName.local

    @property
    def location(self) -> str:
        """The index directory."""
        return str(self.index_dir)

    @property
    def originals_root(self) -> Path:
        """Kept original files: a folder of the index directory, removed with it."""
        return self.index_dir / ORIGINALS_DIR

    def open(self, reuse: Snapshot | None = None) -> IndexSnapshot:
        """The committed version; segments `reuse` holds are not read again."""
        if self.search_threads is not None:
            # FAISS's OpenMP pool is process-wide. A server runs searches in parallel already, and OpenMP threads
            # fighting over the same cores made one query over 100k vectors 3.7x slower (88 ms with 2 threads,
            # 24 ms with 1), so the service asks for one.
            faiss.omp_set_num_threads(self.search_threads)
        return open_index(self.index_dir, reuse=_local(reuse))

    def open_version(self, version: int, reuse: Snapshot | None = None) -> IndexSnapshot:
        """Kept version `version` (VersionNotKeptError when it is not kept)."""
        return open_index(self.index_dir, reuse=_local(reuse), version=version)

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
        """Remove uncommitted leftovers (see `indexer.storage.local.versions.recover`)."""
        return recover(self.index_dir)

    def write_lock(self) -> AbstractContextManager[None]:
        """The directory's flock."""
        return write_lock(self.index_dir)

    def transaction(
        self, base: Snapshot | None, model: ModelInfo, chunking: ChunkingInfo, lexical: LexicalInfo | None = None
    ) -> Transaction:
        """A write on top of `base`."""
        return Transaction(self.index_dir, _local(base), model, chunking, lexical)

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

    def merge_all_segments(self, base: Snapshot) -> IndexSnapshot | None:
        """Merge every segment into one (None: another merge is running)."""
        snapshot = _local(base)
        assert snapshot is not None
        names = [s.name for s in snapshot.segments]
        # one segment: the policy still rewrites it if it holds many deleted chunks
        return merge(self.index_dir, snapshot, names) if len(names) > 1 else self.merge(snapshot)

    def drop(self) -> None:
        """Remove this index (CURRENT first, so a crash leaves no version: see `clear`)."""
        clear(self.index_dir)

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
