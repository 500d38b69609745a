"""Picks the engine a setting names: the one module that knows every engine, above all of them."""

from __future__ import annotations

from pathlib import Path

from indexer.storage.base import Backend
from indexer.storage.local import LocalBackend
from indexer.storage.settings import BackendName, StorageSettings


def open_backend(settings: StorageSettings) -> Backend:
    """The engine `settings` name (Milvus's client is imported only when asked for)."""
    if settings.backend is BackendName.milvus:
        from indexer.storage.milvus import MilvusBackend

        token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
        return MilvusBackend(
            settings.milvus_uri,
            settings.milvus_collection,
            token=token,
            timeout=settings.milvus_timeout,
            log_dir=settings.milvus_log_dir,
        )
    return LocalBackend(settings.index_dir, search_threads=settings.faiss_threads)


def as_backend(target: Path | Backend) -> Backend:
    """`target` itself, or the local engine at directory `target`."""
    if isinstance(target, Path):
        return LocalBackend(target)
    return target
