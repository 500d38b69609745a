"""Reading one file (or an upload) into documents, by its format's reader (`indexer.ingest.readers`): PDF
(scanned pages by OCR), Word, PowerPoint, OpenDocument, EPUB, RTF, e-mail, spreadsheets, CSV and images into
`Extracted` blocks, cleaned page-aware (`pages.paged_blocks`) and assembled; text, Markdown, HTML and JSON Lines
into documents directly (`readers.text`).

Every file that cannot be used (unsupported, too large, empty, binary, not UTF-8, unreadable, encrypted,
damaged, a scan without a text layer while OCR is off, a malformed JSON line) becomes a `Skipped` record naming
the file, a reason code (`SkipKind`) and a message; reading never raises for a bad file, so one bad file never
stops a build. Each file-backed document carries file metadata (`file_type`, `file_size`, `file_modified`) and what
its format records (`author`, `created`, `modified`, `pages`, `slides`, Markdown front matter, ...). A whole
folder is read by `indexer.ingest.folder`.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from indexer.ingest.clean import Cleaning
from indexer.ingest.fingerprint import FILENAME_KEY, HASH_KEY, file_sha256
from indexer.ingest.ocr.base import OcrSettings
from indexer.ingest.ocr.recognizer import recognizer_for
from indexer.ingest.pages import paged_blocks
from indexer.ingest.read_options import ReadOptions
from indexer.ingest.readers import READERS
from indexer.ingest.readers.base import SkipKind, Skipped, Unreadable, assemble, iso
from indexer.ingest.readers.text import (
    HTML_SUFFIXES,
    JSONL_SUFFIXES,
    MARKDOWN_SUFFIXES,
    TEXT_SUFFIXES,
    CleaningOutcome,
    Read,
    decode_text,
    front_matter,
    read_document,
    read_html,
    read_jsonl,
)

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES | set(READERS)
DEFAULT_MAX_FILE_BYTES = 100 * 2**20
# What a format's parser raises on a file it cannot parse; these mean a bad file, and the file is skipped.
_PARSE_ERRORS = (ValueError, KeyError, IndexError, LookupError, zipfile.BadZipFile, etree.LxmlError, RecursionError)


def file_metadata(path: Path) -> dict[str, Any]:
    """What the file system says of a file: its type (extension), size in bytes and modification time (UTC)."""
    stat = path.stat()
    return {
        "file_type": path.suffix.lower().lstrip(".") or None,
        "file_size": stat.st_size,
        "file_modified": iso(datetime.fromtimestamp(stat.st_mtime, UTC)),
    }


def _present(metadata: dict[str, Any]) -> dict[str, Any]:
    """`metadata` without empty values, dates as ISO 8601 text (JSON and filters need plain values)."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, datetime | date):
            value = iso(value)
        if value is None or value == "" or value == []:
            continue
        out[str(key)] = value
    return out


