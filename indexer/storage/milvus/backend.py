"""The Milvus engine: the index in Milvus collections, on a server or cluster, or in a Milvus Lite file.

Collections, for the name prefix P (`SEEKR_MILVUS_COLLECTION`) and generation G:

    P_meta          one row per kept version: its manifest, generation and commit time (the highest is current)
    P_gG_chunks     one row per chunk: chunk_id, doc_id, version, deleted_at, offsets, text,
                    title, source, meta (the document's metadata, for filters), terms (the project's own stems,
                    indexed by Milvus's BM25 function into `sparse`), vector
    P_gG_docs       per document version, one row per part of its text (a VARCHAR holds 64 KiB): doc_id,
                    part, version, deleted_at, title, source, origin, content hash, text, metadata, chunks

Milvus has no transactions, so versions are kept in the rows (multi-version concurrency control): a write
numbered N inserts its rows with `version = N`, marks the rows it replaces or deletes `deleted_at = N`, then
inserts a manifest row for N. A reader of version V filters every search and lookup on `version <= V and
(deleted_at == 0 or deleted_at > V)`, so it never sees half a write, and a write is visible to the next
search once its manifest row is (collections use Strong consistency). Rows no kept version can see are
removed (see KEEP_VERSIONS); rows of a write that never committed are removed by the next write or by
`recover`. A full rebuild writes a new generation and switches to it in the same way.

Rows are never updated in place: an upsert is a delete and an insert that a concurrent search can see
half done (the row missing), measured here on Milvus Lite. Marking a row is therefore inserting its marked
copy and then deleting the original (primary keys are Milvus's own `row` ids), so a search may briefly see
both copies, which carry the same chunk id and are counted once, but never neither.

BM25: Milvus scores the same stems with k1 1.5 and b 0.75; its scores are the project's times (k1 + 1),
which is divided out, so lexical and hybrid rank alike on both engines. Its statistics count every row
not yet removed (as Lucene's do until a merge), so scores can differ slightly right after many updates.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from indexer.errors import IndexCorruptError, IndexNotFoundError, VersionNotKeptError
from indexer.manifest import ChunkingInfo, LexicalInfo, Manifest, ModelInfo
from indexer.storage.base import Snapshot
from indexer.storage.milvus.connection import Connection
from indexer.storage.milvus.schema import Names
from indexer.storage.milvus.snapshot import MilvusSnapshot
from indexer.storage.milvus.transaction import MilvusTransaction
from indexer.storage.milvus.versions import KEEP_SECONDS, MilvusVersions
from indexer.storage.settings import MILVUS_TIMEOUT_SECONDS, BackendName
from indexer.types import StoredDocument


class MilvusBackend:
    """An index kept in Milvus: collections named after `prefix` at `uri` (a server, or a Lite `.db` file)."""

    _locks: ClassVar[dict[tuple[str, str], threading.Lock]] = {}
    _locks_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        uri: str,
        prefix: str,
        *,
        token: str | None = None,
        timeout: float = MILVUS_TIMEOUT_SECONDS,
        keep_seconds: float = KEEP_SECONDS,
        log_dir: Path | None = None,
        originals: Path | None = None,
    ) -> None:
        """`originals`: the folder this index's kept files go in (None: it keeps none)."""
        self.uri = uri
        self.prefix = prefix
        self.keep_seconds = keep_seconds
        self.timeout = timeout
        self._token = token
        self._conn: Connection | None = None
        self._conn_lock = threading.Lock()
        self.log_dir = log_dir
        self._originals = originals
        self.versions = MilvusVersions(lambda: self.conn, uri, prefix, keep_seconds)
        with self._locks_guard:
            self._lock = self._locks.setdefault((uri, prefix), threading.Lock())

    @property
    def name(self) -> BackendName:
        """Which engine this is."""
        return BackendName.milvus

    @property
    def originals_root(self) -> Path | None:
        """Kept original files: Milvus keeps no files, so a folder on this machine (see `MilvusLayout`)."""
        return self._originals

    @property
    def location(self) -> str:
        """Where the index is."""
        return self.versions.location

    @property
    def conn(self) -> Connection:
        """The connection, opened on first use (a Lite file starts its server here)."""
        with self._conn_lock:
            if self._conn is None:
                self._conn = Connection(self.uri, self._token, self.timeout, log_dir=self.log_dir)
            return self._conn

    def open(self, reuse: Snapshot | None = None) -> MilvusSnapshot:
        """The committed version."""
        del reuse  # nothing is held in this process: Milvus keeps it
        return self._open(None)

    def open_version(self, version: int, reuse: Snapshot | None = None) -> MilvusSnapshot:
        """Kept version `version` (its rows stay while it is kept; VersionNotKeptError when it is not)."""
        del reuse
        return self._open(version)

    def _open(self, version: int | None) -> MilvusSnapshot:
        meta = self.versions.read_meta(version)
        if meta is None:
            raise self._no_index()
        generation, manifest = meta
        names = Names(self.prefix, generation)
        for name in (names.chunks, names.docs):
            if not self.versions.has(name):
                if version is not None:  # an older generation, dropped by a rebuild
                    raise VersionNotKeptError(f"index version {version} is not kept (the index was rebuilt since)")
                raise IndexCorruptError(f"{self.location}: collection {name} is missing; rebuild the index")
            self.conn.call(f"load {name}", self.conn.client.load_collection, name)
        return MilvusSnapshot(self.conn, names, manifest)

    def current_version(self) -> int | None:
        """The committed version's number (None: no index), read without its manifest."""
        return self.versions.current_version()

    def read_manifest(self) -> Manifest:
        """The committed manifest, from its row alone (opening the version would load its collections)."""
        meta = self.versions.read_meta()
        if meta is None:
            raise self._no_index()
        return meta[1]

    def _no_index(self) -> IndexNotFoundError:
        return IndexNotFoundError(
            f"no index in {self.location}. Build one with `python -m indexer build SRC --backend milvus`."
        )

    def recover(self) -> list[str]:
        """Undo what a writer that died left behind: rows of an uncommitted version, a half-built generation."""
        meta = self.versions.read_meta()
        if meta is None:
            return []
        generation, manifest = meta
        out = []
        with self.write_lock():
            for newer in (g for g in self.versions.generations() if g > generation):
                self.versions.drop_generation(newer)
                out.append(f"dropped uncommitted generation {newer}")
            touched = self.versions.remove_uncommitted(Names(self.prefix, generation), manifest.version)
            if touched:
                out.append(f"undid {touched} rows written after version {manifest.version}")
        return out

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer per index in this process. Milvus has no locks: run one writing process per index."""
        with self._lock:
            yield

    def transaction(
        self, base: Snapshot | None, model: ModelInfo, chunking: ChunkingInfo, lexical: LexicalInfo | None = None
    ) -> MilvusTransaction:
        """A write on top of `base` (None: a new generation)."""
        if base is not None and not isinstance(base, MilvusSnapshot):
            raise TypeError(f"the milvus engine cannot use a snapshot of another engine ({type(base).__name__})")
        return MilvusTransaction(self.versions, base, model, chunking, lexical)

    def needs_merge(self, snapshot: Snapshot) -> bool:
        """Never: Milvus compacts its segments itself."""
        return False

    def merge(
        self, base: Snapshot, lock: threading.Lock | None = None, stop: threading.Event | None = None
    ) -> Snapshot:
        """Nothing to do (Milvus compacts itself): `base`."""
        return base

    def merge_all_segments(self, base: Snapshot) -> Snapshot:
        """Nothing to do (Milvus compacts itself): `base`."""
        return base

    def legacy_api_documents(self) -> list[StoredDocument]:
        """None: Milvus indexes have one format so far."""
        return []

    def drop(self) -> None:
        """Drop every collection of the index, the manifest's first (see `MilvusVersions.drop_all`)."""
        with self.write_lock():
            self.versions.drop_all()
            if self._originals is not None:
                shutil.rmtree(self._originals, ignore_errors=True)

    def close(self) -> None:
        """Release this backend's share of the connection."""
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
