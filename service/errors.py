"""Service errors and the one place where every error becomes an HTTP response.

Every error body is `{"detail": "<what is wrong and how to fix it>", "errors": [...]}`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexer.errors import IndexerError
from indexer.search import Mode
from indexer.writer import DocumentNotFoundError

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 1000
MAX_K = 100


class ServiceError(Exception):
    """An error with an HTTP status and a message that tells the client what to do."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(ServiceError):
    """A request that cannot be understood as sent."""

    status_code = 400


class UnauthorizedError(ServiceError):
    """Missing or wrong API key."""

    status_code = 401


class ForbiddenError(ServiceError):
    """The operation is disabled by configuration."""

    status_code = 403


class NotFoundError(ServiceError):
    """The named resource does not exist."""

    status_code = 404


class PayloadTooLargeError(ServiceError):
    """A document or batch is over its limit."""

    status_code = 413


class NotReadyError(ServiceError):
    """The model or index is still loading, or failed to load."""

    status_code = 503


_FIELD_HELP = {
    "q": f"q must be a non-empty question of at most {MAX_QUERY_CHARS} characters, e.g. ?q=Where+did+Wang+Yi+meet",
    "query": f'"query" must be a non-empty string of at most {MAX_QUERY_CHARS} characters, '
    'e.g. {"query": "Where did Wang Yi meet Lavrov"}',
    "k": f"k must be a whole number from 1 to {MAX_K}",
    "mode": "mode must be one of: " + ", ".join(m.value for m in Mode),
    "min_score": "min_score must be a number (in the chosen mode's score scale)",
    "max_per_doc": f"max_per_doc must be a whole number from 1 to {MAX_K}",
    "source": "source must be a non-empty path prefix",
    "doc_id": "doc_id must be a non-empty list of document ids",
    "metadata": "metadata must map keys (letters, digits, '.', '-', '_', space) to a string, number or boolean",
    "filters": 'filters must be an object such as {"source": "notes/", "doc_id": ["a"], "metadata": {"lang": "en"}}',
    "highlight": "highlight must be true or false",
}


def _describe(error: dict[str, Any]) -> dict[str, Any]:
    loc = [str(part) for part in error.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path"):  # where the value came from, not a field name
        loc = loc[1:]
    # The field is the top-level name, or the filter's name inside "filters" (filters.metadata.<key>).
    field = loc[1] if len(loc) > 1 and loc[0] == "filters" else (loc[0] if loc else "")
    if error.get("type") == "extra_forbidden":
        message = f"unknown field {field!r}; see /docs for the allowed fields"
    elif error.get("type") == "missing":
        message = f"{field!r} is required. " + _FIELD_HELP.get(field, "")
    elif error.get("type") == "model_attributes_type":
        message = 'the body must be a JSON object such as {"query": "your question", "k": 5}'
    else:
        message = _FIELD_HELP.get(field, error.get("msg", "invalid value"))
    return {"field": ".".join(loc), "message": message.strip(), "input": error.get("input")}


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx = errors[0].get("ctx", {})
        return JSONResponse(
            status_code=400,
            content={
                "detail": f"request body is not valid JSON ({ctx.get('error', 'parse error')}); send a JSON "
                'object such as {"query": "your question", "k": 5} with Content-Type: application/json',
                "errors": [],
            },
        )
    described: list[dict[str, Any]] = []
    for item in (_describe(e) for e in errors):  # a union type reports one error per member: keep one
        if not any(d["field"] == item["field"] and d["message"] == item["message"] for d in described):
            described.append(item)
    # Inputs are echoed only when short, so a 1 MB query does not come back in the error.
    for item in described:
        if isinstance(item["input"], str) and len(item["input"]) > 100:
            item["input"] = item["input"][:100] + "..."
        elif not isinstance(item["input"], str | int | float | type(None)):
            item.pop("input")
    return JSONResponse(
        status_code=422, content={"detail": "; ".join(d["message"] for d in described), "errors": described}
    )


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.message, "errors": []}, headers=headers)


# Indexer errors a client caused; every other indexer error is the server's (500).
_INDEXER_STATUS: dict[type[IndexerError], int] = {DocumentNotFoundError: 404}


async def _indexer_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _INDEXER_STATUS.items() if isinstance(exc, kind)), 500)
    if status >= 500:
        log.error("indexer error on %s: %s", request.url.path, exc)
    return JSONResponse(status_code=status, content={"detail": str(exc), "errors": []})


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    if exc.status_code == 404:
        detail = f"no route {request.url.path}; see /docs for the API"
    elif exc.status_code == 405:
        detail = f"method {request.method} is not allowed on {request.url.path}; see /docs for the API"
    return JSONResponse(status_code=exc.status_code, content={"detail": detail, "errors": []}, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error type to its HTTP response."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(IndexerError, _indexer_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
