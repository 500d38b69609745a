"""Many collections in one directory: the default collection's index at the top (so an index built before
collections existed is the default one, unchanged), every other one in `collections/<name>/`.

Layout::

    DIR/CURRENT, DIR/v*/, DIR/segments/   the default collection (see `indexer.storage.local.versions`)
    DIR/collections/<name>/               one more collection, the same layout
    DIR/.catalog.lock                     held while a collection is created or dropped

A collection exists once its CURRENT does: creating one commits its first version, dropping one removes
CURRENT first. Either cut short leaves a folder without CURRENT, which `recover` removes.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
from collections.abc import Iterator
from pathlib import Path

from indexer.collections import DEFAULT_COLLECTION, check_name, is_name
from indexer.errors import IndexLockedError, IndexReadOnlyError
from indexer.storage.local.backend import LocalBackend
from indexer.storage.local.versions import CURRENT_FILE, clear, has_leftovers
from indexer.storage.settings import BackendName

COLLECTIONS_DIR = "collections"
CATALOG_LOCK = ".catalog.lock"


class LocalLayout:
    """The collections under directory `root`."""

    def __init__(self, root: Path, *, search_threads: int | None = None) -> None:
        self.root = root
        self.search_threads = search_threads

    @property
    def name(self) -> BackendName:
        """Which engine this is."""
        return BackendName.local

    @property
    def location(self) -> str:
        """The data directory."""
        return str(self.root)

    def path(self, collection: str) -> Path:
        """The index directory of `collection`."""
        if collection == DEFAULT_COLLECTION:
            return self.root
        return self.root / COLLECTIONS_DIR / check_name(collection)

    def names(self) -> list[str]:
        """The collections with a committed version."""
        out = [DEFAULT_COLLECTION] if (self.root / CURRENT_FILE).is_file() else []
        folder = self.root / COLLECTIONS_DIR
        if folder.is_dir():
            out += [
                child.name
                for child in folder.iterdir()
                if is_name(child.name) and child.name != DEFAULT_COLLECTION and (child / CURRENT_FILE).is_file()
            ]
        return sorted(out)

    def backend(self, collection: str) -> LocalBackend:
        """The index of `collection`."""
        return LocalBackend(self.path(collection), search_threads=self.search_threads)

    def drop(self, collection: str) -> None:
        """Remove the collection's index (CURRENT first), then its folder (the default's holds the others)."""
        self.backend(collection).drop()
        if collection != DEFAULT_COLLECTION:
            shutil.rmtree(self.path(collection), ignore_errors=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The catalog lock (an flock: other processes creating or dropping wait; the OS frees it on a crash)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fh = (self.root / CATALOG_LOCK).open("a")
        except PermissionError as exc:
            raise IndexReadOnlyError(
                f"cannot create or drop collections in {self.root}: permission denied; give this process write "
                "access to it"
            ) from exc
        with fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            yield

    def recover(self) -> list[str]:
        """Remove folders without a committed version (a create or drop cut short), unless a writer holds one
        (a first build under way)."""
        out: list[str] = []
        candidates = [(DEFAULT_COLLECTION, self.root)]
        folder = self.root / COLLECTIONS_DIR
        if folder.is_dir():
            candidates += [(child.name, child) for child in sorted(folder.iterdir()) if child.is_dir()]
        for name, path in candidates:
            if name == DEFAULT_COLLECTION and path == self.root:
                if not has_leftovers(path):
                    continue
            elif (path / CURRENT_FILE).is_file():
                continue
            try:
                clear(path)
            except (IndexLockedError, IndexReadOnlyError):
                continue  # a build under way, or nobody here can have written it
            if path != self.root:
                shutil.rmtree(path, ignore_errors=True)
            out.append(f"removed uncommitted collection {name}")
        return out

    def close(self) -> None:
        """Nothing is held."""
