"""The document API: upsert, delete, read and list documents while searches keep running."""

from __future__ import annotations

import re
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from indexer.documents import Document, make_document
from indexer.writer import WriteResult
from service.auth import ReadAccess, WriteAccess
from service.deps import EngineDep, SearcherDep, SettingsDep
from service.errors import BadRequestError, NotFoundError, PayloadTooLargeError
from service.settings import Settings

router = APIRouter(tags=["documents"])

_BAD_ID = re.compile(r"[/\\\x00-\x1f\x7f]")
MAX_ID_CHARS = 256


class DocumentIn(BaseModel):
    """A document to store: its text, and optionally a title and metadata (filterable in search)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "The lighthouse was kept until 1962.", "title": "Lighthouse"}]},
    )

    text: str = Field(description="The document's text; cleaned and chunked like an indexed file.")
    title: str | None = Field(None, description="Title; the first line of the text when omitted.")
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict, description="Filterable fields.")


class BatchDocument(DocumentIn):
    """A document of a batch, with its id."""

    id: str = Field(description="Document id (no '/', '\\\\' or control characters).")


class Batch(BaseModel):
    """POST /documents body."""

    model_config = ConfigDict(extra="forbid")

    documents: list[BatchDocument] = Field(min_length=1, description="Documents to upsert.")


class WriteOut(BaseModel):
    """What a write did; `index_version` is visible to searches once this response is sent."""

    index_version: int
    embedded_chunks: int
    documents: dict[str, str] = Field(description="doc_id -> created, updated, unchanged or deleted")


class DocumentOut(BaseModel):
    """A stored document."""

    doc_id: str
    title: str
    source: str
    origin: str = Field(description="'build' (from an indexed folder) or 'api'")
    text: str = Field(description="The cleaned text that passage offsets point into.")
    metadata: dict[str, Any]
    chunks: int
    content_hash: str


class DocumentSummary(BaseModel):
    """A document in a listing."""

    doc_id: str
    title: str
    source: str
    origin: str
    chunks: int


class DocumentList(BaseModel):
    """One page of documents, ordered by id."""

    index_version: int
    total: int
    offset: int
    limit: int
    documents: list[DocumentSummary]


def _check_id(doc_id: str) -> str:
    if not doc_id or len(doc_id) > MAX_ID_CHARS or _BAD_ID.search(doc_id):
        raise BadRequestError(
            f"document id {doc_id[:80]!r} is not allowed: use 1 to {MAX_ID_CHARS} characters without '/', '\\\\' "
            "or control characters"
        )
    return doc_id


def _document(doc_id: str, body: DocumentIn, settings: Settings) -> Document:
    _check_id(doc_id)
    if len(body.text) > settings.max_document_chars:
        raise PayloadTooLargeError(
            f"document {doc_id!r} has {len(body.text)} characters; the limit is {settings.max_document_chars}"
        )
    doc = make_document(
        doc_id=doc_id, raw_text=body.text, source=f"api:{doc_id}", title=body.title, metadata=body.metadata
    )
    if doc is None:
        raise BadRequestError(f"document {doc_id!r} has no text (empty, or only boilerplate); send its text")
    return doc


def _out(result: WriteResult) -> WriteOut:
    return WriteOut(
        index_version=result.snapshot.version, embedded_chunks=result.embedded_chunks, documents=result.status
    )


DocId = Annotated[str, Path(description="Document id", min_length=1)]


@router.put("/documents/{doc_id}", response_model=WriteOut, summary="Create or replace a document")
async def put_document(
    doc_id: DocId, body: DocumentIn, engine: EngineDep, settings: SettingsDep, _: WriteAccess
) -> WriteOut:
    """Upsert one document. Sending the same content again embeds nothing; new content replaces all its chunks."""
    doc = _document(doc_id, body, settings)
    return _out(await to_thread.run_sync(lambda: engine.write(upserts=[doc])))


@router.post("/documents", response_model=WriteOut, summary="Create or replace documents in one version")
async def post_documents(
    batch: Annotated[Batch, Body()], engine: EngineDep, settings: SettingsDep, _: WriteAccess
) -> WriteOut:
    """Upsert a batch (at most `max_batch_documents`, default 100) as one new index version."""
    if len(batch.documents) > settings.max_batch_documents:
        raise PayloadTooLargeError(
            f"batch of {len(batch.documents)} documents; the limit is {settings.max_batch_documents}: split it"
        )
    ids = [d.id for d in batch.documents]
    if len(set(ids)) != len(ids):
        raise BadRequestError("the batch names the same document id twice; send each id once")
    docs = [_document(d.id, d, settings) for d in batch.documents]
    return _out(await to_thread.run_sync(lambda: engine.write(upserts=docs)))


@router.delete("/documents/{doc_id:path}", response_model=WriteOut, summary="Delete a document")
async def delete_document(doc_id: DocId, engine: EngineDep, _: WriteAccess) -> WriteOut:
    """Remove a document and all its chunks (404 if there is none with this id)."""
    return _out(await to_thread.run_sync(lambda: engine.write(deletes=[doc_id])))


@router.get("/documents/{doc_id:path}", response_model=DocumentOut, summary="Read a document")
async def get_document(doc_id: DocId, searcher: SearcherDep, _: ReadAccess) -> DocumentOut:
    """The stored document (cleaned text, title, metadata) and its chunk count."""
    stored = searcher.snapshot.store.document(doc_id)
    if stored is None:
        raise NotFoundError(f"no document with id {doc_id!r}; GET /documents lists them")
    return DocumentOut(
        doc_id=stored.doc_id,
        title=stored.title,
        source=stored.source,
        origin=stored.origin,
        text=stored.text,
        metadata=stored.metadata,
        chunks=stored.n_chunks,
        content_hash=stored.content_hash,
    )


@router.get("/documents", response_model=DocumentList, summary="List documents")
async def list_documents(
    searcher: SearcherDep,
    _: ReadAccess,
    offset: Annotated[int, Query(ge=0, description="Documents to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size (1..1000).")] = 100,
) -> DocumentList:
    """Documents ordered by id, a page at a time."""
    snapshot = searcher.snapshot
    total, rows = snapshot.store.page(offset, limit)
    return DocumentList(
        index_version=snapshot.version,
        total=total,
        offset=offset,
        limit=limit,
        documents=[DocumentSummary(**row) for row in rows],
    )