def read_file(
    path: Path, rel: str, read: ReadOptions | None = None, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> Iterator[Read | Skipped]:
    """The documents of one file (a `.jsonl` file holds many), or why it was skipped; never raises for a bad file.

    `rel` is the file's path relative to the indexed folder: the document id and source. `read`: how (cleaning,
    page-aware cleaning, OCR; None: the defaults).
    """
    read = read or ReadOptions()
    cleaning = read.cleaning
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        yield Skipped(rel, f"unsupported file type {path.suffix or '(none)'!r}", SkipKind.unsupported)
        return
    try:
        meta = file_metadata(path)
        if meta["file_size"] > max_file_bytes:
            yield Skipped(
                rel,
                f"{meta['file_size']:,} bytes is over the limit of {max_file_bytes:,} bytes "
                f"({max_file_bytes / 2**20:g} MB; raise it with --max-file-mb or SEEKR_MAX_FILE_MB)",
                SkipKind.too_large,
            )
            return
        if meta["file_size"] == 0:
            yield Skipped(rel, "empty file", SkipKind.empty)
            return
        meta[HASH_KEY] = file_sha256(path)  # what the file served later must still be (indexer.viewer.source)
        if suffix in READERS:
            yield from _read_structured(path, rel, meta, read.cleans_pages, read.ocr)
            return
        raw = decode_text(path.read_bytes(), rel)
    except OSError as exc:
        yield Skipped(rel, f"unreadable: {exc.strerror or exc}", SkipKind.unreadable)
        return
    if isinstance(raw, Skipped):
        yield raw
        return
    if suffix in JSONL_SUFFIXES:
        yield from read_jsonl(raw, rel, cleaning)
        return
    if suffix in HTML_SUFFIXES:
        html_doc = read_html(raw, rel, cleaning, _present(meta))
        yield html_doc if html_doc is not None else Skipped(rel, "no main text found in HTML", SkipKind.no_text)
        return
    title = None
    if suffix in MARKDOWN_SUFFIXES:
        raw, title, meta = front_matter(raw, rel, meta)
    found = read_document(cleaning, doc_id=rel, raw_text=raw, source=rel, title=title, metadata=_present(meta))
    yield found if found is not None else Skipped(rel, "no text", SkipKind.no_text)


UPLOAD_SUFFIXES = SUPPORTED_SUFFIXES - JSONL_SUFFIXES  # one file, one document


def read_upload(doc_id: str, filename: str, data: bytes, source: str, ocr: OcrSettings | None = None) -> Read | Skipped:
    """The document of a file sent whole (through the API): read as the same file in a folder would be.

    `filename` names the format by its extension; the document gets `doc_id` and `source`, the file's name in
    its metadata (`filename`), and no modification time (an upload has none that means anything).
    """
    suffix = Path(filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        known = ", ".join(sorted(UPLOAD_SUFFIXES))
        return Skipped(
            filename, f"unsupported file type {suffix or '(none)'!r}; send one of {known}", SkipKind.unsupported
        )
    with tempfile.TemporaryDirectory(prefix="seekr-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        # The scraped-page rules are for folders of saved pages; a paged file's running headers go all the same.
        read = ReadOptions(Cleaning.none, ocr or OcrSettings(), pages=True)
        items = list(read_file(path, doc_id, read, max_file_bytes=len(data) + 1))
    # The document, if any part of the file was read; else why not. Parts not read are logged.
    item = next((i for i in items if not isinstance(i, Skipped)), items[-1])
    for part in items:
        if isinstance(part, Skipped) and part is not item:
            log.warning("upload %s: %s not read (%s): %s", filename, part.path, part.kind.value, part.reason)
    if isinstance(item, Skipped):
        return Skipped(filename, item.reason, item.kind)
    doc, outcome = item
    # No modification time, and no file hash: the writer records one if the collection keeps the bytes.
    metadata = {k: v for k, v in doc.metadata.items() if k not in ("file_modified", HASH_KEY)}
    metadata[FILENAME_KEY] = filename
    return replace(doc, source=source, metadata=metadata), outcome


def _read_structured(
    path: Path, rel: str, meta: dict[str, Any], clean_pages: bool, ocr: OcrSettings
) -> Iterator[Read | Skipped]:
    """A document from a format reader (page-aware cleaning applied where `clean_pages`), or why not; and the
    parts of it that were not read (`rel#page 3`, ...) with their reasons."""
    try:
        read = READERS[path.suffix.lower()](path, recognizer_for(ocr))
        extracted = paged_blocks(read, clean_pages)
    except Unreadable as exc:
        yield Skipped(rel, exc.message, exc.kind)
        return
    except _PARSE_ERRORS as exc:
        # The parser choked on the file. Logged with its traceback: it may also be a gap in the reader.
        log.warning("reading %s failed", rel, exc_info=True)
        yield Skipped(rel, f"damaged file: its reader failed ({type(exc).__name__}: {exc})", SkipKind.corrupt)
        return
    doc = assemble(rel, rel, extracted, _present(meta | extracted.metadata))
    yield from (Skipped(f"{rel}#{p.where}", p.reason, p.kind) for p in extracted.problems)
    if doc is None:
        yield Skipped(rel, "no text in it", SkipKind.no_text)
        return
    yield doc, CleaningOutcome(applied=bool(extracted.removed), removed=extracted.removed)
