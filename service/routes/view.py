"""Where a hit is: the document's original file, and its pages as images with the passage marked."""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from starlette.responses import FileResponse

from indexer.collections import DEFAULT_COLLECTION
from indexer.ingest.fingerprint import kept_file
from indexer.ingest.ocr.base import OcrMode
from indexer.ingest.ocr.recognizer import Recognizer, recognizer_for
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Snapshot
from indexer.types import StoredDocument
from indexer.viewer.cache import PageCache
from indexer.viewer.render import MAX_WIDTH, MIN_WIDTH, PageImage, described, render_page
from indexer.viewer.source import SourceFile, source_file
from service.auth import GrantDep, ReadAccess
from service.deps import EngineDep, SearcherDep, SettingsDep
from service.engine import Engine
from service.errors import NotFoundError, UnprocessableError, error_responses
from service.settings import Settings

router = APIRouter(tags=["documents"])

_MARK = re.compile(r"^(\d{1,10})-(\d{1,10})$")
_ERRORS = error_responses(401, 403, 404, 409, 422, 503)
DocId = Annotated[str, PathParam(min_length=1, description="The document's id.")]


class Viewer:
    """The service's page images: their disk cache and how many are rendered at once."""

    def __init__(self, cache: PageCache, renders: int, ocr: Recognizer | None = None) -> None:
        self.cache = cache
        self.limiter = CapacityLimiter(renders)
        self.ocr = ocr  # how scans are read, to find a recognised page's words in the OCR cache

    def key(self, found: SourceFile, content_hash: str, number: int, width: int, span: tuple[int, int] | None) -> str:
        """The cache key (and ETag) of a page image: what it shows."""
        return self.cache.key(found.sha256, content_hash, number, width, span)

    def render(
        self, found: SourceFile, text: str, key: str, number: int, width: int, span: tuple[int, int] | None
    ) -> PageImage:
        """Render a page (blocking: call it in a worker thread, within `limiter`) and keep it under `key`."""
        image = render_page(found, text, number, width, span, self.ocr)
        self.cache.put(key, image.png)
        return image


def viewer_for(settings: Settings) -> Viewer:
    """The viewer a service with `settings` uses."""
    ocr = settings.ocr_settings()
    recognizer = recognizer_for(ocr) if ocr.mode is not OcrMode.off else None
    return Viewer(PageCache(settings.page_cache, settings.page_cache_mb * 2**20), settings.page_renders, recognizer)


@dataclass(frozen=True)
class _Doc:
    stored: StoredDocument
    content_hash: str  # computed once: it hashes the whole text


# Documents asked for by the viewer, by snapshot and id: a browser reads a PDF in many range requests and pages
# through a document, and reading a long document's row (and hashing its text) each time cost more than serving
# the bytes (python -m bench viewer). A snapshot never changes; the entry holds a weak reference to its snapshot,
# so a later snapshot that happens to reuse the object's id is never taken for it.
_DOCS: OrderedDict[tuple[int, str], tuple[weakref.ref[Snapshot], _Doc]] = OrderedDict()
_DOCS_KEPT = 32
_docs_lock = threading.Lock()


def _document(searcher: Searcher, doc_id: str) -> _Doc:
    snapshot = searcher.snapshot
    key = (id(snapshot), doc_id)
    with _docs_lock:
        if (found := _DOCS.get(key)) is not None and found[0]() is snapshot:
            _DOCS.move_to_end(key)
            return found[1]
    stored = snapshot.store.document(doc_id)
    if stored is None:
        raise NotFoundError(f"no document with id {doc_id!r}; GET /documents lists them")
    doc = _Doc(stored, stored.content_hash)
    with _docs_lock:
        _DOCS[key] = (weakref.ref(snapshot), doc)
        while len(_DOCS) > _DOCS_KEPT:
            _DOCS.popitem(last=False)
    return doc


def folder_of(searcher: Searcher, configured: Path | None, collection: str) -> Path | None:
    """Where the collection's files are: SEEKR_SOURCE_DIR for the default collection, else the folder its last
    build recorded."""
    if configured is not None and collection == DEFAULT_COLLECTION:
        return configured
    source = searcher.snapshot.manifest.source
    return Path(source.folder) if source is not None and source.folder else None


def file_of(
    engine: Engine, searcher: Searcher, stored: StoredDocument, configured: Path | None, collection: str
) -> SourceFile:
    """The checked file of `stored`: in the collection's folder, or kept by the collection if it was sent over
    HTTP (blocking)."""
    originals = engine.originals(searcher.snapshot.manifest)
    found = kept_file(stored.metadata)
    kept = originals.path(stored.doc_id, *found) if originals is not None and found is not None else None
    return source_file(stored, folder_of(searcher, configured, collection), kept)


