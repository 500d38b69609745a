"""GET and POST /search."""

from __future__ import annotations

import json
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Body, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints, ValidationError

from indexer.retrieval.fusion import Fusion
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from service.admission import Admission
from service.auth import ReadAccess
from service.deps import AdmissionDep, SearcherDep
from service.errors import error_responses
from service.schemas import (
    EXAMPLE_QUERY,
    MaxPerDoc,
    MetaParam,
    MetaValue,
    QueryText,
    SearchRequest,
    SearchResponse,
    TopK,
)

router = APIRouter(tags=["search"])


async def _run(request: Request, searcher: Searcher, admission: Admission, req: SearchRequest) -> SearchResponse:
    # Encoding and FAISS/SQLite search are CPU-bound: run them in the thread pool, off the event loop, once
    # admission control grants a slot (429 at once when the queue is full).
    where = req.filters.to_filter() if req.filters else None
    async with admission.search.admit():
        result = await to_thread.run_sync(
            lambda: searcher.search(
                req.query,
                k=req.k,
                mode=req.mode,
                min_score=req.min_score,
                max_per_doc=req.max_per_doc,
                where=where,
                highlight=req.highlight,
                fusion=req.fusion,
                dense_weight=req.dense_weight,
            )
        )
    request.app.state.metrics.search_seconds.labels(mode=req.mode.value).observe(result.took_ms / 1000)
    return SearchResponse.from_result(result)


@router.get(
    "/search",
    response_model=SearchResponse,
    responses=error_responses(401, 422, 429, 503),
    summary="Search (query string)",
)
async def search_get(
    request: Request,
    searcher: SearcherDep,
    admission: AdmissionDep,
    _: ReadAccess,
    q: Annotated[QueryText, Query(description="The question.", examples=[EXAMPLE_QUERY])],
    k: Annotated[TopK, Query(description="Number of passages (1..100).")] = 5,
    mode: Annotated[Mode, Query(description="dense, lexical or hybrid.")] = Mode.hybrid,
    fusion: Annotated[
        Fusion | None, Query(description="Hybrid only: dbsf or rrf (default: the server's, dbsf).")
    ] = None,
    dense_weight: Annotated[
        float | None,
        Query(ge=0, le=1, allow_inf_nan=False, description="Hybrid dbsf only: the dense share, 0..1 (default 0.5)."),
    ] = None,
    min_score: Annotated[
        float | None, Query(allow_inf_nan=False, description="Drop hits below this score (mode's scale).")
    ] = None,
    max_per_doc: Annotated[MaxPerDoc | None, Query(description="At most this many passages per document.")] = None,
    source: Annotated[str | None, Query(min_length=1, description="Only sources starting with this path.")] = None,
    doc_id: Annotated[
        list[Annotated[str, StringConstraints(min_length=1)]] | None,
        Query(max_length=1000, description="Only these document ids (repeat the parameter, at most 1000)."),
    ] = None,
    meta: Annotated[
        list[MetaParam] | None,
        Query(
            description="Metadata filter `key:value` (repeatable); the value is read as JSON when it parses "
            '(year:2024 is the number 2024, year:"2024" the text), else as text.'
        ),
    ] = None,
    highlight: Annotated[bool, Query(description="Mark the best-matching sentence of each passage.")] = True,
) -> SearchResponse:
    """Ranked passages for `q`. Each result carries its dense and lexical scores and ranks."""
    filters = None
    if source is not None or doc_id is not None or meta:
        filters = {"source": source, "doc_id": doc_id, "metadata": _parse_meta(meta or [])}
    params = {
        "query": q,
        "k": k,
        "mode": mode,
        "fusion": fusion,
        "dense_weight": dense_weight,
        "min_score": min_score,
        "max_per_doc": max_per_doc,
    }
    try:  # the query-string parameters were checked one by one; the request model checks them together
        req = SearchRequest.model_validate({**params, "filters": filters, "highlight": highlight})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    return await _run(request, searcher, admission, req)


def _reject_constant(name: str) -> object:
    raise ValueError(name)  # NaN and Infinity are not JSON numbers: such a value is text


def _parse_meta(items: list[str]) -> dict[str, MetaValue]:
    out: dict[str, MetaValue] = {}
    for item in items:
        key, _, raw = item.partition(":")  # MetaParam has checked there is a key and a colon
        try:
            value = json.loads(raw, parse_constant=_reject_constant)
        except ValueError:
            value = raw
        out[key] = value if isinstance(value, str | int | float | bool) else raw
    return out


@router.post(
    "/search",
    response_model=SearchResponse,
    responses=error_responses(400, 401, 413, 422, 429, 503),
    summary="Search (JSON body)",
)
async def search_post(
    request: Request,
    searcher: SearcherDep,
    admission: AdmissionDep,
    _: ReadAccess,
    body: Annotated[
        SearchRequest,
        Body(
            openapi_examples={
                "hybrid": {"summary": "Hybrid (default)", "value": {"query": EXAMPLE_QUERY, "k": 3}},
                "dense": {
                    "summary": "Dense only",
                    "value": {"query": "Xi Jinping trip to Central Asia", "mode": "dense"},
                },
                "threshold": {
                    "summary": "Lexical with a minimum BM25 score",
                    "value": {
                        "query": "Shanghai Cooperation Organization",
                        "mode": "lexical",
                        "min_score": 2.0,
                    },
                },
            }
        ),
    ],
) -> SearchResponse:
    """Same as GET /search, with the parameters in a JSON body."""
    return await _run(request, searcher, admission, body)
