"""GET and POST /search."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Body, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from indexer.filters import parse_filters, parse_meta
from indexer.retrieval.options import SearchOptions
from indexer.retrieval.results import SearchResult
from indexer.types import Expr, Filter
from service.admission import Admission
from service.auth import ReadAccess
from service.deps import AdmissionDep, EngineDep
from service.engine import Engine
from service.errors import error_responses
from service.fields import MetaParam, QueryText
from service.filters import FilterParam
from service.schemas import EXAMPLE_QUERY, SearchRequest, SearchResponse, options_of

router = APIRouter(tags=["search"])


def run_search(engine: Engine, req: SearchRequest, extra: Expr | None = None) -> SearchResult:
    """`req` on `engine` (blocking: call it in a worker thread), `extra` ANDed to its filters: the one call from
    a request's options to the searcher, shared by GET, POST and the MCP tool."""
    where = req.filters.to_filter(extra) if req.filters else Filter(where=extra) if extra else None
    return engine.searcher_at(req.version).search(req.query, req.options(), where=where)


class _QueryText(BaseModel):
    """GET /search's question: a base of its own so that it comes first (in the parameters, in errors)."""

    q: QueryText = Field(description="The question.", examples=[EXAMPLE_QUERY])


class SearchQuery(SearchOptions, _QueryText):
    """GET /search's query string: the question as `q`, its filters as repeatable parameters, the index version,
    and every search option (`SearchOptions`, where each is defined)."""

    model_config = ConfigDict(extra="ignore")  # a parameter the API does not read is ignored, as before

    source: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="Only sources starting with this path."
    )
    doc_id: Annotated[list[Annotated[str, StringConstraints(min_length=1)]], Field(max_length=1000)] | None = Field(
        None, description="Only these document ids (repeat the parameter, at most 1000)."
    )
    meta: list[MetaParam] | None = Field(
        None,
        description="Metadata filter `key:value` (repeatable); the value is read as JSON when it parses "
        '(year:2024 is the number 2024, year:"2024" the text), else as text.',
    )
    conditions: list[FilterParam] | None = Field(
        None,
        alias="filter",
        description="Metadata condition `field:op:value` (repeatable; all must hold): ops eq, ne, gt, gte, lt, "
        "lte, in and not_in (`lang:in:en,fr`), and `field:exists:true|false`. Values are read as JSON when they "
        "parse (year:gte:2020 is a number), else as text; dates compare as ISO-8601 text. For or/not, POST.",
    )
    version: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Answer from this index version (the first page's index_version)."
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
    params: Annotated[SearchQuery, Query()],
) -> SearchResponse:
    """Ranked passages for `q`. Each result carries its dense and lexical scores and ranks."""
    filters = None
    if params.source is not None or params.doc_id is not None or params.meta:
        filters = {"source": params.source, "doc_id": params.doc_id, "metadata": parse_meta(params.meta or [])}
    where = parse_filters(params.conditions or [])
    given = options_of(params).given()
    try:  # the query-string parameters were checked one by one; the request model checks the filters
        req = SearchRequest.model_validate({**given, "query": params.q, "filters": filters, "version": params.version})
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
