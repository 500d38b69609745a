"""The document API: upsert, delete, read and list documents while searches keep running."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, TypeVar

from anyio import to_thread
from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, WithJsonSchema, model_validator
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from indexer.building.writer import WriteResult
from indexer.ingest.documents import Skipped, make_document, read_upload
from indexer.retrieval.similar import SimilarDocument, similar_documents
from indexer.storage.base import Snapshot
from indexer.storage.originals import Original
from indexer.types import Document, Filter
from service.admission import Admission
from service.auth import ReadAccess, WriteAccess
from service.deps import AdmissionDep, EngineDep, SearcherDep, SettingsDep
from service.engine import Engine
from service.errors import (
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
    UnprocessableError,
    UnsupportedMediaError,
    error_responses,
)
from service.schemas import (
    BASE64_SCHEMA,
    DOCUMENT_TEXT_SCHEMA,
    REQUEST_MODEL_CONFIG,
    UPLOAD_NAME_SCHEMA,
    ApiDocId,
    Base64File,
    DocumentText,
    MetaParam,
    MetaValue,
    TopK,
    UploadName,
    parse_meta,
)
from service.settings import Settings

router = APIRouter(tags=["documents"])

# Writes: bad key (401), no key configured (403), bad JSON (400), over a limit (413), shed (429), loading (503).
_WRITE_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 422, 429, 503)


# Exactly one of a text or a file, said in the schema too, so clients and fuzzers know it.
_TEXT_OR_FILE: list[JsonValue] = [
    {"required": ["text"], "not": {"anyOf": [{"required": ["file_base64"]}, {"required": ["filename"]}]}},
    {"required": ["file_base64", "filename"], "not": {"required": ["text"]}},
]
_CONTENT_FIELDS = ("text", "file_base64", "filename")


class DocumentIn(BaseModel):
    """A document to store: its text (or a file), and optionally a title and metadata (filterable in search)."""

    model_config = REQUEST_MODEL_CONFIG | ConfigDict(
        json_schema_extra={
            "examples": [{"text": "The lighthouse was kept until 1962.", "title": "Lighthouse"}],
            "oneOf": _TEXT_OR_FILE,
        },
    )

    # Optional, but never null: a field sent is a text, a file or its name (the schema says so, and so does
    # `_text_or_file`).
    text: Annotated[DocumentText | None, WithJsonSchema(DOCUMENT_TEXT_SCHEMA)] = Field(
        None,
        description="The document's text, stored as sent but for white space (unless `cleaning` is `web`). "
        "Send either `text` or `file_base64` with `filename`.",
    )
    file_base64: Annotated[Base64File | None, WithJsonSchema(BASE64_SCHEMA)] = Field(
        None,
        description="Instead of `text`: a file's bytes, base64-encoded (PDF, Word, PowerPoint, OpenDocument, "
        "EPUB, RTF, e-mail, HTML, Markdown or text), read as an indexed folder's file is; `filename` names it.",
    )
    filename: Annotated[UploadName | None, WithJsonSchema(UPLOAD_NAME_SCHEMA)] = Field(
        None, description="With `file_base64`: the file's name; its extension says the format, e.g. `report.pdf`."
    )
    title: str | None = Field(None, description="Title; the first line of the text when omitted.")
    metadata: dict[str, MetaValue] = Field(default_factory=dict, description="Filterable fields.")
    cleaning: Literal["none", "web"] = Field(
        "none",
        description="`web`: the text is a saved web page; remove its boilerplate (ads, share lines, captions, "
        "'See also' links...) with the rules indexed folders use. A page they would empty is kept whole.",
    )

    @model_validator(mode="after")
    def _text_or_file(self) -> DocumentIn:
        if any(name in self.model_fields_set and getattr(self, name) is None for name in _CONTENT_FIELDS):
            raise ValueError('"text", "file_base64" and "filename" are strings when sent; leave out the ones unused')
        if (self.text is None) == (self.file_base64 is None):
            raise ValueError('"text" is required, or instead "file_base64" with "filename" for a file; not both')
        if (self.file_base64 is None) != (self.filename is None):
            raise ValueError('"file_base64" goes with "filename" (its extension names the format, e.g. report.pdf)')
        return self


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


@dataclass(frozen=True)
class Incoming:
    """A document as sent, and the file it was read from (None: sent as text), kept if the collection asks."""

    document: Document
    original: Original | None = None


def originals_of(incoming: Sequence[Incoming]) -> dict[str, Original]:
    """The files of the documents of `incoming` that were sent as files, by document id."""
    return {i.document.doc_id: i.original for i in incoming if i.original is not None}


def document_from(doc_id: str, body: DocumentIn, settings: Settings) -> Incoming:
    """The Document `body` describes (CPU-bound for a file: call it off the event loop)."""
    if body.file_base64 is not None and body.filename is not None:
        return uploaded(doc_id, body.filename, body.file_base64, body.title, body.metadata, settings)
    text = body.text or ""
    if len(text) > settings.max_document_chars:
        raise PayloadTooLargeError(
            f"document {doc_id!r} has {len(text)} characters; the limit is {settings.max_document_chars}"
        )
    doc = make_document(
        doc_id=doc_id,
        raw_text=text,
        source=f"api:{doc_id}",
        title=body.title,
        metadata=body.metadata,
        # Text a user sends is not a scraped page unless they say so: no line of it is dropped otherwise.
        clean=body.cleaning == "web",
    )
    if doc is None:  # DocumentText has checked there is a character besides white space
        raise BadRequestError(f"document {doc_id!r} has no text; send its text")
    return Incoming(doc)


def uploaded(
    doc_id: str, filename: str, data: bytes, title: str | None, metadata: dict[str, Any], settings: Settings
) -> Incoming:
    """The Document of an uploaded file, read like a folder's file; 422 saying why when it cannot be read."""
    read = read_upload(doc_id, filename, data, source=f"api:{doc_id}", ocr=settings.ocr_settings())
    if isinstance(read, Skipped):
        raise UnprocessableError(f"file {filename!r} cannot be indexed ({read.kind.value}): {read.reason}")
    doc, _ = read
    if len(doc.text) > settings.max_document_chars:
        raise PayloadTooLargeError(
            f"file {filename!r} holds {len(doc.text)} characters of text; the limit is {settings.max_document_chars}"
        )
    doc = replace(doc, title=title or doc.title, metadata=doc.metadata | metadata)
    return Incoming(doc, Original(data, PurePosixPath(filename).suffix))


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


