"""Reading documents from a folder: `.txt`, `.md`, `.html`/`.htm` and `.jsonl`.

Every file that cannot be used (not UTF-8, binary, empty, unreadable, malformed JSON line) becomes a
`Skipped` record naming the file and the reason; reading never raises for a bad file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trafilatura

from indexer.clean import clean_text, normalise_text, split_title

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES


@dataclass(frozen=True)
class Document:
    """A cleaned document ready for chunking. `text` is the cleaned text that chunk offsets point into."""

    doc_id: str
    title: str
    text: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """Hash of everything that influences the stored chunks and their metadata."""
        payload = json.dumps(
            {"title": self.title, "text": self.text, "source": self.source, "metadata": self.metadata},
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


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


def read_folder(root: Path) -> FolderReport:
    """Read every supported file under `root` recursively, in a stable (sorted) order."""
    report = FolderReport()
    seen: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # hidden files and folders (.git, .DS_Store) are never documents
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            report.skipped.append(Skipped(rel, f"unsupported file type {path.suffix or '(none)'!r}"))
            continue
        for item in _read_file(path, rel):
            if isinstance(item, Skipped):
                report.skipped.append(item)
            elif item.doc_id in seen:
                report.skipped.append(
                    Skipped(item.source, f"duplicate document id {item.doc_id!r} (first in {seen[item.doc_id]})")
                )
            else:
                seen[item.doc_id] = item.source
                report.documents.append(item)
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


def _read_file(path: Path, rel: str) -> Iterator[Document | Skipped]:
    raw = _read_text(path, rel)
    if isinstance(raw, Skipped):
        yield raw
        return
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from _read_jsonl(raw, rel)
        return
    if suffix in HTML_SUFFIXES:
        html_doc = _from_html(raw, rel)
        if html_doc is None:
            yield Skipped(rel, "no main text found in HTML")
            return
        yield html_doc
        return
    doc = make_document(doc_id=rel, raw_text=raw, source=rel)
    yield doc if doc is not None else Skipped(rel, "no text left after removing boilerplate")


def _from_html(raw: str, rel: str) -> Document | None:
    # trafilatura drops navigation, ads, comments and footers; our own rules then run on its output.
    extracted = trafilatura.bare_extraction(raw, include_comments=False, include_tables=True, with_metadata=True)
    if extracted is None:
        return None
    text = extracted.text if hasattr(extracted, "text") else extracted.get("text")
    title = extracted.title if hasattr(extracted, "title") else extracted.get("title")
    if not text:
        return None
    return make_document(doc_id=rel, raw_text=text, source=rel, title=title or None)


def _read_jsonl(raw: str, rel: str) -> Iterator[Document | Skipped]:
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
        doc = make_document(
            doc_id=str(doc_id),
            raw_text=text,
            source=where,
            title=title if isinstance(title, str) and title.strip() else None,
            metadata=metadata,
        )
        yield doc if doc is not None else Skipped(where, "no text left after removing boilerplate")


def _starts_with_title(text: str, title: str) -> bool:
    """Whether `text` already opens with `title` as a heading or a whole sentence (not just its first word)."""
    if not text.lower().startswith(title.lower()):
        return False
    rest = text[len(title) : len(title) + 1]
    return rest in ("", "\n") or title[-1] in ".!?:"


def make_document(
    *,
    doc_id: str,
    raw_text: str,
    source: str,
    title: str | None = None,
    metadata: dict[str, Any] | None = None,
    clean: bool = True,
) -> Document | None:
    """Clean `raw_text` and build a Document; None when nothing is left after cleaning.

    `clean=False` keeps every line (only whitespace is normalised): for text that is not a scraped page.

    Without an explicit title, the first line of the cleaned text (a heading) becomes the title. An explicit
    title that the text does not already start with is put in front of it: the title is part of what the
    document says, so it is searchable and chunk offsets still point into the stored text.
    """
    cleaned = clean_text(raw_text) if clean else normalise_text(raw_text)
    if not cleaned:
        return None
    if title is None:
        title = split_title(cleaned)
    else:
        title = " ".join(title.split())
        if title and not _starts_with_title(cleaned, title):
            cleaned = f"{title}\n\n{cleaned}"
    return Document(doc_id=doc_id, title=title.strip(), text=cleaned, source=source, metadata=metadata or {})
