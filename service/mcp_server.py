"""The Model Context Protocol server: the REST API's search and documents as tools and resources a model can use.

Served over Streamable HTTP at `/mcp` in the same app (the same keys, admission control, body limit and metrics
as the REST routes) and over stdio by `python -m service mcp` for desktop clients. Every result carries the same
provenance as the REST API (document id, source, offsets, page, scores), in the same shapes.
"""

from __future__ import annotations

import base64
import contextvars
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar, cast

from anyio import to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.types import ImageContent, TextContent
from pydantic import BaseModel, Field, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from indexer import __version__
from indexer.collections import DEFAULT_COLLECTION, NAME_PATTERN
from indexer.errors import IndexerError
from indexer.retrieval.context import passages_around
from indexer.retrieval.options import MAX_CONTEXT, MAX_K, MAX_OFFSET
from indexer.retrieval.similar import similar_documents as find_similar
from indexer.types import Filter, StoredDocument
from indexer.viewer.render import MAX_WIDTH, MIN_WIDTH, PageImage
from service.auth import identify
from service.collections import Collections
from service.engine import Engine
from service.errors import MAX_BODY_QUERY_CHARS, ServiceError
from service.filters import Filters
from service.keys import ALL, Caller, KeyRing, Right
from service.metrics import Metrics
from service.routes.collections import CollectionList
from service.routes.documents import DocumentList, SimilarList, WriteOut
from service.routes.search import run_search
from service.routes.view import Viewer, file_of, page_text, parse_mark
from service.schemas import PassageOut, SearchRequest, SearchResponse
from service.settings import Settings
from service.tool_options import with_search_options
from service.writes import DocumentIn, document_from

INSTRUCTIONS = """\
seekr searches a collection of documents (reports, papers, notes, e-mails, ...) by meaning and by keywords.
Start with `search`; each hit names its document (doc_id), source file, page and character offsets. Read more of
a document with `get_context` (the passages around a hit) or `get_document` (its text, or a range of it), and
find related documents with `similar_documents`. Results come in pages: ask for page 2 with the same query and
the `index_version` of page 1 to page through a fixed version. Documents live in collections
(`list_collections`); every tool takes a `collection`, the default one when left out."""

_CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("seekr_mcp_caller", default=None)
Collection = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="The collection to use (list_collections names them; default: the default collection).",
    ),
]
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class DocumentText(BaseModel):
    """A document's text, whole or a character range of it."""

    doc_id: str
    title: str
    source: str
    metadata: dict[str, Any]
    start: int = Field(description="Offset of `text` in the document's text.")
    end: int
    total_chars: int = Field(description="Length of the whole document text.")
    text: str


class PassageContext(BaseModel):
    """A passage with the passages before and after it in its document."""

    doc_id: str
    passage: PassageOut
    before: list[PassageOut]
    after: list[PassageOut]


def _out(p: Any) -> PassageOut:
    return PassageOut(chunk_id=p.chunk_id, start=p.start, end=p.end, page=p.page, text=p.text)


