"""Service errors and the one place where every error becomes an HTTP response.

Every error body is `{"detail": "<what is wrong and how to fix it>", "errors": [...]}`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, JsonValue
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from indexer.building.writer import DocumentNotFoundError
from indexer.errors import (
    BackendError,
    CollectionExistsError,
    CollectionNameError,
    CollectionNotFoundError,
    EmbeddingServerError,
    IndexerError,
    IndexLockedError,
    LastCollectionError,
    PageNotFoundError,
    SourceChangedError,
    SourceUnavailableError,
)
from indexer.retrieval.options import MAX_CONTEXT, MAX_DEPTH, MAX_K, MAX_OFFSET
from indexer.retrieval.results import Mode
from indexer.viewer.render import MAX_WIDTH, MIN_WIDTH

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 1000  # GET's q: a URL (non-ASCII text percent-encoded) must stay under the server's 16 KB
MAX_BODY_QUERY_CHARS = 16_000  # POST's query: a paragraph or a whole argument as the question


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str = Field(description="Dotted path of the field, e.g. `k` or `filters.metadata.lang`.")
    message: str = Field(description="What is wrong with it and what to send instead.")
    input: JsonValue = Field(None, description="The value received (left out when long or structured).")


class ErrorBody(BaseModel):
    """Every 4xx and 5xx body: a sentence saying what was wrong and how to fix it, and the fields involved."""

    detail: str = Field(description="What was wrong and how to fix it.")
    errors: list[FieldError] = Field(description="One entry per invalid field (empty when no field is to blame).")


_STATUS_TEXT = {
    400: "Malformed request body (not JSON, or not what the operation takes)",
    401: "Missing or unknown API key (where the operation, or the service, needs one)",
    403: "The key lacks the right (read, write or admin) in this collection, or the right is not configured: "
    "writes need SEEKR_API_KEY or a keys file",
    404: "No such collection (or none the key may see), no such document, or, for a search pinned to `version`, "
    "that version is no longer kept",
    409: "The collection exists with other settings, is the only one left (it cannot be dropped), or another "
    "process is writing it",
    413: "Request body, document or batch over its limit",
    415: "Body in a media type the operation does not take (see its request body's types)",
    422: "Invalid parameter or field (`errors` names each one), or a file that cannot be indexed (and why)",
    429: "Too many requests in flight: retry after the `Retry-After` header's seconds",
    503: "Model and index still loading, loading failed (see /readyz), the storage engine is unreachable, or the "
    "embedding server failed (`mode=lexical` still works)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses an operation can return, all with the ErrorBody schema."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _STATUS_TEXT[status]}
        if status == 429:
            entry["headers"] = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
        out[status] = entry
    return out


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


class UnsupportedMediaError(ServiceError):
    """A body in a media type the route does not take."""

    status_code = 415


class UnprocessableError(ServiceError):
    """A well-formed request whose content cannot be used (a file that cannot be read, say)."""

    status_code = 422


class OverloadedError(ServiceError):
    """Too many requests of a kind in flight and queued; the client should retry later."""

    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotReadyError(ServiceError):
    """The model or index is still loading, or failed to load."""

    status_code = 503


_FIELD_HELP = {
    "q": f"q must be a non-empty question of at most {MAX_QUERY_CHARS} characters, e.g. ?q=Where+did+Wang+Yi+meet",
    "query": f'"query" must be a non-empty string of at most {MAX_BODY_QUERY_CHARS} characters, '
    'e.g. {"query": "Where did Wang Yi meet Lavrov"}',
    "k": f"k must be a whole number from 1 to {MAX_K}",
    "width": f"width must be a whole number of pixels from {MIN_WIDTH} to {MAX_WIDTH}, e.g. width=1000",
    "mark": "mark must be START-END (a hit's start and end), e.g. mark=120-480",
    "context": f"context must be a whole number from 0 to {MAX_CONTEXT} (passages before and after each hit)",
    "version": "version must be a whole number, 1 or more: the index_version a first page named",
    "mode": "mode must be one of: " + ", ".join(m.value for m in Mode),
    "min_score": "min_score must be a number (in the chosen mode's score scale)",
    "max_per_doc": f"max_per_doc must be a whole number from 1 to {MAX_K}",
    "source": "source must be a non-empty path prefix",
    "metadata": "metadata must map keys (1 to 100 characters, no quotes, backslashes, colons or control "
    "characters) to a string, number or boolean",
    "filters": 'filters must be an object such as {"source": "notes/", "doc_id": ["a"], "metadata": {"lang": "en"}}',
    "highlight": "highlight must be true or false",
    "meta": "meta must be key:value (a key without quotes, backslashes or control characters), e.g. meta=lang:en",
    "offset": f"offset must be a whole number, 0 or more (on /search at most {MAX_OFFSET}: pages reach the "
    f"{MAX_DEPTH:,}th result at most; past that, narrow the question or add filters)",
    "limit": "limit must be a whole number from 1 to 1000",
    "text": '"text" must contain a character besides white space, e.g. {"text": "The lighthouse was kept."}',
    "title": '"title" must be a string or null',
    "id": "a document id has 1 to 256 characters without '/', '\\' or control characters",
    "doc_id": "doc_id must be a non-empty list of non-empty document ids (at most 1000)",
    "documents": '"documents" must be a non-empty list of {"id", "text"} objects',
    "file_base64": '"file_base64" must be the file\'s bytes in base64, with "filename" naming it, e.g. "report.pdf"',
    "filename": '"filename" must be a file name with an extension (1 to 255 characters, no "/"), e.g. "report.pdf"',
}


def _describe(error: dict[str, Any]) -> dict[str, Any]:
    loc = [str(part) for part in error.get("loc", ())]
    source = loc[0] if loc and loc[0] in ("body", "query", "path") else None  # where it came from, not a field
    if source:
        loc = loc[1:]
    # The field is the top-level name, or the one inside "filters" or a batch's document (documents.0.text).
    names = [part for part in loc if not part.isdigit()]
    if source == "path" and names == ["doc_id"]:
        field = "id"
    elif len(names) > 1 and names[0] in ("filters", "documents"):
        field = names[1]
    else:
        field = names[0] if names else ""
    if error.get("type") == "extra_forbidden":
        message = f"unknown field {field!r}; see /docs for the allowed fields"
    elif error.get("type") == "missing" and not field:
        message = "this operation needs a JSON body (Content-Type: application/json); see /docs for its fields"
    elif error.get("type") == "missing":
        message = f"{field!r} is required. " + _FIELD_HELP.get(field, "")
    elif error.get("type") == "model_attributes_type":
        message = 'the body must be a JSON object such as {"query": "your question", "k": 5}'
    else:
        # A model's own check (pydantic prefixes its message with "Value error, ") says what to send itself.
        message = _FIELD_HELP.get(field, str(error.get("msg", "invalid value")).removeprefix("Value error, "))
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
    if isinstance(exc, OverloadedError):
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.message, "errors": []}, headers=headers)


# Indexer errors a client caused; every other indexer error is the server's (500).
_INDEXER_STATUS: dict[type[IndexerError], int] = {
    DocumentNotFoundError: 404,
    SourceUnavailableError: 404,
    PageNotFoundError: 404,
    SourceChangedError: 409,
    CollectionNotFoundError: 404,
    CollectionExistsError: 409,
    LastCollectionError: 409,
    IndexLockedError: 409,
    CollectionNameError: 422,
    BackendError: 503,
    EmbeddingServerError: 503,
}


async def _indexer_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _INDEXER_STATUS.items() if isinstance(exc, kind)), 500)
    if status >= 500:
        log.error("indexer error on %s: %s", request.url.path, exc)
    return JSONResponse(status_code=status, content={"detail": str(exc), "errors": []})


RouteMethods = Sequence[tuple[str, set[str]]]  # (path template, methods) of every route


def _allowed_methods(routes: RouteMethods, path: str) -> list[str]:
    """Every method some route serves at this path (Starlette's own 405 names only the first route's)."""
    methods: set[str] = set()
    for template, served in routes:
        regex, _, _ = compile_path(template)
        if regex.match(path):
            methods |= served
    return sorted(methods)


def _http_error_handler(routes: RouteMethods) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def _http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail
        headers = exc.headers
        if exc.status_code == 404:
            detail = f"no route {request.url.path}; see /docs for the API"
        elif exc.status_code == 405:
            allowed = _allowed_methods(routes, request.url.path)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            detail = f"method {request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}"
        return JSONResponse(status_code=exc.status_code, content={"detail": detail, "errors": []}, headers=headers)

    return _http_error


def install_error_handlers(app: FastAPI, routes: RouteMethods) -> None:
    """Map every error type to its HTTP response; `routes` are the app's paths and methods, for 405's Allow
    header."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(IndexerError, _indexer_error)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler(routes))
