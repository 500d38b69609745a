"""Reading one file (or an upload) into documents: text, Markdown, HTML and JSON Lines here; PDF (scanned pages
by OCR), Word, PowerPoint, OpenDocument, EPUB, RTF, e-mail, spreadsheets, CSV and images through the format
readers (`indexer.ingest.readers`).

Every file that cannot be used (unsupported, too large, empty, binary, not UTF-8, unreadable, encrypted,
damaged, a scan without a text layer while OCR is off, a malformed JSON line) becomes a `Skipped` record naming
the file, a reason code (`SkipKind`) and a message; reading never raises for a bad file, so one bad file never
stops a build. Each file-backed document carries file metadata (`file_type`, `file_size`, `file_modified`) and what
its format records (`author`, `created`, `modified`, `pages`, `slides`, Markdown front matter, ...). A whole
folder is read by `indexer.ingest.folder`.
"""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import frontmatter
import trafilatura
import yaml
from lxml import etree

from indexer.ingest.clean import Cleaning, clean_report, looks_scraped, normalise_text, split_title
from indexer.ingest.fingerprint import FILENAME_KEY, HASH_KEY, file_sha256
from indexer.ingest.ocr.base import OcrSettings
from indexer.ingest.ocr.recognizer import recognizer_for
from indexer.ingest.pages import paged_blocks
from indexer.ingest.readers import OCR_READERS, READERS
from indexer.ingest.readers.base import SkipKind, Unreadable, assemble, iso
from indexer.types import Document

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES | set(READERS) | set(OCR_READERS)
DEFAULT_MAX_FILE_BYTES = 100 * 2**20
# What a format's parser raises on a file it cannot parse; these mean a bad file, and the file is skipped.
_PARSE_ERRORS = (ValueError, KeyError, IndexError, LookupError, zipfile.BadZipFile, etree.LxmlError, RecursionError)


@dataclass(frozen=True)
class Skipped:
    """A file (or a line of a `.jsonl` file) that was not indexed: why (a code) and what to do (a message)."""

    path: str
    reason: str
    kind: SkipKind = SkipKind.corrupt


def count_by_kind(skipped: list[Skipped]) -> dict[str, int]:
    """How many of `skipped` there are for each reason code, most first."""
    return dict(Counter(s.kind.value for s in skipped).most_common())


@dataclass
class CleaningOutcome:
    """What cleaning did to one document."""

    applied: bool = False
    removed: Counter[str] = field(default_factory=Counter)


def _wants_rules(cleaning: Cleaning, raw: str, *, page: bool = False) -> bool:
    """Whether the scraped-page rules apply to `raw` (`page`: it came out of an HTML page)."""
    if cleaning is Cleaning.none:
        return False
    return cleaning is Cleaning.web or page or looks_scraped(raw)


def _read_text(raw: bytes, rel: str) -> str | Skipped:
    if not raw.strip():
        return Skipped(rel, "empty file", SkipKind.empty)
    if b"\x00" in raw[:8192]:
        return Skipped(rel, "binary file (contains NUL bytes)", SkipKind.binary)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Skipped(rel, f"not UTF-8 text (invalid byte at offset {exc.start})", SkipKind.not_utf8)


Read = tuple[Document, CleaningOutcome]


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
    path: Path,
    rel: str,
    cleaning: Cleaning = Cleaning.auto,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    pages: bool | None = None,
    ocr: OcrSettings | None = None,
) -> Iterator[Read | Skipped]:
    """The documents of one file (a `.jsonl` file holds many), or why it was skipped; never raises for a bad file.

    `rel` is the file's path relative to the indexed folder: the document id and source. `pages`: whether
    page-aware cleaning (running headers and footers, page numbers: `indexer.ingest.pages`) applies to paged
    formats (None: unless `cleaning` is none). `ocr`: how scanned pages and images are read (None: defaults).
    """
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
        if suffix in READERS or suffix in OCR_READERS:
            clean_pages = cleaning is not Cleaning.none if pages is None else pages
            yield from _read_structured(path, rel, meta, clean_pages, ocr if ocr is not None else OcrSettings())
            return
        raw = _read_text(path.read_bytes(), rel)
    except OSError as exc:
        yield Skipped(rel, f"unreadable: {exc.strerror or exc}", SkipKind.unreadable)
        return
    if isinstance(raw, Skipped):
        yield raw
        return
    if suffix in JSONL_SUFFIXES:
        yield from _read_jsonl(raw, rel, cleaning)
        return
    if suffix in HTML_SUFFIXES:
        html_doc = _from_html(raw, rel, cleaning, meta)
        yield html_doc if html_doc is not None else Skipped(rel, "no main text found in HTML", SkipKind.no_text)
        return
    title = None
    if suffix in MARKDOWN_SUFFIXES:
        raw, title, meta = _front_matter(raw, rel, meta)
    read = read_document(cleaning, doc_id=rel, raw_text=raw, source=rel, title=title, metadata=_present(meta))
    yield read if read is not None else Skipped(rel, "no text", SkipKind.no_text)


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
        items = list(read_file(path, doc_id, Cleaning.none, max_file_bytes=len(data) + 1, pages=True, ocr=ocr))
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
        suffix = path.suffix.lower()
        read = OCR_READERS[suffix](path, recognizer_for(ocr)) if suffix in OCR_READERS else READERS[suffix](path)
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