async def _source(
    engine: Engine, searcher: Searcher, doc_id: str, settings: SettingsDep, grant: GrantDep
) -> tuple[_Doc, SourceFile]:
    def locate() -> tuple[_Doc, SourceFile]:  # one worker-thread hop per request (a PDF is read in many ranges)
        doc = _document(searcher, doc_id)
        return doc, file_of(engine, searcher, doc.stored, settings.source_dir, grant.collection)

    return await to_thread.run_sync(locate)


def _matches(request: Request, etag: str) -> bool:
    sent = request.headers.get("if-none-match", "")
    return any(tag.strip().removeprefix("W/") in (etag, "*") for tag in sent.split(","))


@router.get(
    "/documents/{doc_id:path}/source",
    responses=_ERRORS | {200: {"description": "The file, whole or the ranges asked for (206)."}},
    summary="The original file of a document",
    response_class=FileResponse,
)
async def get_source(
    doc_id: DocId,
    request: Request,
    engine: EngineDep,
    searcher: SearcherDep,
    settings: SettingsDep,
    grant: GrantDep,
    _: ReadAccess,
) -> Response:
    """The file the document was read from, byte for byte, with its media type, `ETag` (its SHA-256, as
    indexed), `Last-Modified` and range requests. 404 when the document has no file (sent as text) or it left
    the folder, 409 when the file changed since it was indexed."""
    found = (await _source(engine, searcher, doc_id, settings, grant))[1]
    etag = f'"{found.sha256}"'
    if _matches(request, etag):
        return Response(status_code=304, headers={"etag": etag})
    return FileResponse(
        found.path,
        media_type=found.media_type,
        filename=found.name,
        content_disposition_type="inline",
        headers={"etag": etag, "cache-control": "private, no-cache"},
    )


@router.get(
    "/documents/{doc_id:path}/pages/{number:int}.png",
    responses=_ERRORS | {200: {"content": {"image/png": {}}, "description": "The page as a PNG."}},
    summary="A page of a document as an image, a passage marked",
    response_class=Response,
)
async def get_page_image(
    doc_id: DocId,
    number: int,
    request: Request,
    engine: EngineDep,
    searcher: SearcherDep,
    settings: SettingsDep,
    grant: GrantDep,
    _: ReadAccess,
    width: Annotated[
        int, Query(ge=MIN_WIDTH, le=MAX_WIDTH, description=f"Image width in pixels ({MIN_WIDTH}..{MAX_WIDTH}).")
    ] = 1000,
    mark: Annotated[
        str | None,
        Query(
            max_length=21,
            pattern=_MARK.pattern,
            description="Characters START-END of the document's text to mark (a hit's start and end), e.g. 120-480.",
        ),
    ] = None,
) -> Response:
    """Page `number` (1-based) of a PDF or an image file, `width` pixels wide, the characters `mark` boxed where
    the page's text layer has them. `X-Seekr-Marks` says what was marked; `X-Seekr-Pages` the page count."""
    span = parse_mark(mark)
    doc, found = await _source(engine, searcher, doc_id, settings, grant)
    viewer: Viewer = request.app.state.viewer
    key = viewer.key(found, doc.content_hash, number, width, span)
    etag = f'"{key[:32]}"'
    headers = {"etag": etag, "cache-control": "private, max-age=3600"}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    cached = await to_thread.run_sync(viewer.cache.get, key)
    if cached is not None:
        pages, marks = described(cached)
        said = {"x-seekr-pages": str(pages), "x-seekr-marks": marks} if pages is not None and marks else {}
        return Response(cached, media_type="image/png", headers=headers | said | {"x-seekr-cache": "hit"})
    image = await to_thread.run_sync(
        lambda: viewer.render(found, doc.stored.text, key, number, width, span), limiter=viewer.limiter
    )
    headers |= {"x-seekr-pages": str(image.pages), "x-seekr-marks": image.marks, "x-seekr-cache": "miss"}
    return Response(image.png, media_type="image/png", headers=headers)


def parse_mark(mark: str | None) -> tuple[int, int] | None:
    if mark is None:
        return None
    found = _MARK.match(mark)
    if found is None or int(found.group(1)) >= int(found.group(2)):
        raise UnprocessableError(
            f"mark must be START-END, two whole numbers with START below END (a hit's start and end), e.g. "
            f"mark=120-480; got {mark!r}"
        )
    return int(found.group(1)), int(found.group(2))


def page_text(snapshot: Snapshot, stored: StoredDocument, number: int) -> str:
    """The text of page `number` of a document as indexed: from its first passage on that page to its last
    (empty when no passage is on it)."""
    ids = snapshot.store.chunk_ids_of([stored.doc_id]).get(stored.doc_id, [])
    on_page = [r for r in snapshot.store.chunks(ids).values() if r.page == number]
    if not on_page:
        return ""
    return stored.text[min(r.start for r in on_page) : max(r.end for r in on_page)]
