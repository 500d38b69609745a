"""Reading documents from a folder: `.txt`, `.md`, `.html`/`.htm` and `.jsonl`.

Every file that cannot be used (not UTF-8, binary, empty, unreadable, malformed JSON line) becomes a
`Skipped` record naming the file and the reason; reading never raises for a bad file.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trafilatura

from indexer.ingest.clean import Cleaning, clean_report, looks_scraped, normalise_text, split_title
from indexer.types import Document

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES


@dataclass(frozen=True)
class Skipped:
    """A file (or a line of a `.jsonl` file) that was not indexed, and why."""

    path: str
    reason: str


@dataclass
class FolderReport:
    """What reading a folder produced."""

    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    cleaning: Cleaning = Cleaning.auto
    cleaned: int = 0  # documents the scraped-page rules were applied to
    removed: Counter[str] = field(default_factory=Counter)  # lines removed, per rule

    def add(self, doc: Document, outcome: CleaningOutcome) -> None:
        """Count a document and what cleaning did to it."""
        self.documents.append(doc)
        self.cleaned += outcome.applied
        self.removed.update(outcome.removed)


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


def read_folder(root: Path, cleaning: Cleaning = Cleaning.auto) -> FolderReport:
    """Read every supported file under `root` recursively, in a stable (sorted) order."""
    report = FolderReport(cleaning=cleaning)
    seen: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # hidden files and folders (.git, .DS_Store) are never documents
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            report.skipped.append(Skipped(rel, f"unsupported file type {path.suffix or '(none)'!r}"))
            continue
        for item in _read_file(path, rel, cleaning):
            if isinstance(item, Skipped):
                report.skipped.append(item)
            elif item[0].doc_id in seen:
                doc = item[0]
                report.skipped.append(
                    Skipped(doc.source, f"duplicate document id {doc.doc_id!r} (first in {seen[doc.doc_id]})")
                )
            else:
                seen[item[0].doc_id] = item[0].source
                report.add(*item)
    for skipped in report.skipped:
        log.warning("skipped %s: %s", skipped.path, skipped.reason)
    return report


def _read_text(path: Path, rel: str) -> str | Skipped:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Skipped(rel, f"unreadable: {exc.strerror or exc}")
    if not raw.strip():
        return Skipped(rel, "empty file")
    if b"\x00" in raw[:8192]:
        return Skipped(rel, "binary file (contains NUL bytes)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Skipped(rel, f"not UTF-8 text (invalid byte at offset {exc.start})")


Read = tuple[Document, CleaningOutcome]


def _read_file(path: Path, rel: str, cleaning: Cleaning) -> Iterator[Read | Skipped]:
    raw = _read_text(path, rel)
    if isinstance(raw, Skipped):
        yield raw
        return
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from _read_jsonl(raw, rel, cleaning)
        return
    if suffix in HTML_SUFFIXES:
        html_doc = _from_html(raw, rel, cleaning)
        yield html_doc if html_doc is not None else Skipped(rel, "no main text found in HTML")
        return
    read = read_document(cleaning, doc_id=rel, raw_text=raw, source=rel)
    yield read if read is not None else Skipped(rel, "no text")


def _from_html(raw: str, rel: str, cleaning: Cleaning) -> Read | None:
    # trafilatura drops navigation, ads, comments and footers; our own rules then run on its output.
    extracted = trafilatura.bare_extraction(raw, include_comments=False, include_tables=True, with_metadata=True)
    if extracted is None:
        return None
    text = extracted.text if hasattr(extracted, "text") else extracted.get("text")
    title = extracted.title if hasattr(extracted, "title") else extracted.get("title")
    if not text:
        return None
    return read_document(cleaning, doc_id=rel, raw_text=text, source=rel, title=title or None, page=True)


def _read_jsonl(raw: str, rel: str, cleaning: Cleaning) -> Iterator[Read | Skipped]:
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{rel}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Skipped(where, f"malformed JSON ({exc.msg})")
            continue
        if not isinstance(record, dict):
            yield Skipped(where, "line is not a JSON object")
            continue
        doc_id, text = record.get("id"), record.get("text")
        if not isinstance(doc_id, str | int) or str(doc_id).strip() == "":
            yield Skipped(where, "missing 'id' (a non-empty string)")
            continue
        if not isinstance(text, str) or not text.strip():
            yield Skipped(where, "missing or empty 'text'")
            continue
        title = record.get("title")
        metadata = record.get("metadata") or {}
        if not isinstance(metadata, dict):
            yield Skipped(where, "'metadata' must be a JSON object")
            continue
        read = read_document(
            cleaning,
            doc_id=str(doc_id),
            raw_text=text,
            source=where,
            title=title if isinstance(title, str) and title.strip() else None,
            metadata=metadata,
        )
        yield read if read is not None else Skipped(where, "no text")


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
