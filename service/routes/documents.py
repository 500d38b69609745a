"""The document API: upsert, delete, read and list documents while searches keep running."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from indexer.ingest.documents import make_document
from indexer.types import Document
from service.admission import Admission
from service.auth import ReadAccess, WriteAccess
from service.deps import AdmissionDep, EngineDep, SearcherDep, SettingsDep
from service.engine import Engine
from service.errors import BadRequestError, NotFoundError, PayloadTooLargeError, error_responses
from service.schemas import REQUEST_MODEL_CONFIG, ApiDocId, DocumentText, MetaValue
from service.settings import Settings

router = APIRouter(tags=["documents"])

# Writes: bad key (401), no key configured (403), bad JSON (400), over a limit (413), shed (429), loading (503).
_WRITE_ERRORS = error_responses(400, 401, 403, 413, 422, 429, 503)


class DocumentIn(BaseModel):
    """A document to store: its text, and optionally a title and metadata (filterable in search)."""

    model_config = REQUEST_MODEL_CONFIG | ConfigDict(
        json_schema_extra={"examples": [{"text": "The lighthouse was kept until 1962.", "title": "Lighthouse"}]},
    )

    text: DocumentText = Field(
        description="The document's text, stored as sent but for white space (unless `cleaning` is `web`)."
    )
    title: str | None = Field(None, description="Title; the first line of the text when omitted.")
    metadata: dict[str, MetaValue] = Field(default_factory=dict, description="Filterable fields.")
    cleaning: Literal["none", "web"] = Field(
        "none",
        description="`web`: the text is a saved web page; remove its boilerplate (ads, share lines, captions, "
        "'See also' links...) with the rules indexed folders use. A page they would empty is kept whole.",
    )


class BatchDocument(DocumentIn):
    """A document of a batch, with its id."""

    id: ApiDocId = Field(description="Document id: 1 to 256 characters, no '/', '\\\\' or control characters.")


class Batch(BaseModel):
    """POST /documents body."""

    model_config = REQUEST_MODEL_CONFIG

    documents: list[BatchDocument] = Field(
        min_length=1,
        description="Documents to upsert, applied in order: an id sent twice ends with its last text.",
    )


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


def _document(doc_id: str, body: DocumentIn, settings: Settings) -> Document:
    if len(body.text) > settings.max_document_chars:
        raise PayloadTooLargeError(
            f"document {doc_id!r} has {len(body.text)} characters; the limit is {settings.max_document_chars}"
        )
    doc = make_document(
        doc_id=doc_id,
        raw_text=body.text,
        source=f"api:{doc_id}",
        title=body.title,
        metadata=body.metadata,
        # Text a user sends is not a scraped page unless they say so: no line of it is dropped otherwise.
        clean=body.cleaning == "web",
    )
    if doc is None:  # DocumentText has checked there is a character besides white space
        raise BadRequestError(f"document {doc_id!r} has no text; send its text")
    return doc


async def _write(
    engine: Engine, admission: Admission, upserts: Sequence[Document] = (), deletes: Sequence[str] = ()
) -> WriteOut:
    # Embedding and committing are blocking: in the thread pool, once admission control grants a slot.
    async with admission.write.admit():
        result = await to_thread.run_sync(lambda: engine.write(upserts=upserts, deletes=deletes))
    return WriteOut(
        index_version=result.snapshot.version, embedded_chunks=result.embedded_chunks, documents=result.status
    )


DocId = Annotated[str, Path(description="Document id", min_length=1)]
NewDocId = Annotated[ApiDocId, Path(description="Document id: 1 to 256 characters, no '/', '\\\\' or controls")]


# `:path`, as for reads and deletes, so an id with an encoded '/' gets 422 here rather than 405 from another route.
@router.put(
    "/documents/{doc_id:path}", response_model=WriteOut, responses=_WRITE_ERRORS, summary="Create or replace a document"
)
async def put_document(
    doc_id: NewDocId,
    body: DocumentIn,
    engine: EngineDep,
    admission: AdmissionDep,
    settings: SettingsDep,
    _: WriteAccess,
) -> WriteOut:
    """Upsert one document. Sending the same content again embeds nothing; new content replaces all its chunks."""
    doc = _document(doc_id, body, settings)
    return await _write(engine, admission, upserts=[doc])


@router.post(
    "/documents",
    response_model=WriteOut,
    responses=_WRITE_ERRORS,
    summary="Create or replace documents in one version",
)
async def post_documents(
    batch: Annotated[Batch, Body()], engine: EngineDep, admission: AdmissionDep, settings: SettingsDep, _: WriteAccess
) -> WriteOut:
    """Upsert a batch (at most `max_batch_documents`, default 100) as one new index version."""
    if len(batch.documents) > settings.max_batch_documents:
        raise PayloadTooLargeError(
            f"batch of {len(batch.documents)} documents; the limit is {settings.max_batch_documents}: split it"
        )
    # Applied in order, like that many PUTs in one version: of an id sent twice, the last text is kept.
    last = {d.id: d for d in batch.documents}
    docs = [_document(doc_id, d, settings) for doc_id, d in last.items()]
    return await _write(engine, admission, upserts=docs)


@router.delete(
    "/documents/{doc_id:path}",
    response_model=WriteOut,
    responses=error_responses(401, 403, 404, 422, 429, 503),
    summary="Delete a document",
)
async def delete_document(doc_id: DocId, engine: EngineDep, admission: AdmissionDep, _: WriteAccess) -> WriteOut:
    """Remove a document and all its chunks (404 if there is none with this id)."""
    return await _write(engine, admission, deletes=[doc_id])


@router.get(
    "/documents/{doc_id:path}",
    response_model=DocumentOut,
    responses=error_responses(401, 404, 422, 503),
    summary="Read a document",
)
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


@router.get(
    "/documents", response_model=DocumentList, responses=error_responses(401, 422, 503), summary="List documents"
)
async def list_documents(
    searcher: SearcherDep,
    _: ReadAccess,
    offset: Annotated[int, Query(ge=0, description="Documents to skip (past the end: an empty page).")] = 0,
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
