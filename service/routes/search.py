"""GET and POST /search."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Body, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints, ValidationError

from indexer.filters import parse_filters, parse_meta
from indexer.retrieval.fusion import Fusion
from indexer.retrieval.results import Group, Mode, Navigation, SearchResult
from indexer.types import Expr, Filter
from service.admission import Admission
from service.auth import ReadAccess
from service.deps import AdmissionDep, EngineDep
from service.engine import Engine
from service.errors import MAX_CONTEXT, MAX_DEPTH, MAX_OFFSET, error_responses
from service.fields import MaxPerDoc, MetaParam, QueryText, TopK
from service.filters import FilterParam
from service.schemas import EXAMPLE_QUERY, SearchRequest, SearchResponse

router = APIRouter(tags=["search"])


def run_search(engine: Engine, req: SearchRequest, extra: Expr | None = None) -> SearchResult:
    """`req` on `engine` (blocking: call it in a worker thread), `extra` ANDed to its filters: the one call from
    a request's options to the searcher, shared by GET, POST and the MCP tool."""
    where = req.filters.to_filter(extra) if req.filters else Filter(where=extra) if extra else None
    return engine.searcher_at(req.version).search(
        req.query,
        k=req.k,
        mode=req.mode,
        min_score=req.min_score,
        max_per_doc=req.max_per_doc,
        where=where,
        highlight=req.highlight,
        fusion=req.fusion,
        dense_weight=req.dense_weight,
        offset=req.offset,
        context=req.context,
        group=req.group,
        navigation=req.navigation,
        document_weight=req.document_weight,
        rerank=req.rerank,
        rerank_candidates=req.rerank_candidates,
        rerank_budget_ms=req.rerank_budget_ms,
    )


async def _run(
    request: Request, engine: Engine, admission: Admission, req: SearchRequest, extra: Expr | None = None
) -> SearchResponse:
    # Encoding and FAISS/SQLite search are CPU-bound: run them in the thread pool, off the event loop, once
    # admission control grants a slot (429 at once when the queue is full). Opening a pinned older version
    # reads files too, so it is done there as well.
    async with admission.search.admit():
        result = await to_thread.run_sync(run_search, engine, req, extra)
    request.app.state.metrics.search_seconds.labels(collection=engine.name, mode=result.mode.value).observe(
        result.took_ms / 1000
    )
    return SearchResponse.from_result(result, with_context=req.context > 0)


@router.get(
    "/search",
    response_model=SearchResponse,
    responses=error_responses(401, 403, 404, 422, 429, 503),
    summary="Search (query string)",
)
async def search_get(
    request: Request,
    engine: EngineDep,
    admission: AdmissionDep,
    _: ReadAccess,
    q: Annotated[QueryText, Query(description="The question.", examples=[EXAMPLE_QUERY])],
    k: Annotated[TopK, Query(description="Number of passages (1..100).")] = 5,
    mode: Annotated[
        Mode | None,
        Query(description="dense, lexical or hybrid (default: the collection's, hybrid unless calibrated)."),
    ] = None,
    fusion: Annotated[
        Fusion | None,
        Query(description="Hybrid only: dbsf or rrf (default: the collection's calibrated one, else the server's)."),
    ] = None,
    dense_weight: Annotated[
        float | None,
        Query(
            ge=0,
            le=1,
            allow_inf_nan=False,
            description="Hybrid dbsf only: the dense share, 0..1 (default: calibrated, else 0.5).",
        ),
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
    filters_: Annotated[
        list[FilterParam] | None,
        Query(
            alias="filter",
            description="Metadata condition `field:op:value` (repeatable; all must hold): ops eq, ne, gt, gte, lt, "
            "lte, in and not_in (`lang:in:en,fr`), and `field:exists:true|false`. Values are read as JSON when they "
            "parse (year:gte:2020 is a number), else as text; dates compare as ISO-8601 text. For or/not, POST.",
        ),
    ] = None,
    offset: Annotated[
        int,
        Query(ge=0, le=MAX_OFFSET, description=f"Results to skip (the next page: offset + k; at most {MAX_OFFSET})."),
    ] = 0,
    version: Annotated[
        int | None, Query(ge=1, description="Answer from this index version (the first page's index_version).")
    ] = None,
    context: Annotated[
        int, Query(ge=0, le=MAX_CONTEXT, description="Passages before and after each hit to return too.")
    ] = 0,
    group: Annotated[
        Group | None, Query(description="page (default): one hit per page; passage: every passage on its own.")
    ] = None,
    navigation: Annotated[
        Navigation | None,
        Query(description="Tables of contents and indexes: below (default, after content), exclude or include."),
    ] = None,
    document_weight: Annotated[
        float | None,
        Query(
            ge=0,
            le=10,
            allow_inf_nan=False,
            description="Weight of a hit's document score in its score (default 1; 0: pages alone).",
        ),
    ] = None,
    rerank: Annotated[
        bool | None,
        Query(
            description="false: skip the collection's reranker for this search (default: its calibration's choice, "
            "else true)."
        ),
    ] = None,
    rerank_candidates: Annotated[
        int | None,
        Query(ge=1, le=MAX_DEPTH, description="Units the reranker re-scores (default SEEKR_RERANK_CANDIDATES, 20)."),
    ] = None,
    rerank_budget_ms: Annotated[
        float | None,
        Query(gt=0, le=60_000, allow_inf_nan=False, description="Past this, the fused order is returned."),
    ] = None,
) -> SearchResponse:
    """Ranked passages for `q`. Each result carries its dense and lexical scores and ranks."""
    filters = None
    if source is not None or doc_id is not None or meta:
        filters = {"source": source, "doc_id": doc_id, "metadata": parse_meta(meta or [])}
    where = parse_filters(filters_ or [])
    params = {
        "query": q,
        "k": k,
        "mode": mode,
        "fusion": fusion,
        "dense_weight": dense_weight,
        "min_score": min_score,
        "max_per_doc": max_per_doc,
        "offset": offset,
        "version": version,
        "context": context,
        "group": group,
        "navigation": navigation,
        "document_weight": document_weight,
        "rerank": rerank,
        "rerank_candidates": rerank_candidates,
        "rerank_budget_ms": rerank_budget_ms,
    }
    try:  # the query-string parameters were checked one by one; the request model checks them together
        req = SearchRequest.model_validate({**params, "filters": filters, "highlight": highlight})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    return await _run(request, engine, admission, req, where)


@router.post(
    "/search",
    response_model=SearchResponse,
    responses=error_responses(400, 401, 403, 404, 413, 422, 429, 503),
    summary="Search (JSON body)",
)
async def search_post(
    request: Request,
    engine: EngineDep,
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
    return await _run(request, engine, admission, body)
