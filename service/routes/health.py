"""Liveness, readiness and statistics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from indexer import __version__
from service.deps import EngineDep, SearcherDep, SettingsDep
from service.engine import Status
from service.errors import error_responses
from service.schemas import Health, Stats

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process is up")
async def healthz() -> Health:
    """Always 200 while the process serves HTTP."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Still loading, or loading failed"}},
    summary="Readiness: model and index loaded, warm-up query done",
)
async def readyz(engine: EngineDep) -> Health | JSONResponse:
    """200 once the model and index are loaded and a warm-up query has run; 503 before (or on failure)."""
    if engine.status is Status.ready:
        return Health(status="ready")
    body = Health(status=engine.status.value, detail=engine.error or "loading model and index")
    return JSONResponse(status_code=503, content=body.model_dump())


@router.get("/stats", response_model=Stats, responses=error_responses(503), summary="What is being served")
async def stats(searcher: SearcherDep, settings: SettingsDep, engine: EngineDep) -> Stats:
    """Model, index version, document and chunk counts, build time."""
    m = searcher.snapshot.manifest
    return Stats(
        model=m.model.id,
        dimension=m.model.dimension,
        runtime=searcher.runtime,
        index_runtime=m.model.runtime,
        backend=settings.backend.value,
        index_dir=engine.location,
        index_version=m.version,
        documents=m.counts.documents,
        chunks=m.counts.chunks,
        segments=len(m.segments),
        ann_segments=sum(1 for s in m.segments if s.hnsw),
        deleted_chunks=sum(s.deleted_chunks for s in m.segments),
        chunk_tokens=m.chunking.chunk_tokens,
        overlap_tokens=m.chunking.overlap_tokens,
        built_at=m.created_at,
        build_seconds=m.build_seconds,
        package_version=__version__,
        source_files=m.source.files if m.source else None,
        source_pages=m.source.pages if m.source else None,
        skipped=dict(m.source.skipped) if m.source else {},
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}},
    summary="Prometheus metrics",
)
async def metrics(request: Request) -> Response:
    """Request counts and latencies per route and status, search time per mode, shed requests, index size."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
