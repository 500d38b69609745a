"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import CollectionsDep
from service.engine import Status
from service.schemas import Health

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
async def readyz(collections: CollectionsDep) -> Health | JSONResponse:
    """200 once the default collection's model and index are loaded and a warm-up query has run (at once when
    there is no default collection: the others open on first use); 503 before (or on failure)."""
    engine = collections.default
    if engine is None or engine.status is Status.ready:
        return Health(status="ready")
    body = Health(status=engine.status.value, detail=engine.error or "loading model and index")
    return JSONResponse(status_code=503, content=body.model_dump())


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}},
    summary="Prometheus metrics",
)
async def metrics(request: Request) -> Response:
    """Request counts and latencies per route and status, search time per mode, shed requests, index size."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
