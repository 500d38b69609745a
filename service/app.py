"""The FastAPI application factory. Nothing heavy happens at import: the model and index load in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator

from anyio import to_thread
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Route

from indexer import __version__
from indexer.building.watch import FolderWatcher
from indexer.errors import IndexerError
from indexer.ingest.read_options import ReadOptions
from service.admission import admission_for
from service.collections import Collections
from service.deps import collection_path, load_embedder
from service.engine import Engine, Status
from service.errors import install_error_handlers
from service.keys import KeyRing
from service.limits import BodySizeLimitMiddleware
from service.mcp_server import McpAuth, build_mcp
from service.memory import limit_arenas
from service.metrics import Metrics, install_metrics
from service.models import EmbedderFactory, Models
from service.routes import collections as collections_routes
from service.routes import documents, health, page, search, stats, view
from service.routes.view import viewer_for
from service.settings import Settings

log = logging.getLogger(__name__)

COLLECTION_PREFIX = "/collections/{collection}"

DESCRIPTION = """
Ask natural-language questions over a document collection and get ranked passages back.

* **hybrid** (default) fuses dense (MiniLM cosine) and lexical (BM25) rankings by reciprocal rank fusion;
  every hit shows both component scores and ranks.
* Each passage carries its document id, title, source file and character offsets in the cleaned text.
"""


async def _watch(collections: Collections, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await to_thread.run_sync(collections.refresh)
        except (IndexerError, OSError, RuntimeError, sqlite3.Error) as exc:
            # A version pruned between reading CURRENT and opening its files (faiss raises RuntimeError,
            # SQLite its own errors): the watcher must survive, and the next round sees the newer version.
            log.warning("index refresh failed, retrying in %.1f s: %s", interval, exc)


def _folder_watcher(engine: Engine | None, settings: Settings) -> FolderWatcher | None:
    """SEEKR_WATCH: what applies the source folder's changes through the default collection's engine (None:
    nothing to watch)."""
    if not settings.watch:
        return None
    if settings.source_dir is None or engine is None:
        log.warning("SEEKR_WATCH is set without SEEKR_SOURCE_DIR: there is no folder to watch")
        return None
    return FolderWatcher(
        settings.source_dir,
        engine.sync_folder,
        read=ReadOptions(settings.cleaning, settings.ocr_settings()),
        max_file_bytes=int(settings.max_file_mb * 2**20),
        settle_ms=settings.watch_settle_ms,
        poll=settings.watch_poll,
        on_build=lambda r: log.info(
            "watch: index version %d (%d added, %d updated, %d deleted, %d skipped)",
            r.version,
            r.added,
            r.updated,
            r.deleted,
            len(r.skipped),
        ),
    )


async def _run_watcher(engine: Engine, watcher: FolderWatcher) -> None:
    """Once the engine is ready, watch in a thread (searches never wait) until `watcher.stop` is set."""
    while engine.status is Status.loading:
        await asyncio.sleep(0.1)
    if engine.status is Status.ready and not watcher.stop.is_set():
        log.info("watching %s for changes", watcher.source)
        try:
            await to_thread.run_sync(watcher.run)
        except (IndexerError, OSError) as exc:  # e.g. the folder was removed, or the disk is full
            log.error("stopped watching %s: %s", watcher.source, exc)


def create_app(settings: Settings | None = None, embedder_factory: EmbedderFactory | None = None) -> FastAPI:
    """Build the app. `settings` default to the environment; `embedder_factory` to the real model."""
    settings = settings or Settings()
    limit_arenas()  # before the thread pool and the model's threads start allocating
    keys = KeyRing(settings)  # an invalid keys file stops the start here, with the reason
    registry_metrics = Metrics.create()
    models = Models(settings, embedder_factory or load_embedder, on_batch=registry_metrics.query_batch.observe)
    collections = Collections(
        settings,
        models,
        admission_for(settings, registry_metrics),
        on_index=registry_metrics.observe_index,
        on_close=registry_metrics.forget,
    )
    registry_metrics.open_collections.set_function(lambda: len(collections.open_names()))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # No collection, or a default one made with another model, refuses to start, with the reason, before
        # anything loads.
        manifest = await to_thread.run_sync(collections.start)
        if manifest is not None:
            log.info("serving %s, default collection version %d", collections.catalog.location, manifest.version)
        # The model loads in a worker thread; /readyz says 503 until it and a warm-up query are done.
        task = asyncio.create_task(to_thread.run_sync(collections.load_default))
        # Other workers or processes may commit versions: look for a new one every reload_interval.
        watcher = asyncio.create_task(_watch(collections, settings.reload_interval))
        folder_watcher = _folder_watcher(collections.default, settings)
        folder = (
            asyncio.create_task(_run_watcher(collections.default, folder_watcher))
            if folder_watcher and collections.default
            else None
        )
        try:
            # The MCP endpoint's transport (stateless: each request carries its own key) lives as long as the app.
            async with mcp.session_manager.run():
                yield
        finally:
            if folder_watcher is not None and folder is not None:
                # Stopped, not cancelled: a build under way finishes before the engine closes under it.
                folder_watcher.stop.set()
                await folder
            for t in (watcher, task):
                if not t.done():
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
            collections.close()

    app = FastAPI(title="seekr semantic search", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.keys = keys
    app.state.collections = collections
    app.state.viewer = viewer_for(settings)
    app.state.metrics = registry_metrics
    install_metrics(app, registry_metrics)
    # Every response carries X-Request-ID (the client's, if it sent a valid one); logs carry it too.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")
    # A collection's routes: unprefixed for the default collection (as before collections), and under
    # /collections/{collection} for any.
    scoped = (search.router, view.router, documents.router, stats.router)  # view's paths before documents' ids
    unscoped = (collections_routes.router, health.router, page.router)
    for router in (*scoped, *unscoped):
        app.include_router(router)
    for router in scoped:
        app.include_router(router, prefix=COLLECTION_PREFIX, dependencies=[Depends(collection_path)])
    # MCP at /mcp: the same keys (McpAuth), admission gates, body limit and metrics as the routes above.
    mcp = build_mcp(collections, settings, app.state.viewer, registry_metrics)
    transport = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=True,
        max_request_body_size=settings.max_body_bytes,
        host=settings.host,
    )
    for route in transport.routes:
        if isinstance(route, Route) and route.path == "/mcp":
            app.router.routes.append(Route("/mcp", endpoint=McpAuth(route.app, keys), include_in_schema=False))
    paths = [
        (prefix + route.path, route.methods or set())
        for prefix, routers in (("", (*scoped, *unscoped)), (COLLECTION_PREFIX, scoped))
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    install_error_handlers(app, paths)
    return app
