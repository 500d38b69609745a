"""GET and POST /search."""

from __future__ import annotations

import json
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Body, Query, Request

from indexer.search import Mode, Searcher
from service.auth import ReadAccess
from service.deps import SearcherDep
from service.errors import BadRequestError
from service.schemas import EXAMPLE_QUERY, Filters, MaxPerDoc, QueryText, SearchRequest, SearchResponse, TopK

router = APIRouter(tags=["search"])

_ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "Malformed JSON body"},
    422: {"description": "Invalid parameter (empty query, k out of range, unknown mode, ...)"},
    503: {"description": "Model and index still loading"},
}


async def _run(request: Request, searcher: Searcher, req: SearchRequest) -> SearchResponse:
    # Encoding and FAISS/SQLite search are CPU-bound: run them in the thread pool, off the event loop.
    where = req.filters.to_filter() if req.filters else None
    result = await to_thread.run_sync(
        lambda: searcher.search(
            req.query,
            k=req.k,
            mode=req.mode,
            min_score=req.min_score,
            max_per_doc=req.max_per_doc,
            where=where,
            highlight=req.highlight,
        )
    )
    request.app.state.metrics.search_seconds.labels(mode=req.mode.value).observe(result.took_ms / 1000)
    return SearchResponse.from_result(result)


@router.get("/search", response_model=SearchResponse, responses=_ERRORS, summary="Search (query string)")
async def search_get(
    request: Request,
    searcher: SearcherDep,
    _: ReadAccess,
    q: Annotated[QueryText, Query(description="The question.", examples=[EXAMPLE_QUERY])],
    k: Annotated[TopK, Query(description="Number of passages (1..100).")] = 5,
    mode: Annotated[Mode, Query(description="dense, lexical or hybrid.")] = Mode.hybrid,
    min_score: Annotated[float | None, Query(description="Drop hits below this score (mode's scale).")] = None,
    max_per_doc: Annotated[MaxPerDoc | None, Query(description="At most this many passages per document.")] = None,
    source: Annotated[str | None, Query(min_length=1, description="Only sources starting with this path.")] = None,
    doc_id: Annotated[list[str] | None, Query(description="Only these document ids (repeat the parameter).")] = None,
    meta: Annotated[
        list[str] | None,
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
        filters = Filters(source=source, doc_id=doc_id, metadata=_parse_meta(meta or []))
    req = SearchRequest(
        query=q, k=k, mode=mode, min_score=min_score, max_per_doc=max_per_doc, filters=filters, highlight=highlight
    )
    return await _run(request, searcher, req)


def _parse_meta(items: list[str]) -> dict[str, str | int | float | bool]:
    out: dict[str, str | int | float | bool] = {}
    for item in items:
        key, sep, raw = item.partition(":")
        if not sep or not key:
            raise BadRequestError(f"meta={item!r} is not key:value; write e.g. meta=lang:en or meta=year:2024")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key] = value if isinstance(value, str | int | float | bool) else raw
    return out


@router.post("/search", response_model=SearchResponse, responses=_ERRORS, summary="Search (JSON body)")
async def search_post(
    request: Request,
    searcher: SearcherDep,
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
    return await _run(request, searcher, body)
