"""What a write sends, read into the documents the engine writes: JSON with a text or a base64 file, a batch of
them, or a multipart upload; and the files sent, for a collection that keeps them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, TypeVar

from anyio import to_thread
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, WithJsonSchema, model_validator
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request

from indexer.ingest.documents import read_upload
from indexer.ingest.readers.base import Skipped
from indexer.ingest.readers.text import make_document
from indexer.storage.originals import Original
from indexer.types import Document
from service.errors import BadRequestError, PayloadTooLargeError, UnprocessableError, UnsupportedMediaError
from service.fields import (
    BASE64_SCHEMA,
    DOCUMENT_TEXT_SCHEMA,
    REQUEST_MODEL_CONFIG,
    UPLOAD_NAME_SCHEMA,
    ApiDocId,
    Base64File,
    DocumentText,
    MetaValue,
    UploadName,
)
from service.settings import Settings

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
PUT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _body_schema(DocumentIn)},
            "multipart/form-data": {"schema": _body_schema(DocumentUpload, ("file",))},
        },
    }
}


async def put_body(request: Request, doc_id: str, settings: Settings) -> Incoming:
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
