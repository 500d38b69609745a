"""Text, Markdown, HTML and JSON Lines: read into documents directly, not into `Extracted` blocks, since the
scraped-page rules (`indexer.ingest.clean`) work on their raw text. A JSON Lines file holds many documents.

What is not a document is a `Skipped` record with its reason, as for every other format.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import frontmatter
import trafilatura
import yaml

from indexer.ingest.clean import Cleaning, clean_report, looks_scraped, normalise_text, split_title
from indexer.ingest.readers.base import SkipKind, Skipped
from indexer.types import Document

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}


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


def decode_text(raw: bytes, rel: str) -> str | Skipped:
    """A text file's bytes as text (UTF-8, a byte order mark dropped), or why they are not text."""
    if not raw.strip():
        return Skipped(rel, "empty file", SkipKind.empty)
    if b"\x00" in raw[:8192]:
        return Skipped(rel, "binary file (contains NUL bytes)", SkipKind.binary)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Skipped(rel, f"not UTF-8 text (invalid byte at offset {exc.start})", SkipKind.not_utf8)


Read = tuple[Document, CleaningOutcome]


def front_matter(raw: str, rel: str, meta: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
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


def read_html(raw: str, rel: str, cleaning: Cleaning, metadata: dict[str, Any]) -> Read | None:
    # trafilatura drops navigation, ads, comments and footers; our own rules then run on its output.
    extracted = trafilatura.bare_extraction(raw, include_comments=False, include_tables=True, with_metadata=True)
    if extracted is None:
        return None
    text = extracted.text if hasattr(extracted, "text") else extracted.get("text")
    title = extracted.title if hasattr(extracted, "title") else extracted.get("title")
    if not text:
        return None
    return read_document(
        cleaning, doc_id=rel, raw_text=text, source=rel, title=title or None, metadata=metadata, page=True
    )


def read_jsonl(raw: str, rel: str, cleaning: Cleaning) -> Iterator[Read | Skipped]:
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
