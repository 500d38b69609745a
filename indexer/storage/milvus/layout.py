"""Many collections in one Milvus: the default collection's index under the name prefix P
(`SEEKR_MILVUS_COLLECTION`, so an index made before collections existed is the default one, unchanged), every
other one under `P_col_<name>`, the name written with `_` doubled and `-` as `_0` (Milvus names take neither
'-' nor every other spelling apart).

A collection exists once its manifest collection holds a committed version: creating one commits its first
version, dropping one drops the manifest collection first. Either cut short leaves collections of a prefix
without a committed version, which `recover` drops.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from indexer.collections import DEFAULT_COLLECTION, check_name, is_name
from indexer.storage.milvus.backend import MilvusBackend
from indexer.storage.milvus.connection import Connection
from indexer.storage.milvus.versions import KEEP_SECONDS, MilvusVersions
from indexer.storage.settings import MILVUS_TIMEOUT_SECONDS, BackendName

_SUFFIX = r"_(?:meta|g\d+_chunks|g\d+_docs)$"


def encode(name: str) -> str:
    """`name` spelled in the letters Milvus takes, reversibly."""
    return name.replace("_", "__").replace("-", "_0")


def decode(encoded: str) -> str | None:
    """The name `encode` spelled as `encoded`; None when no name is."""
    out, i = [], 0
    while i < len(encoded):
        if encoded[i] != "_":
            out.append(encoded[i])
            i += 1
        elif encoded[i + 1 : i + 2] == "_":
            out.append("_")
            i += 2
        elif encoded[i + 1 : i + 2] == "0":
            out.append("-")
            i += 2
        else:
            return None
    name = "".join(out)
    return name if is_name(name) and encode(name) == encoded else None


class MilvusLayout:
    """The collections of prefix `base` at `uri`."""

    _locks: ClassVar[dict[tuple[str, str], threading.Lock]] = {}
    _locks_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        uri: str,
        base: str,
        *,
        token: str | None = None,
        timeout: float = MILVUS_TIMEOUT_SECONDS,
        keep_seconds: float = KEEP_SECONDS,
        log_dir: Path | None = None,
        originals: Path | None = None,
    ) -> None:
        """`originals`: the folder of every collection's kept files, one folder per prefix (None: none kept)."""
        self.uri = uri
        self.base = base
        self._token = token
        self._timeout = timeout
        self._keep_seconds = keep_seconds
        self._log_dir = log_dir
        self._originals = originals
        self._conn: Connection | None = None
        self._conn_lock = threading.Lock()
        with self._locks_guard:
            self._lock = self._locks.setdefault((uri, base), threading.Lock())

    @property
    def name(self) -> BackendName:
        """Which engine this is."""
        return BackendName.milvus

    @property
    def location(self) -> str:
        """The Milvus address and the prefix."""
        return f"milvus {self.uri} prefix {self.base}"

    @property
    def conn(self) -> Connection:
        """The layout's connection, opened on first use."""
        with self._conn_lock:
            if self._conn is None:
                self._conn = Connection(self.uri, self._token, self._timeout, log_dir=self._log_dir)
            return self._conn

    def prefix(self, collection: str) -> str:
        """The name prefix of `collection`'s Milvus collections."""
        if collection == DEFAULT_COLLECTION:
            return self.base
        return f"{self.base}_col_{encode(check_name(collection))}"

    def _versions(self, prefix: str) -> MilvusVersions:
        return MilvusVersions(lambda: self.conn, self.uri, prefix, self._keep_seconds)

    def _prefixes(self) -> dict[str, str]:
        """collection -> prefix of every collection that has any Milvus collection, committed or not."""
        listed = self.conn.timed("list collections", self.conn.client.list_collections)
        out: dict[str, str] = {}
        default = re.compile(rf"^{re.escape(self.base)}{_SUFFIX}")
        named = re.compile(rf"^{re.escape(self.base)}_col_(.+?){_SUFFIX}")
        for item in listed:
            if default.match(item):
                out[DEFAULT_COLLECTION] = self.base
            elif (m := named.match(item)) and (name := decode(m.group(1))) is not None:
                out[name] = self.prefix(name)
        return out

    def names(self) -> list[str]:
        """The collections with a committed version."""
        return sorted(n for n, p in self._prefixes().items() if self._versions(p).current_version() is not None)

    def backend(self, collection: str) -> MilvusBackend:
        """The index of `collection`."""
        return MilvusBackend(
            self.uri,
            self.prefix(collection),
            token=self._token,
            timeout=self._timeout,
            keep_seconds=self._keep_seconds,
            log_dir=self._log_dir,
            originals=self._originals / self.prefix(collection) if self._originals is not None else None,
        )

    def drop(self, collection: str) -> None:
        """Drop the collection's Milvus collections, its manifest's first."""
        backend = self.backend(collection)
        try:
            backend.drop()
        finally:
            backend.close()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """A lock in this process (Milvus has none: run one process that creates and drops per prefix)."""
        with self._lock:
            yield

    def recover(self) -> list[str]:
        """Drop the Milvus collections of every prefix without a committed version."""
        out = []
        for name, prefix in sorted(self._prefixes().items()):
            versions = self._versions(prefix)
            if versions.current_version() is None:
                versions.drop_all()
                out.append(f"removed uncommitted collection {name}")
        return out

    def close(self) -> None:
        """Give the connection back."""
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
