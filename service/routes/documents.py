"""The document API: upsert, delete, read and list documents while searches keep running."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.convertors import Convertor, register_url_convertor

from indexer.building.writer import WriteResult
from indexer.filters import parse_meta
from indexer.retrieval.similar import SimilarDocument, similar_documents
from indexer.storage.base import Snapshot
from indexer.types import Filter
from service.admission import Admission
from service.auth import ReadAccess, WriteAccess
from service.deps import AdmissionDep, EngineDep, SearcherDep, SettingsDep
from service.engine import Engine
from service.errors import (
    NotFoundError,
    PayloadTooLargeError,
    error_responses,
)
from service.fields import ApiDocId, MetaParam, TopK
from service.writes import PUT_BODY, Batch, Incoming, document_from, originals_of, put_body

router = APIRouter(tags=["documents"])

# Writes: bad key (401), no key configured (403), bad JSON (400), over a limit (413), shed (429), loading (503).
_WRITE_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 422, 429, 503)


class WriteOut(BaseModel):
    """What a write did; `index_version` is visible to searches once this response is sent."""

    index_version: int
    embedded_chunks: int
    documents: dict[str, str] = Field(description="doc_id -> created, updated, unchanged or deleted")

    @classmethod
    def of(cls, result: WriteResult) -> WriteOut:
        """What the engine's write did."""
        return cls(
            index_version=result.snapshot.version, embedded_chunks=result.embedded_chunks, documents=result.status
        )


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

    @classmethod
    def read(cls, snapshot: Snapshot, offset: int, limit: int) -> DocumentList:
        """The page of `snapshot`'s documents from `offset` (reads the store: call it off the event loop)."""
        total, rows = snapshot.store.page(offset, limit)
        return cls(
            index_version=snapshot.version,
            total=total,
            offset=offset,
            limit=limit,
            documents=[DocumentSummary(**row) for row in rows],
        )


async def _write(
    engine: Engine, admission: Admission, upserts: Sequence[Incoming] = (), deletes: Sequence[str] = ()
) -> WriteOut:
    # Embedding and committing are blocking: in the thread pool, once admission control grants a slot.
    docs, originals = [i.document for i in upserts], originals_of(upserts)
    async with admission.write.admit():
        result = await to_thread.run_sync(lambda: engine.write(upserts=docs, deletes=deletes, originals=originals))
    return WriteOut.of(result)


DocId = Annotated[str, Path(description="Document id", min_length=1)]
NewDocId = Annotated[ApiDocId, Path(description="Document id: 1 to 256 characters, no '/', '\\\\' or controls")]


class DocumentPath(Convertor[str]):
    """A document id in a path: any characters (ids from folders hold '/'), but not ending in `/similar`,
    `/source` or `/pages/N.png`, the routes of similar documents and of the viewer, so that PUT or DELETE there
    is a 405 rather than a write to another id."""

    regex = r"(?!.*/(?:similar|source|pages/\d+\.png)$).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("docpath", DocumentPath())


# `:docpath`, as for reads and deletes, so an id with an encoded '/' gets 422 here rather than 405 from another route.
@router.put(
    "/documents/{doc_id:docpath}",
    response_model=WriteOut,
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
    summary="Create or replace a document",
    openapi_extra=PUT_BODY,
)
async def put_document(
    doc_id: NewDocId,
    request: Request,
    engine: EngineDep,
    admission: AdmissionDep,
    settings: SettingsDep,
    _: WriteAccess,
) -> WriteOut:
    """Upsert one document: JSON with its text (or a file as base64), or a file as multipart/form-data.

    Sending the same content again embeds nothing; new content replaces all its chunks.
    """
    doc = await put_body(request, doc_id, settings)
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
    docs = await to_thread.run_sync(lambda: [document_from(doc_id, d, settings) for doc_id, d in last.items()])
    return await _write(engine, admission, upserts=docs)


@router.delete(
    "/documents/{doc_id:docpath}",
    response_model=WriteOut,
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
    summary="Delete a document",
)
async def delete_document(doc_id: DocId, engine: EngineDep, admission: AdmissionDep, _: WriteAccess) -> WriteOut:
    """Remove a document and all its chunks (404 if there is none with this id)."""
    return await _write(engine, admission, deletes=[doc_id])


class SimilarOut(BaseModel):
    """A document like the one asked about, shown by its passage nearest to it."""

    rank: int
    doc_id: str
    title: str
    source: str
    score: float = Field(description="Cosine of that passage with the asked document's mean passage vector.")
    chunk_id: int
    start: int
    end: int
    page: int | None
    text: str


class SimilarList(BaseModel):
    """Documents like `doc_id`, most alike first."""

    doc_id: str
    index_version: int
    results: list[SimilarOut]

    @classmethod
    def of(cls, doc_id: str, version: int, found: list[SimilarDocument]) -> SimilarList:
        """The documents `similar_documents` found for `doc_id` in index version `version`."""
        fields = SimilarOut.model_fields
        return cls(
            doc_id=doc_id,
            index_version=version,
            results=[SimilarOut(**{f: getattr(d, f) for f in fields}) for d in found],
        )


# Declared before GET /documents/{doc_id:docpath}; a document whose id ends in "/similar" is read through the list.
@router.get(
    "/documents/{doc_id:path}/similar",
    response_model=SimilarList,
    responses=error_responses(401, 403, 404, 422, 429, 503),
    summary="Documents like this one",
)
async def similar(
    doc_id: DocId,
    searcher: SearcherDep,
    admission: AdmissionDep,
    _: ReadAccess,
    k: Annotated[TopK, Query(description="How many documents (1..100).")] = 5,
    source: Annotated[str | None, Query(min_length=1, description="Only sources starting with this path.")] = None,
    meta: Annotated[list[MetaParam] | None, Query(description="Metadata filter `key:value` (repeatable).")] = None,
) -> SimilarList:
    """Documents most like `doc_id` by their stored vectors (no model call), itself left out, each shown by its
    passage nearest to it; filters restrict which documents may be returned."""
    snapshot = searcher.snapshot
    where = Filter(source_prefix=source, metadata=tuple(parse_meta(meta or []).items()))
    async with admission.search.admit():
        found = await to_thread.run_sync(lambda: similar_documents(snapshot, doc_id, k, where))
    if found is None:
        raise NotFoundError(f"no document with id {doc_id!r}; GET /documents lists them")
    return SimilarList.of(doc_id, snapshot.version, found)


@router.get(
    "/documents/{doc_id:docpath}",
    response_model=DocumentOut,
    responses=error_responses(401, 403, 404, 422, 503),
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
    "/documents",
    response_model=DocumentList,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="List documents",
)
async def list_documents(
    searcher: SearcherDep,
    _: ReadAccess,
    offset: Annotated[int, Query(ge=0, description="Documents to skip (past the end: an empty page).")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size (1..1000).")] = 100,
) -> DocumentList:
    """Documents ordered by id, a page at a time."""
    return DocumentList.read(searcher.snapshot, offset, limit)
