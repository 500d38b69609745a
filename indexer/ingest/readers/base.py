"""What a format reader returns, why a file is skipped (`Skipped`, `SkipKind`), and how a reader's blocks become
one Document.

A reader turns one file into `Extracted`: blocks of text in reading order, each on a page (paged formats:
PDF pages, slides) and possibly a heading, with the file's title and metadata. `assemble` joins the blocks
into the document text, recording where each page and each heading's section starts, so that passages
never cross them and say their page. A file that cannot be read raises `Unreadable` with a reason code.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from indexer.ingest.clean import normalise_text, split_title
from indexer.types import Document

TITLE_CHARS = 200


class SkipKind(StrEnum):
    """Why a file (or a line of a `.jsonl` file) was not indexed: the codes builds and `/stats` count."""

    unsupported = "unsupported"  # no reader for the file's extension
    too_large = "too_large"  # over the size limit (--max-file-mb, SEEKR_MAX_FILE_MB)
    empty = "empty"  # no bytes, or nothing but white space
    binary = "binary"  # a text extension holding binary data
    not_utf8 = "not_utf8"  # a text file that is not UTF-8
    unreadable = "unreadable"  # the file system refused (permissions, vanished while read)
    encrypted = "encrypted"  # password-protected (PDF, Office)
    corrupt = "corrupt"  # truncated or damaged: the format's reader could not parse it
    no_text_layer = "no_text_layer"  # a PDF whose pages are images only, read with OCR off (`--ocr auto` reads it)
    no_text = "no_text"  # parsed, but no text in it
    malformed = "malformed"  # a bad line of a .jsonl file
    duplicate_id = "duplicate_id"  # a document id seen earlier in the same build


class Unreadable(Exception):
    """A file that cannot be indexed, with its reason code and a message that says what to do."""

    def __init__(self, kind: SkipKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Skipped:
    """A file (or a line of a `.jsonl` file) that was not indexed: why (a code) and what to do (a message)."""

    path: str
    reason: str
    kind: SkipKind = SkipKind.corrupt


def count_by_kind(skipped: list[Skipped]) -> dict[str, int]:
    """How many of `skipped` there are for each reason code, most first."""
    return dict(Counter(s.kind.value for s in skipped).most_common())


@dataclass(frozen=True)
class Block:
    """A paragraph, heading, list item or table row of a file, in reading order."""

    text: str
    page: int | None = None  # 1-based page or slide (paged formats)
    heading: bool = False  # starts a section
    caption: str | None = None  # the section's heading when it is not the block's own text (a table's)
    sheet: str | None = None  # the sheet a table row is on (spreadsheets)
    row: int | None = None  # a table row's number in its sheet or file (1-based, as the file numbers it)


@dataclass
class Extracted:
    """What a reader found in one file."""

    blocks: list[Block]
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    pages: int | None = None  # page or slide count of a paged format
    # The lines of each page, for a reader whose blocks are made from them after page-aware cleaning (PDF).
    page_lines: list[list[str]] | None = None
    navigation: set[int] = field(default_factory=set)  # 1-based pages that point elsewhere (contents, index)
    removed: Counter[str] = field(default_factory=Counter)  # lines page-aware cleaning removed, per rule
    ocr: dict[int, float] = field(default_factory=dict)  # 1-based page -> mean confidence, for pages read by OCR
    problems: list[Problem] = field(default_factory=list)  # parts not read (a page OCR could not read, ...)


@dataclass(frozen=True)
class Problem:
    """A part of a file that was not read, while the rest was: where (`page 3`, `rows 250001-`), why, its code."""

    where: str
    reason: str
    kind: SkipKind


def iso(value: datetime | date | str | None) -> str | None:
    """A date or time as ISO 8601 (UTC for a timezone-aware time), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def assemble(doc_id: str, source: str, extracted: Extracted, metadata: dict[str, Any]) -> Document | None:
    """The Document of `extracted`: blocks joined by blank lines, with page and section starts (None: no text).

    Each block's white space is normalised on its own, so every offset is known exactly. The title is the
    reader's (file metadata), else the first heading, else the first line. Headings: a format with heading
    blocks gives each section its heading; a paged format without them gives each page the heading it opens
    with (`page_heading`), if any, for that page alone.
    """
    parts: list[str] = []
    pages: list[int] = []
    sections: list[int] = []
    headings: list[tuple[int, str]] = []
    rows: list[tuple[int, int]] = []
    sheets: list[tuple[int, str]] = []
    offset, last_page = 0, 0
    first_heading: str | None = None
    by_sections = any(block.heading for block in extracted.blocks)
    page_texts: list[str] = []  # the current page's blocks, while its heading is not yet known
    page_start = 0
    for block in extracted.blocks:
        text = normalise_text(block.text)
        if not text:
            continue
        if parts:
            offset += 2  # the "\n\n" joining this block to the one before
        if block.page is not None and block.page != last_page:
            if not by_sections and last_page:
                headings.append((page_start, page_heading(page_texts) or ""))
            # Pages with no text leave no start: a passage's page is the page whose text holds it.
            pages.extend([offset] * (block.page - last_page))
            last_page, page_start, page_texts = block.page, offset, []
        if block.sheet is not None and (not sheets or sheets[-1][1] != block.sheet):
            sheets.append((offset, block.sheet))
        if block.row is not None:
            rows.append((offset, block.row))
        if block.heading:
            sections.append(offset)
            caption = text if block.caption is None else block.caption
            headings.append((offset, " ".join(caption.split())[:TITLE_CHARS]))
            first_heading = first_heading or caption or None
        page_texts.append(text)
        parts.append(text)
        offset += len(text)
    if not parts:
        return None
    if not by_sections and last_page:
        headings.append((page_start, page_heading(page_texts) or ""))
    body = "\n\n".join(parts)
    title = " ".join((extracted.title or first_heading or split_title(body)).split())[:TITLE_CHARS]
    return Document(
        doc_id=doc_id,
        title=title,
        text=body,
        source=source,
        metadata=metadata,
        # One start per page up to the last with text, ascending (a page without text starts where the next
        # does), so that `bisect_right(pages, offset)` is the page number of any offset.
        pages=tuple(pages),
        sections=tuple(sections),
        headings=_distinct(headings),
        navigation=tuple(sorted(n for n in extracted.navigation if n <= len(pages))),
        rows=tuple(rows),
        sheets=tuple(sheets),
        ocr=tuple(sorted((n, round(c, 4)) for n, c in extracted.ocr.items() if n <= len(pages))),
    )


def _distinct(headings: list[tuple[int, str]]) -> tuple[tuple[int, str], ...]:
    """`headings` without entries that change nothing (the same heading again, or none after none)."""
    out: list[tuple[int, str]] = []
    for offset, text in headings:
        if out and out[-1][0] == offset:
            out[-1] = (offset, text or out[-1][1])
        elif (out and out[-1][1] != text) or (not out and text):
            out.append((offset, text))
    return tuple(out)


def page_heading(blocks: list[str], *, limit: int = 2, max_chars: int = 120) -> str | None:
    """The heading a page opens with: its first blocks while each is short, has a word and does not end a
    sentence (a title line, a table's caption), at most `limit` of them; None when the page opens in running
    text."""
    kept: list[str] = []
    for block in blocks[:limit]:
        text = " ".join(block.split())
        if len(text) > max_chars or text.endswith((".", ";", ",")) or not any(c.isalpha() for c in text):
            break
        kept.append(text)
    return " \u203a ".join(kept) or None
