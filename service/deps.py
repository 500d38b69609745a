"""FastAPI dependencies: the settings, the collections, and the engine and gates of the collection a request
names (the default one on unprefixed routes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from anyio import to_thread
from fastapi import Depends, Path, Request

from indexer.collections import NAME_PATTERN
from indexer.embed.base import Embedder
from indexer.embed.cache import CachedEmbedder, VectorCache
from indexer.embed.runtime import load_embedder as load_runtime
from indexer.embed.runtime import load_server_embedder
from indexer.retrieval.searcher import Searcher
from service.admission import Admission
from service.auth import GrantDep
from service.collections import Collections
from service.engine import Engine
from service.settings import Settings


def load_embedder(settings: Settings) -> Embedder:
    """The production embedder, on the configured runtime, offline; for a server model, the server (its passages
    through the vector cache, so a folder build that stopped goes on)."""
    if (server := settings.server_options(settings.model)) is not None:
        return CachedEmbedder(load_server_embedder(server), VectorCache(settings.embed_cache))
    return load_runtime(
        settings.model,
        settings.runtime,
        cache_dir=settings.model_cache,
        threads=settings.inference_threads,
        device=settings.device,
        download=settings.allow_download,
    )


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_collections(request: Request) -> Collections:
    """The app's collections."""
    collections: Collections = request.app.state.collections
    return collections


CollectionsDep = Annotated[Collections, Depends(get_collections)]


def collection_path(
    collection: Annotated[
        str,
        Path(
            pattern=NAME_PATTERN,
            description="Collection name: letters, digits, '-' and '_' (the default collection is `default`).",
            examples=["default"],
        ),
    ],
) -> str:
    """Declares and checks the `{collection}` path parameter of the /collections/{collection}/... routes (the
    engine is found from the request's path by `get_grant`)."""
    return collection


async def get_engine(grant: GrantDep, collections: CollectionsDep) -> AsyncIterator[Engine]:
    """The engine of the request's collection, held open until the response is sent (opening it, the first
    time, loads its index in a worker thread); 404 when there is no such collection."""
    engine = collections.try_acquire(grant.collection)
    if engine is None:
        engine = await to_thread.run_sync(collections.acquire, grant.collection)
    try:
        yield engine
    finally:
        collections.release(grant.collection)


def get_searcher(engine: Annotated[Engine, Depends(get_engine)]) -> Searcher:
    """The current searcher (503 until ready)."""
    return engine.searcher


def get_admission(grant: GrantDep, collections: CollectionsDep, _: Annotated[Engine, Depends(get_engine)]) -> Admission:
    """The admission gates of the request's collection (after its engine: gates, and their metric series, are
    made for collections that exist only)."""
    return collections.admission(grant.collection)


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]
AdmissionDep = Annotated[Admission, Depends(get_admission)]
