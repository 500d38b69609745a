"""The catalog: the named collections of one data directory (or Milvus prefix), above the storage factory.

Each collection is an index of its own (manifest, segments, locks and versions), with its own model, chunking
and cleaning recorded in its manifest. The catalog lists, creates and drops them; creating and dropping are
serialised by the layout's lock and crash-safe (see `indexer.storage.base.Layout`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from indexer.analysis import AUTO
from indexer.collections import DEFAULT_COLLECTION, check_name, not_found
from indexer.errors import CollectionExistsError, IndexNotFoundError, LastCollectionError
from indexer.manifest import ChunkingInfo, Manifest, ModelInfo
from indexer.storage.base import Backend, Layout, new_lexical
from indexer.storage.factory import open_layout
from indexer.storage.originals import originals_at
from indexer.storage.settings import BackendName, StorageSettings


@dataclass(frozen=True)
class CollectionInfo:
    """What a collection holds and was made with, from its committed manifest."""

    name: str
    engine: BackendName
    manifest: Manifest


def _differences(manifest: Manifest, model: ModelInfo, chunking: ChunkingInfo) -> list[str]:
    old = manifest.model
    have = (
        old.id,
        old.query_prompt,
        old.passage_prompt,
        manifest.chunking.chunk_tokens,
        manifest.chunking.overlap_tokens,
    )
    want = model.id, model.query_prompt, model.passage_prompt, chunking.chunk_tokens, chunking.overlap_tokens
    names = ("model", "query_prompt", "passage_prompt", "chunk_tokens", "overlap_tokens", "cleaning")
    pairs = zip(names, (*have, manifest.chunking.cleaning), (*want, chunking.cleaning), strict=True)
    differences = [f"{name} {old!r} (asked: {new!r})" for name, old, new in pairs if old != new]
    if old.reranker != model.reranker:
        describe = [r.describe() if r else None for r in (old.reranker, model.reranker)]
        differences.append(f"reranker {describe[0]!r} (asked: {describe[1]!r})")
    return differences


class Catalog:
    """The collections a layout keeps."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    @property
    def engine(self) -> BackendName:
        """Which engine keeps the collections."""
        return self.layout.name

    @property
    def location(self) -> str:
        """Where the collections are."""
        return self.layout.location

    def names(self) -> list[str]:
        """Every collection, sorted."""
        return self.layout.names()

    def exists(self, name: str) -> bool:
        """Whether collection `name` exists (False for an invalid name)."""
        return check_name(name) in self.names()

    def backend(self, name: str) -> Backend:
        """The index of existing collection `name`; CollectionNotFoundError when there is none."""
        if not self.exists(name):
            raise not_found(name)
        return self.layout.backend(name)

    def target(self, name: str) -> Backend:
        """The index of collection `name`, existing or not: a build into it creates it."""
        return self.layout.backend(check_name(name))

    def info(self, name: str) -> CollectionInfo:
        """Collection `name`'s committed manifest; CollectionNotFoundError when there is none. Read straight from
        its index (no listing of every collection first: a list of N collections reads N manifests, not N lists)."""
        backend = self.layout.backend(check_name(name))
        try:
            return CollectionInfo(name, self.engine, backend.read_manifest())
        except IndexNotFoundError as exc:
            raise not_found(name) from exc
        finally:
            backend.close()

    def create(
        self, name: str, model: ModelInfo, chunking: ChunkingInfo, language: str = AUTO, keep_originals: bool = False
    ) -> bool:
        """Create an empty collection made with `model`, `chunking`, analysed in `language` and keeping the files
        sent over HTTP if `keep_originals`: True when created, False when it exists with these settings already;
        CollectionExistsError when it exists with others (ConfigError: the engine has no folder for files)."""
        check_name(name)
        with self.layout.lock():
            if name in self.names():
                backend = self.layout.backend(name)
                try:
                    manifest = backend.read_manifest()
                finally:
                    backend.close()
                diff = _differences(manifest, model, chunking)
                if manifest.lexical.language != language:
                    diff.append(f"language {manifest.lexical.language} (asked: {language})")
                if manifest.keep_originals != keep_originals:
                    diff.append(f"keep_originals {manifest.keep_originals} (asked: {keep_originals})")
                if diff:
                    raise CollectionExistsError(
                        f"collection {name!r} exists with other settings: {', '.join(diff)}. Use it as it is, pick "
                        "another name, or drop it first (DELETE /collections/{name})"
                    )
                return False
            backend = self.layout.backend(name)
            try:
                if keep_originals:
                    originals_at(backend.originals_root)  # refused before anything is made
                with backend.write_lock():
                    # Its first version, empty: from this commit on the collection exists (see Layout).
                    tx = backend.transaction(None, model, chunking, new_lexical(language))
                    tx.keep_originals(keep_originals)
                    tx.commit()
            finally:
                backend.close()
            return True

    @contextmanager
    def dropping(self, name: str) -> Iterator[None]:
        """Check that `name` may be dropped, hold the catalog lock for the body (the caller closes what it has
        open of the collection there), then drop it. CollectionNotFoundError, or LastCollectionError for the
        only collection left."""
        with self.layout.lock():
            names = self.names()
            if check_name(name) not in names:
                raise not_found(name)
            if names == [name]:
                which = "the default collection" if name == DEFAULT_COLLECTION else f"collection {name!r}"
                raise LastCollectionError(
                    f"{which} is the only one left and a service needs one; create another "
                    "(PUT /collections/{name}) before dropping it"
                )
            yield
            self.layout.drop(name)

    def drop(self, name: str) -> None:
        """Drop collection `name` (see `dropping`)."""
        with self.dropping(name):
            pass

    def recover(self) -> list[str]:
        """Finish or undo creates and drops cut short (see `Layout.recover`)."""
        with self.layout.lock():
            return self.layout.recover()

    def close(self) -> None:
        """Release the layout."""
        self.layout.close()


def open_catalog(settings: StorageSettings) -> Catalog:
    """The catalog of the data directory (or Milvus prefix) `settings` name."""
    return Catalog(open_layout(settings))