def _front_matter(raw: str, rel: str, meta: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
    """Markdown without its YAML front matter, the front matter's title, and its fields added to `meta`.

    Front matter that is not valid YAML (or not a mapping) is kept as text, with a warning: the file still counts.
    """
    try:
        post = frontmatter.loads(raw)
    except (yaml.YAMLError, ValueError) as exc:
        log.warning("%s: front matter is not valid YAML (%s); indexed as text", rel, exc)
        return raw, None, meta
    fields = dict(post.metadata)
    title = fields.get("title")
    return post.content, title if isinstance(title, str) and title.strip() else None, meta | fields


def _from_html(raw: str, rel: str, cleaning: Cleaning, meta: dict[str, Any]) -> Read | None:
    # trafilatura drops navigation, ads, comments and footers; our own rules then run on its output.
    extracted = trafilatura.bare_extraction(raw, include_comments=False, include_tables=True, with_metadata=True)
    if extracted is None:
        return None
    text = extracted.text if hasattr(extracted, "text") else extracted.get("text")
    title = extracted.title if hasattr(extracted, "title") else extracted.get("title")
    if not text:
        return None
    return read_document(
        cleaning, doc_id=rel, raw_text=text, source=rel, title=title or None, metadata=_present(meta), page=True
    )


def _read_jsonl(raw: str, rel: str, cleaning: Cleaning) -> Iterator[Read | Skipped]:
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{rel}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Skipped(where, f"malformed JSON ({exc.msg})", SkipKind.malformed)
            continue
        if not isinstance(record, dict):
            yield Skipped(where, "line is not a JSON object", SkipKind.malformed)
            continue
        doc_id, text = record.get("id"), record.get("text")
        if not isinstance(doc_id, str | int) or str(doc_id).strip() == "":
            yield Skipped(where, "missing 'id' (a non-empty string)", SkipKind.malformed)
            continue
        if not isinstance(text, str) or not text.strip():
            yield Skipped(where, "missing or empty 'text'", SkipKind.malformed)
            continue
        title = record.get("title")
        metadata = record.get("metadata") or {}
        if not isinstance(metadata, dict):
            yield Skipped(where, "'metadata' must be a JSON object", SkipKind.malformed)
            continue
        read = read_document(
            cleaning,
            doc_id=str(doc_id),
            raw_text=text,
            source=where,
            title=title if isinstance(title, str) and title.strip() else None,
            metadata=metadata,
        )
        yield read if read is not None else Skipped(where, "no text", SkipKind.no_text)


def _starts_with_title(text: str, title: str) -> bool:
    """Whether `text` already opens with `title` as a heading or a whole sentence (not just its first word)."""
    if not text.lower().startswith(title.lower()):
        return False
    rest = text[len(title) : len(title) + 1]
    return rest in ("", "\n") or title[-1] in ".!?:"


def read_document(
    cleaning: Cleaning,
    *,
    doc_id: str,
    raw_text: str,
    source: str,
    title: str | None = None,
    metadata: dict[str, Any] | None = None,
    page: bool = False,
) -> Read | None:
    """A Document from text read from a file (`page`: extracted from HTML), cleaned where `cleaning` says
    the page rules belong, with what cleaning did; None when it holds no text at all."""
    outcome = CleaningOutcome(_wants_rules(cleaning, raw_text, page=page))
    doc = make_document(
        doc_id=doc_id,
        raw_text=raw_text,
        source=source,
        title=title,
        metadata=metadata,
        clean=outcome.applied,
        removed=outcome.removed,
    )
    return None if doc is None else (doc, outcome)


def make_document(
    *,
    doc_id: str,
    raw_text: str,
    source: str,
    title: str | None = None,
    metadata: dict[str, Any] | None = None,
    clean: bool = False,
    removed: Counter[str] | None = None,
) -> Document | None:
    """Build a Document from `raw_text`; None when it holds no text at all.

    `clean=True` applies the scraped-page rules (`indexer.ingest.clean`), counting the lines each rule removed into
    `removed`; where they would leave nothing, the text is kept whole instead, since cleaning must never
    delete a document. `clean=False` keeps every line (only whitespace is normalised).

    Without an explicit title, the first line of the cleaned text (a heading) becomes the title. An explicit
    title that the text does not already start with is put in front of it: the title is part of what the
    document says, so it is searchable and chunk offsets still point into the stored text.
    """
    cleaned = ""
    if clean:
        cleaned, counts = clean_report(raw_text)
        if cleaned and removed is not None:
            removed.update(counts)
    if not cleaned:  # no rules asked for, or they would leave nothing: keep every line
        cleaned = normalise_text(raw_text)
    if not cleaned:
        return None
    if title is None:
        title = split_title(cleaned)
    else:
        title = " ".join(title.split())
        if title and not _starts_with_title(cleaned, title):
            cleaned = f"{title}\n\n{cleaned}"
    return Document(doc_id=doc_id, title=title.strip(), text=cleaned, source=source, metadata=metadata or {})
