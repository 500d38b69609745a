"""Version bookkeeping of a Milvus index: manifest rows, generations, and removing what no kept version sees.

Milvus has no transactions: a version is committed by inserting its manifest row (the highest is current); a
full rebuild writes a new generation of collections and switches to it the same way (see the package doc).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from indexer.errors import IndexCorruptError, VersionNotKeptError
from indexer.manifest import FORMAT_VERSION, Manifest
from indexer.storage.milvus.connection import IN_BATCH, Connection
from indexer.storage.milvus.expressions import in_list, row_data
from indexer.storage.milvus.schema import DOC_FIELDS, PLACEHOLDER, Names, chunk_fields, create_meta, forget_fields
from indexer.types import slices

# Rows a version can see stay while it is one of the last KEEP_VERSIONS or younger than KEEP_SECONDS: a read
# replica polls for new versions every second or so, and under a stream of writes it can hold a version many
# commits old for that long.
KEEP_VERSIONS = 8

KEEP_SECONDS = 300.0


class MilvusVersions:
    """The manifest rows and generations of the index named `prefix`, over a connection opened on first use."""

    def __init__(self, connect: Callable[[], Connection], uri: str, prefix: str, keep_seconds: float) -> None:
        self._connect = connect
        self.uri = uri
        self.prefix = prefix
        self.keep_seconds = keep_seconds

    @property
    def conn(self) -> Connection:
        """The connection (opened on first use)."""
        return self._connect()

    @property
    def location(self) -> str:
        """Where the index is, for messages."""
        return f"milvus {self.uri} collection {self.prefix}"

    @property
    def meta_collection(self) -> str:
        """The one-row collection holding the committed manifest."""
        return f"{self.prefix}_meta"

    def has(self, collection: str) -> bool:
        """Whether `collection` exists."""
        return bool(self.conn.timed("list collections", self.conn.client.has_collection, collection))

    def current_version(self) -> int | None:
        """The committed version's number (None: no index): the highest manifest row's, read without its
        manifest (replicas ask this every reload interval)."""
        if not self.has(self.meta_collection):
            return None
        versions = self.conn.query(self.meta_collection, "version >= 0", ["version"])
        return max((int(r["version"]) for r in versions), default=None)

    def read_meta(self, version: int | None = None) -> tuple[int, Manifest] | None:
        """(generation, manifest) of the committed version (or of kept version `version`: VersionNotKeptError
        when it is not kept), or None when there is none."""
        current = self.current_version()
        if current is None:
            return None
        wanted = current if version is None else version
        rows = self.conn.query(self.meta_collection, f"version == {wanted}", ["value"]) if wanted <= current else []
        if not rows and version is not None:
            raise VersionNotKeptError(
                f"index version {version} is not kept (the current one is {current}; Milvus keeps the last "
                f"{KEEP_VERSIONS} versions and those younger than {KEEP_SECONDS:g} s); search the current version"
            )
        if not rows:  # purged between the two queries by a newer commit
            return self.read_meta()
        try:
            raw = json.loads(rows[0]["value"])
            if raw["manifest"].get("format_version") != FORMAT_VERSION:
                raise IndexCorruptError(
                    f"{self.location} has format version {raw['manifest'].get('format_version')}; this program "
                    f"reads {FORMAT_VERSION}. Rebuild it with `python -m indexer build SRC --backend milvus`."
                )
            return int(raw["generation"]), Manifest.model_validate(raw["manifest"])
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"{self.location} has an unreadable manifest row ({exc}); rebuild it") from exc

    def write_meta(self, generation: int, manifest: Manifest) -> None:
        """Commit `manifest`: insert its row (readers take the highest version; `purge` drops old ones)."""
        if not self.has(self.meta_collection):
            create_meta(self.conn, self.meta_collection)
        value = json.dumps({"generation": generation, "manifest": json.loads(manifest.model_dump_json())})
        row = {"version": manifest.version, "committed_at": int(time.time() * 1000), "value": value}
        self.conn.insert(self.meta_collection, [{**row, "placeholder": PLACEHOLDER}])

    def generations(self) -> list[int]:
        """The generations that have collections, ascending."""
        names = self.conn.timed("list collections", self.conn.client.list_collections)
        pattern = re.compile(rf"^{re.escape(self.prefix)}_g(\d+)_(chunks|docs)$")
        return sorted({int(m.group(1)) for n in names if (m := pattern.match(n))})

    def drop_generation(self, generation: int) -> None:
        """Drop a generation's collections, if they exist."""
        names = Names(self.prefix, generation)
        for name in (names.chunks, names.docs):
            forget_fields(self.conn, name)
            if self.has(name):
                self.conn.call(f"drop {name}", self.conn.client.drop_collection, name)

    def drop_all(self) -> list[str]:
        """Drop the index: the manifest collection first (from then on there is no committed version, so a
        crash after it leaves only generations `recover` of the layout drops), then every generation."""
        dropped = []
        if self.has(self.meta_collection):
            self.conn.call(f"drop {self.meta_collection}", self.conn.client.drop_collection, self.meta_collection)
            dropped.append(self.meta_collection)
        for generation in self.generations():
            self.drop_generation(generation)
            dropped.append(f"generation {generation}")
        return dropped

    def remove_uncommitted(self, names: Names, version: int) -> int:
        """Undo writes numbered past the committed `version` (a writer that died); how many rows they touched."""
        touched = 0
        keys = ((names.chunks, ["chunk_id"]), (names.docs, ["doc_id", "version", "part"]))
        for collection, identity in keys:
            added = self.conn.count(collection, f"version > {version}")
            if added:
                self.conn.delete(collection, f"version > {version}")
            fields = ["row", *(chunk_fields(self.conn, collection) if collection == names.chunks else DOC_FIELDS)]
            marked = list(self.conn.scan(collection, f"deleted_at > {version}", fields))
            if marked:
                # The writer may have died between inserting a marked copy and deleting the original.
                kept: set[tuple[Any, ...]] = set()
                for part in slices(sorted({r[identity[0]] for r in marked}), IN_BATCH):
                    originals = self.conn.scan(
                        collection, f"deleted_at == 0 and {in_list(identity[0], part)}", identity
                    )
                    kept.update(tuple(r[f] for f in identity) for r in originals)
                lost = {tuple(r[f] for f in identity): r for r in marked if tuple(r[f] for f in identity) not in kept}
                self.conn.insert(collection, [{**row_data(r), "deleted_at": 0} for r in lost.values()])
                for part in slices([int(r["row"]) for r in marked], IN_BATCH):
                    self.conn.delete(collection, in_list("row", part))
            touched += added + len(marked)
        return touched

    def purge(self, names: Names, version: int, *, keep_previous: bool) -> None:
        """Remove rows no kept version can see (see KEEP_VERSIONS), the manifests of versions no longer kept,
        and older generations (the previous one survives the commit that replaced it until the next)."""
        young = int((time.time() - self.keep_seconds) * 1000)
        rows = self.conn.query(self.meta_collection, "version >= 0", ["version", "committed_at"])
        kept = [int(r["version"]) for r in rows if r["version"] > version - KEEP_VERSIONS or r["committed_at"] >= young]
        oldest = min(kept, default=version)
        # A reader of version `oldest` sees only rows deleted after it: the rest no kept version can see.
        for collection in (names.chunks, names.docs):
            self.conn.delete(collection, f"deleted_at > 0 and deleted_at <= {oldest}")
        self.conn.delete(self.meta_collection, f"version < {oldest}")
        for generation in self.generations():
            if generation < names.generation - (1 if keep_previous else 0):
                self.drop_generation(generation)
