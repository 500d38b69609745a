"""Picks the engine a setting names: the one module that knows every engine, above all of them."""

from __future__ import annotations

from pathlib import Path

from indexer.collections import DEFAULT_COLLECTION
from indexer.storage.base import Backend, Layout
from indexer.storage.local import LocalBackend
from indexer.storage.local.layout import LocalLayout
from indexer.storage.settings import BackendName, StorageSettings, milvus_originals


def open_layout(settings: StorageSettings) -> Layout:
    """Where the engine `settings` name keeps its collections (Milvus's client is imported only when asked for)."""
    if settings.backend is BackendName.milvus:
        from indexer.storage.milvus.layout import MilvusLayout

        token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
        return MilvusLayout(
            settings.milvus_uri,
            settings.milvus_collection,
            token=token,
            timeout=settings.milvus_timeout,
            log_dir=settings.milvus_log_dir,
            originals=milvus_originals(settings.milvus_uri, settings.originals_dir),
        )
    return LocalLayout(settings.root, search_threads=settings.faiss_threads)


def open_backend(settings: StorageSettings, collection: str | None = None) -> Backend:
    """The index of `collection` (None: the default one) in the engine `settings` name."""
    layout = open_layout(settings)
    try:
        return layout.backend(collection or DEFAULT_COLLECTION)
    finally:
        layout.close()


def as_backend(target: Path | Backend) -> Backend:
    """`target` itself, or the local engine at directory `target`."""
    if isinstance(target, Path):
        return LocalBackend(target)
    return target