def build_mcp(
    collections: Collections, settings: Settings, viewer: Viewer, metrics: Metrics | None = None
) -> MCPServer:
    """The MCP server over `collections`; calls pass each collection's admission gates, and count in `metrics`
    when given (the HTTP app's)."""
    mcp: MCPServer = MCPServer("seekr", version=__version__, instructions=INSTRUCTIONS)

    def missing(collection: str) -> ToolError:
        """The error for a collection that does not exist or that the caller may not see (the same words)."""
        return ToolError(f"no collection {collection!r}; list_collections names those you may use")

    def need(right: Right, collection: str) -> None:
        """ToolError unless this call's caller may `right` in `collection` (one it may not see: not found)."""
        caller = _CALLER.get()
        if caller is None or not caller.sees(collection):
            raise missing(collection)
        if not caller.may(right, collection):
            if right is Right.write and caller.name == LOCAL:
                raise ToolError("document writes are disabled on this service: it was started without SEEKR_API_KEY")
            raise ToolError(f"this key may not {right} in collection {collection!r}: connect with a key that may")

    async def run(right: Right, collection: str, work: Callable[[Engine], T]) -> T:
        """`work(engine)` on `collection`'s engine in a thread, through its admission gate; the service's errors
        as tool errors saying what to do (a full queue's 429 too: "retry after N s")."""
        need(right, collection)
        if not collections.is_open(collection) and not await to_thread.run_sync(collections.exists, collection):
            raise missing(collection)

        def call() -> T:
            with collections.use(collection) as engine:
                return work(engine)

        try:
            gates = collections.admission(collection)
            async with (gates.search if right is Right.read else gates.write).admit():
                return await to_thread.run_sync(call)
        except ServiceError as exc:
            raise ToolError(exc.message) from exc
        except IndexerError as exc:
            raise ToolError(str(exc)) from exc

    def counted(fn: F) -> F:
        """Count each call of tool `fn` by outcome in `metrics` (the signature is kept: it is the tool's schema)."""

        @functools.wraps(fn)
        async def call(*args: Any, **kwargs: Any) -> Any:
            outcome = "error"
            try:
                result = await fn(*args, **kwargs)
                outcome = "ok"
                return result
            finally:
                if metrics is not None:
                    metrics.mcp_calls.labels(tool=fn.__name__, outcome=outcome).inc()

        return cast(F, call)

    @mcp.tool(
        description="Search the documents for passages that answer `query` (a question or keywords). Returns the "
        "best passages, best first, each with its document id, title, source file, page, character offsets, text, "
        "and the scores that ranked it. `mode`: hybrid (meaning and keywords), dense (meaning only) or lexical "
        "(keywords only); leave it out to use the collection's default (hybrid unless calibrated). "
        '`filters` restrict which documents are searched, e.g. {"where": {"field": '
        '"year", "op": "gte", "value": 2020}} or {"source": "reports/"}. `max_per_doc`=1 gives one '
        "passage per document. `page` (1, 2, ...) pages through results of `k`; pass the first page's "
        "`index_version` as `version` to read later pages from the same version. `context`=N adds the N passages "
        "before and after each hit. Every option of the REST API's POST /search is here too (fusion, dense_weight, "
        "min_score, highlight, offset, group, document_weight, navigation, rerank_budget_ms), with its meaning."
    )
    @counted
    @with_search_options
    async def search(
        query: Annotated[
            str,
            Field(
                min_length=1,
                max_length=MAX_BODY_QUERY_CHARS,
                description="The question or keywords, or a whole paragraph to find passages like it.",
            ),
        ],
        filters: Filters | None = None,
        page: Annotated[int, Field(ge=1, description="Page number, from 1 (or give `offset`).")] = 1,
        version: Annotated[int | None, Field(ge=1, description="Index version of the first page.")] = None,
        collection: Collection = DEFAULT_COLLECTION,
        **options: Any,
    ) -> SearchResponse:
        offset, k = options["offset"], options["k"]
        if offset and page != 1:
            raise ToolError("give `page` or `offset`, not both")
        skip = offset or (page - 1) * k
        if skip > MAX_OFFSET:
            raise ToolError(f"page {page} of {k} starts past result {MAX_OFFSET}; narrow the query or add filters")
        given = {name: value for name, value in options.items() if value is not None}
        try:
            req = SearchRequest.model_validate(
                given | {"query": query, "filters": filters, "offset": skip, "version": version}
            )
        except ValidationError as exc:
            raise ToolError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc
        result = await run(Right.read, collection, lambda engine: run_search(engine, req))
        context = req.context
        return SearchResponse.from_result(result, with_context=context > 0)

    @mcp.tool(
        description="Read a document's text: whole, or the characters from `start` to `end` (offsets as search "
        "results give them). Also its title, source file and metadata."
    )
    @counted
    async def get_document(
        doc_id: Annotated[str, Field(min_length=1)],
        start: Annotated[int, Field(ge=0)] = 0,
        end: Annotated[int | None, Field(ge=0, description="Default: the end of the document.")] = None,
        collection: Collection = DEFAULT_COLLECTION,
    ) -> DocumentText:
        stored = await run(Right.read, collection, lambda engine: engine.searcher.snapshot.store.document(doc_id))
        if stored is None:
            raise ToolError(f"no document with id {doc_id!r}; search or list_documents gives the ids")
        stop = len(stored.text) if end is None else min(end, len(stored.text))
        if start > stop:
            raise ToolError(f"start {start} is past end {stop}; the document has {len(stored.text)} characters")
        return DocumentText(
            doc_id=stored.doc_id,
            title=stored.title,
            source=stored.source,
            metadata=stored.metadata,
            start=start,
            end=stop,
            total_chars=len(stored.text),
            text=stored.text[start:stop],
        )

    @mcp.tool(
        description="A page of a document as an image, with its text: to read a table or a figure where a hit is. "
        "`page` is a hit's page; `mark` (`START-END`, a hit's start and end) boxes the passage on the image. "
        "PDFs and image files have pages; other documents answer with the reason.",
        structured_output=False,
    )
    @counted
    async def get_page(
        doc_id: Annotated[str, Field(min_length=1)],
        page: Annotated[int, Field(ge=1)],
        mark: Annotated[str | None, Field(description="START-END, e.g. 120-480")] = None,
        width: Annotated[int, Field(ge=MIN_WIDTH, le=MAX_WIDTH)] = 1000,
        collection: Collection = DEFAULT_COLLECTION,
    ) -> list[TextContent | ImageContent]:
        try:
            span = parse_mark(mark)
        except ServiceError as exc:
            raise ToolError(exc.message) from exc

        def read(engine: Engine) -> tuple[str, PageImage]:
            searcher = engine.searcher
            stored = searcher.snapshot.store.document(doc_id)
            if stored is None:
                raise ToolError(f"no document with id {doc_id!r}; search or list_documents gives the ids")
            found = file_of(engine, searcher, stored, settings.source_dir, collection)
            key = viewer.key(found, stored.content_hash, page, width, span)
            image = viewer.render(found, stored.text, key, page, width, span)
            return page_text(searcher.snapshot, stored, page), image

        text, image = await run(Right.read, collection, read)
        about = f"{doc_id}, page {page} of {image.pages}; marks: {image.marks}\n\n{text}"
        return [
            TextContent(type="text", text=about),
            ImageContent(type="image", data=base64.b64encode(image.png).decode(), mimeType="image/png"),
        ]

    @mcp.tool(description="List the documents (id, title, source, passages), ordered by id, a page at a time.")
    @counted
    async def list_documents(
        offset: Annotated[int, Field(ge=0)] = 0,
        limit: Annotated[int, Field(ge=1, le=1000)] = 100,
        collection: Collection = DEFAULT_COLLECTION,
    ) -> DocumentList:
        return await run(
            Right.read, collection, lambda engine: DocumentList.read(engine.searcher.snapshot, offset, limit)
        )

    @mcp.tool(
        description="The passages before and after a passage (a search hit's doc_id and chunk_id), to read on "
        "around it. `n`: how many on each side."
    )
    @counted
    async def get_context(
        doc_id: Annotated[str, Field(min_length=1)],
        chunk_id: int,
        n: Annotated[int, Field(ge=1, le=MAX_CONTEXT)] = 2,
        collection: Collection = DEFAULT_COLLECTION,
    ) -> PassageContext:
        found = await run(
            Right.read, collection, lambda engine: passages_around(engine.searcher.snapshot, doc_id, chunk_id, n)
        )
        if found is None:
            raise ToolError(f"document {doc_id!r} has no passage {chunk_id}; use a doc_id and chunk_id from search")
        before, passage, after = found
        return PassageContext(
            doc_id=doc_id, passage=_out(passage), before=[_out(p) for p in before], after=[_out(p) for p in after]
        )

    @mcp.tool(
        description="Documents like a given one (by meaning), itself left out, each shown by its most similar "
        "passage. `source` keeps only documents whose source path starts with it."
    )
    @counted
    async def similar_documents(
        doc_id: Annotated[str, Field(min_length=1)],
        k: Annotated[int, Field(ge=1, le=MAX_K)] = 5,
        source: Annotated[str | None, Field(min_length=1)] = None,
        collection: Collection = DEFAULT_COLLECTION,
    ) -> SimilarList:
        def similar(engine: Engine) -> SimilarList | None:
            snapshot = engine.searcher.snapshot
            found = find_similar(snapshot, doc_id, k, Filter(source_prefix=source))
            return None if found is None else SimilarList.of(doc_id, snapshot.version, found)

        out = await run(Right.read, collection, similar)
        if out is None:
            raise ToolError(f"no document with id {doc_id!r}; search or list_documents gives the ids")
        return out

    @mcp.tool(
        description="Add or replace a document (needs the write key): its text, and optionally a title and "
        "metadata (filterable in search). It is searchable when this returns."
    )
    @counted
    async def upsert_document(
        doc_id: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^/\\\x00-\x1f\x7f]+$")],
        text: Annotated[str, Field(min_length=1)],
        title: str | None = None,
        metadata: dict[str, str | int | float | bool] | None = None,
        collection: Collection = DEFAULT_COLLECTION,
    ) -> WriteOut:
        body = DocumentIn(text=text, title=title, metadata=metadata or {})
        document = document_from(doc_id, body, settings).document  # text: no file to keep
        result = await run(Right.write, collection, lambda engine: engine.write(upserts=[document]))
        return WriteOut.of(result)

    @mcp.tool(description="Delete a document and all its passages (needs the write key).")
    @counted
    async def delete_document(
        doc_id: Annotated[str, Field(min_length=1)], collection: Collection = DEFAULT_COLLECTION
    ) -> WriteOut:
        result = await run(Right.write, collection, lambda engine: engine.write(deletes=[doc_id]))
        return WriteOut.of(result)

    @mcp.tool(description="The collections this key may use: name, documents, passages (chunks), model, version.")
    @counted
    async def list_collections() -> CollectionList:
        caller = _CALLER.get()
        if caller is None:
            return CollectionList(collections=[])
        try:
            return await to_thread.run_sync(CollectionList.read, collections, caller)
        except IndexerError as exc:
            raise ToolError(str(exc)) from exc

    @mcp.resource(
        "seekr://documents/{doc_id}",
        name="document",
        description="A document's text, to attach to a conversation.",
        mime_type="text/plain",
    )
    async def document(doc_id: str) -> str:
        caller = _CALLER.get()
        if caller is None or not caller.may(Right.read, DEFAULT_COLLECTION):
            raise ResourceNotFoundError("this key may not read the default collection's documents")

        def read() -> StoredDocument | None:
            with collections.use(DEFAULT_COLLECTION) as engine:
                return engine.searcher.snapshot.store.document(doc_id)

        stored = await to_thread.run_sync(read)
        if stored is None:
            raise ResourceNotFoundError(f"no document with id {doc_id!r}")
        return stored.text

    return mcp


class McpAuth:
    """The REST API's keys for the MCP endpoint: 401 without a needed key; a caller's rights for the tools."""

    def __init__(self, app: ASGIApp, keys: KeyRing) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"authorization"), None)
        try:
            caller, _, _ = identify(self.keys, header)
        except ServiceError as exc:
            body = json.dumps({"detail": exc.message, "errors": []}).encode()
            headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
            await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        token = _CALLER.set(caller)
        try:
            await self.app(scope, receive, send)
        finally:
            _CALLER.reset(token)


LOCAL = "local"


@asynccontextmanager
async def local_rights(settings: Settings) -> AsyncIterator[None]:
    """Rights of a stdio client (the local user's own process): read every collection, and write when a write
    key is set."""
    rights = {Right.read, Right.write} if settings.api_key is not None else {Right.read}
    token = _CALLER.set(Caller(LOCAL, frozenset(rights), frozenset({ALL})))
    try:
        yield
    finally:
        _CALLER.reset(token)
