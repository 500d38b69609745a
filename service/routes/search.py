"""GET and POST /search."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Body, Query

from indexer.search import Mode, Searcher
from service.deps import SearcherDep
from service.schemas import EXAMPLE_QUERY, QueryText, SearchRequest, SearchResponse, TopK

router = APIRouter(tags=["search"])

_ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "Malformed JSON body"},
    422: {"description": "Invalid parameter (empty query, k out of range, unknown mode, ...)"},
    503: {"description": "Model and index still loading"},
}


async def _run(searcher: Searcher, req: SearchRequest) -> SearchResponse:
    # Encoding and FAISS/SQLite search are CPU-bound: run them in the thread pool, off the event loop.
    result = await to_thread.run_sync(
        lambda: searcher.search(req.query, k=req.k, mode=req.mode, min_score=req.min_score)
    )
    return SearchResponse.from_result(result)


@router.get("/search", response_model=SearchResponse, responses=_ERRORS, summary="Search (query string)")
async def search_get(
    searcher: SearcherDep,
    q: Annotated[QueryText, Query(description="The question.", examples=[EXAMPLE_QUERY])],
    k: Annotated[TopK, Query(description="Number of passages (1..100).")] = 5,
    mode: Annotated[Mode, Query(description="dense, lexical or hybrid.")] = Mode.hybrid,
    min_score: Annotated[float | None, Query(description="Drop hits below this score (mode's scale).")] = None,
) -> SearchResponse:
    """Ranked passages for `q`. Each result carries its dense and lexical scores and ranks."""
    return await _run(searcher, SearchRequest(query=q, k=k, mode=mode, min_score=min_score))


@router.post("/search", response_model=SearchResponse, responses=_ERRORS, summary="Search (JSON body)")
async def search_post(
    searcher: SearcherDep,
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
    return await _run(searcher, body)
