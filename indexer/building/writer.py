"""Document-level writes: upsert and delete documents as new index versions.

Each call commits one new version (a new segment plus tombstones, see `indexer.storage.local.versions`), so its cost is
what it changes: readers holding the previous snapshot are never blocked and never see half a write, and a
crash at any moment leaves the last committed version intact. `merge` compacts segments (see
`indexer.storage.local.merge`); the service runs it in the background. Writers are serialised by a lock within the
process and by the directory's flock across processes. Re-sending a document whose content hash is
unchanged embeds nothing and commits nothing. A collection that keeps originals (`keep_originals`) keeps the
bytes of each file sent with its document (`indexer.storage.originals`): written before the commit, the
document's older files removed after it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from indexer.building.builder import ORIGIN_BUILD, BuildReport, prepare_updates, sync_index
from indexer.embed.base import Embedder
from indexer.errors import IndexerError
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.fingerprint import HASH_KEY, kept_file, kept_suffix
from indexer.ingest.folder import FolderReport
from indexer.storage.base import Backend, Snapshot, commit, lexical_analyzer
from indexer.storage.factory import as_backend
from indexer.storage.originals import Original, Originals, originals_at
from indexer.types import Document, PassageContext

ORIGIN_API = "api"


def _kept_name(doc: Document) -> str | None:
    """The name of `doc`'s kept file (None: it has none)."""
    found = kept_file(doc.metadata)
    return f"{found[0]}{found[1]}" if found is not None else None


class DocumentNotFoundError(IndexerError):
    """A delete named a document that is not in the index."""


@dataclass
class WriteResult:
    """What one write did. `status` maps each document id to created, updated, unchanged or deleted."""

    snapshot: Snapshot
    status: dict[str, str] = field(default_factory=dict)
    embedded_chunks: int = 0

    @property
    def committed(self) -> bool:
        """Whether a new version was written."""
        return any(s != "unchanged" for s in self.status.values())


class IndexWriter:
    """Applies upserts and deletes to one index (a directory: the local engine)."""

    def __init__(self, index: Path | Backend, embedder: Embedder, snapshot: Snapshot | None = None) -> None:
        """`snapshot`: the caller's already open snapshot of `index`, whose segments are reused."""
        self._backend = as_backend(index)
        self._embedder = embedder
        self._lock = threading.Lock()
        self._last = snapshot  # its segments are reused, not read again

    @property
    def snapshot(self) -> Snapshot | None:
        """The latest version this writer opened or committed."""
        return self._last

    def adopt(self, snapshot: Snapshot) -> None:
        """Take a newer version opened elsewhere (another process's commit), so its segments are not opened twice."""
        with self._lock:
            if self._last is None or snapshot.version > self._last.version:
                self._last = snapshot

    def _open(self) -> Snapshot:
        self._last = self._backend.open(reuse=self._last)
        return self._last

    def apply(
        self,
        upserts: Sequence[Document] = (),
        deletes: Sequence[str] = (),
        *,
        origin: str = ORIGIN_API,
        originals: Mapping[str, Original] | None = None,
    ) -> WriteResult:
        """Upsert `upserts` and delete `deletes` in one new version; DocumentNotFoundError for an unknown delete.
        `originals`: the files some upserts were read from, by document id (kept if the collection keeps them).

        Nothing is written when every upsert is unchanged and there is nothing to delete.
        """
        with self._lock, self._backend.write_lock():
            base = self._open()
            base.manifest.check_model(self._embedder.model_id, self._embedder.dimension)
            store = originals_at(self._backend.originals_root) if base.manifest.keep_originals else None
            written: list[Path] = []
            try:
                if store is not None:
                    upserts = [self._keep(store, doc, (originals or {}).get(doc.doc_id), written) for doc in upserts]
                result = self._apply(base, upserts, deletes, origin)
            except BaseException:
                for path in written:  # files no committed version names
                    path.unlink(missing_ok=True)
                raise
            if store is not None and result.committed:
                for doc in upserts:
                    if result.status[doc.doc_id] != "unchanged":
                        store.keep(doc.doc_id, _kept_name(doc))
                for doc_id in deletes:
                    store.keep(doc_id, None)
            return result

    @staticmethod
    def _keep(store: Originals, doc: Document, original: Original | None, written: list[Path]) -> Document:
        """`doc` naming its kept file (`file_sha256`), the file written first; `doc` as it is without a file."""
        if original is None:
            return doc
        if kept_suffix(doc.metadata) != original.suffix.lower():
            raise ValueError(f"the file of {doc.doc_id!r} is not named with extension {original.suffix!r}")
        sha, new = store.put(doc.doc_id, original)
        if new is not None:
            written.append(new)
        return replace(doc, metadata=doc.metadata | {HASH_KEY: sha})

    def _apply(self, base: Snapshot, upserts: Sequence[Document], deletes: Sequence[str], origin: str) -> WriteResult:
        hashes = base.store.hashes([*(d.doc_id for d in upserts), *deletes])
        missing = [d for d in deletes if d not in hashes]
        if missing:
            raise DocumentNotFoundError(f"no document with id {missing[0]!r}; nothing was changed")
        status: dict[str, str] = {}
        changed: list[Document] = []
        for doc in upserts:
            if hashes.get(doc.doc_id) == doc.content_hash:
                status[doc.doc_id] = "unchanged"
            else:
                status[doc.doc_id] = "updated" if doc.doc_id in hashes else "created"
                changed.append(doc)
        for doc_id in deletes:
            status[doc_id] = "deleted"
        if not changed and not deletes:
            return WriteResult(base, status)
        m = base.manifest.chunking
        config = ChunkingConfig(m.chunk_tokens, m.overlap_tokens, m.language, m.titles, PassageContext(m.context))
        origins = {d.doc_id: origin for d in changed}
        analyzer, reads = lexical_analyzer(base.manifest.lexical), base.manifest.model.reads
        updates = prepare_updates(changed, origins, self._embedder, config, analyzer=analyzer, reads=reads)
        tx = self._backend.transaction(base, base.manifest.model, base.manifest.chunking)
        self._last = commit(tx, upserts=updates, deletes=list(deletes))
        return WriteResult(self._last, status, sum(len(u.chunks) for u in updates))

    def sync_folder(self, folder: FolderReport, config: ChunkingConfig) -> BuildReport:
        """Make the build-origin documents equal to `folder` (an incremental build, see `sync_index`), serialised
        with this writer's other writes; merging is left to the caller (`merge`)."""
        with self._lock:
            report = sync_index(folder, self._backend, self._embedder, config, merge=False)
            self._open()
        return report

    def needs_merge(self) -> bool:
        """Whether the merge policy has work for the latest version this writer knows."""
        return self._last is not None and self._backend.needs_merge(self._last)

    def merge(self, stop: threading.Event | None = None) -> Snapshot:
        """Merge segments while the policy asks for it (slow: run it off the request path); the last snapshot.

        Writes go on meanwhile: the merged segment is built outside the lock, which it takes only to commit.
        """
        with self._lock, self._backend.write_lock():
            base = self._open()
        merged = self._backend.merge(base, self._lock, stop)
        with self._lock:
            if self._last is None or merged.version > self._last.version:
                self._last = merged
        return merged


__all__ = ["ORIGIN_API", "ORIGIN_BUILD", "DocumentNotFoundError", "IndexWriter", "WriteResult"]