class DocumentUpload(BaseModel):
    """PUT /documents/{id} as multipart/form-data: a file and, optionally, its title and metadata."""

    model_config = REQUEST_MODEL_CONFIG

    file: bytes = Field(description="The file; its name's extension says the format (see `DocumentIn`).")
    title: str | None = Field(None, description="Title; the file's own (or its first heading) when omitted.")
    metadata: str | None = Field(None, description='Filterable fields as a JSON object, e.g. {"team": "ops"}.')


def _body_schema(model: type[BaseModel], binary: tuple[str, ...] = ()) -> dict[str, Any]:
    schema = model.model_json_schema()
    for name in binary:
        schema["properties"][name] = {"type": "string", "format": "binary"}
    return schema


# Declared by hand: one route takes two media types, which FastAPI's body parameters cannot express.
_PUT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _body_schema(DocumentIn)},
            "multipart/form-data": {"schema": _body_schema(DocumentUpload, ("file",))},
        },
    }
}


async def _put_body(request: Request, doc_id: str, settings: Settings) -> Incoming:
    """The document a PUT sends: JSON (`text`, or `file_base64` and `filename`) or a multipart file upload."""
    try:
        return await _read_put_body(request, doc_id, settings)
    except ClientDisconnect as exc:
        # Also what the body size limit makes the app see past the limit; its 413 has gone out already.
        raise BadRequestError("the client went away before sending the whole body") from exc


async def _read_put_body(request: Request, doc_id: str, settings: Settings) -> Incoming:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        async with request.form(max_files=1, max_fields=3) as form:
            upload, title, meta = form.get("file"), form.get("title"), form.get("metadata")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise UnprocessableError('a multipart upload needs its file in a part named "file", with a filename')
            data = await upload.read()
            name = upload.filename
        fields = _validated(
            DocumentFields, json.dumps({"title": title if isinstance(title, str) else None, "metadata": _meta(meta)})
        )
        return await to_thread.run_sync(uploaded, doc_id, name, data, fields.title, fields.metadata, settings)
    if media not in ("application/json", ""):
        raise UnsupportedMediaError(
            f"Content-Type {media!r}: send application/json (text or file_base64) or multipart/form-data (a file)"
        )
    body = _validated(DocumentIn, await request.body())
    return await to_thread.run_sync(document_from, doc_id, body, settings)


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], raw: str | bytes) -> M:
    """`raw` JSON as `model`; its errors reported as every other body's are (one handler, one shape)."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc


class DocumentFields(BaseModel):
    """The title and metadata parts of a multipart upload, checked as JSON documents' are."""

    model_config = REQUEST_MODEL_CONFIG

    title: str | None = None
    metadata: dict[str, MetaValue] = Field(default_factory=dict)


def _meta(raw: object) -> object:
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UnprocessableError(
            f'the "metadata" part is not JSON ({exc.msg}); send an object like {{"team": "ops"}}'
        ) from exc


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
    openapi_extra=_PUT_BODY,
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
    doc = await _put_body(request, doc_id, settings)
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
