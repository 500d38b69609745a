"""The FastAPI application factory. Nothing heavy happens at import: the model and index load in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator

from anyio import to_thread
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from starlette.routing import Route

from indexer import __version__
from indexer.build.watch import FolderWatcher
from indexer.errors import IndexerError
from service.admission import Admission, Gate
from service.deps import load_embedder
from service.engine import EmbedderFactory, Engine, Status
from service.errors import install_error_handlers
from service.limits import BodySizeLimitMiddleware
from service.mcp_server import McpAuth, build_mcp
from service.memory import limit_arenas
from service.metrics import install_metrics
from service.routes import documents, health, page, search
from service.settings import Settings

log = logging.getLogger(__name__)

DESCRIPTION = """
Ask natural-language questions over a document collection and get ranked passages back.

* **hybrid** (default) fuses dense (MiniLM cosine) and lexical (BM25) rankings by reciprocal rank fusion;
  every hit shows both component scores and ranks.
* Each passage carries its document id, title, source file and character offsets in the cleaned text.
"""


async def _watch(engine: Engine, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await to_thread.run_sync(engine.refresh)
        except (IndexerError, OSError, RuntimeError, sqlite3.Error) as exc:
            # A version pruned between reading CURRENT and opening its files (faiss raises RuntimeError,
            # SQLite its own errors): the watcher must survive, and the next round sees the newer version.
            log.warning("index refresh failed, retrying in %.1f s: %s", interval, exc)


def _folder_watcher(engine: Engine, settings: Settings) -> FolderWatcher | None:
    """SEEKR_WATCH: what applies the source folder's changes through the engine (None: nothing to watch)."""
    if not settings.watch:
        return None
    if settings.source_dir is None:
        log.warning("SEEKR_WATCH is set without SEEKR_SOURCE_DIR: there is no folder to watch")
        return None
    return FolderWatcher(
        settings.source_dir,
        engine.sync_folder,
        cleaning=settings.cleaning,
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
    engine = Engine(settings, embedder_factory or load_embedder)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A missing index or a model mismatch refuses to start, with the reason, before anything loads.
        manifest = engine.precheck()
        log.info("serving index %s version %d", engine.location, manifest.version)
        # The model loads in a worker thread; /readyz says 503 until it and a warm-up query are done.
        task = asyncio.create_task(to_thread.run_sync(engine.load))
        # Other workers or processes may commit versions: look for a new one every reload_interval.
        watcher = asyncio.create_task(_watch(engine, settings.reload_interval))
        folder_watcher = _folder_watcher(engine, settings)
        folder = asyncio.create_task(_run_watcher(engine, folder_watcher)) if folder_watcher else None
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
            engine.close()

    app = FastAPI(title="seekr semantic search", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.metrics = metrics = install_metrics(app)
    gauges = (metrics.shed, metrics.in_flight, metrics.queued)
    retry = settings.retry_after_seconds
    app.state.admission = Admission(
        search=Gate("search", settings.max_concurrent_searches, settings.max_queued_searches, retry, *gauges),
        write=Gate("write", settings.max_concurrent_writes, settings.max_queued_writes, retry, *gauges),
    )
    engine.on_ready = app.state.metrics.observe_index
    engine.on_batch = app.state.metrics.query_batch.observe
    # Every response carries X-Request-ID (the client's, if it sent a valid one); logs carry it too.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")
    routers = (search.router, documents.router, health.router, page.router)
    for router in routers:
        app.include_router(router)
    # MCP at /mcp: the same keys (McpAuth), admission gates, body limit and metrics as the routes above.
    mcp = build_mcp(engine, settings, app.state.admission, metrics)
    transport = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=True,
        max_request_body_size=settings.max_body_bytes,
        host=settings.host,
    )
    for route in transport.routes:
        if isinstance(route, Route) and route.path == "/mcp":
            app.router.routes.append(Route("/mcp", endpoint=McpAuth(route.app, settings), include_in_schema=False))
    install_error_handlers(app, [route for router in routers for route in router.routes])
    return app
