"""Records every layer shares: documents and their passages, stored rows, writes and filters.

The bottom of the package: it imports nothing of the project, so ingestion, both storage engines, retrieval
and the service can all use these without importing each other.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any, TypeVar

import numpy as np

Scalar = str | int | float | bool

TITLE_CHARS = 200  # most characters of a title put in front of a passage


@dataclass(frozen=True)
class Document:
    """A cleaned document ready for chunking. `text` is the cleaned text that chunk offsets point into.

    `pages`: where each page (or slide) of a paged format starts in `text`, ascending, the first at 0 (empty:
    not paged). `sections`: further offsets where a heading starts a section. A passage never crosses a page
    or section start, so each passage lies on one page. `headings`: (offset, heading) pairs, ascending: from
    each offset on, passages stand under that heading (a section's heading, or the heading a page opens with).
    `navigation`: the 1-based pages that are tables of contents, indexes or lists of figures. `rows`: where
    each row of a table (a spreadsheet's or a CSV's) starts, with its row number, ascending; `sheets`: where
    each sheet starts, with its name. `ocr`: (1-based page, mean OCR confidence 0-1) of each page whose text
    was recognised from its image.
    """

    doc_id: str
    title: str
    text: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)
    pages: tuple[int, ...] = ()
    sections: tuple[int, ...] = ()
    headings: tuple[tuple[int, str], ...] = ()
    navigation: tuple[int, ...] = ()
    rows: tuple[tuple[int, int], ...] = ()
    sheets: tuple[tuple[int, str], ...] = ()
    ocr: tuple[tuple[int, float], ...] = ()

    @property
    def content_hash(self) -> str:
        """Hash of everything that influences the stored chunks and their metadata."""
        fields: dict[str, Any] = {"title": self.title, "text": self.text, "source": self.source}
        fields["metadata"] = self.metadata
        # Only where present, so that documents without them keep the hashes they always had.
        if self.pages:
            fields["pages"] = list(self.pages)
        if self.sections:
            fields["sections"] = list(self.sections)
        if self.headings:
            fields["headings"] = [list(h) for h in self.headings]
        if self.navigation:
            fields["navigation"] = list(self.navigation)
        if self.rows:
            fields["rows"] = [list(r) for r in self.rows]
        if self.sheets:
            fields["sheets"] = [list(r) for r in self.sheets]
        if self.ocr:
            fields["ocr"] = [list(r) for r in self.ocr]
        payload = json.dumps(fields, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


NAVIGATION = "navigation"  # a passage's kind on a table of contents, an index or a list of figures
# What each engine keeps per chunk beyond its offsets and text, in this order (a `Chunk` and a `ChunkRecord`
# have them as fields of the same names): where the passage stands, and what its highlight needs (its sentences
# and their terms and vectors, see `indexer.sentences`). Stores written before a column existed read it as None.
PROVENANCE = (
    "page",
    "heading",
    "kind",
    "sheet",
    "row_first",
    "row_last",
    "ocr_confidence",
    "sentences",
    "sentence_vectors",
)


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: `text == document_text[start:end]`; `page` is 1-based (None: not paged);
    `heading`: the heading it stands under, when it does not open with it; `kind`: None (content) or
    `NAVIGATION`; `sheet`, `row_first`, `row_last`: the sheet and the rows of a table it holds (whole rows);
    `ocr_confidence`: the mean OCR confidence of its page, when that page's text was recognised (else None);
    `sentences`, `sentence_vectors`: its sentences with their terms and vectors, as stored (see
    `indexer.sentences`; None: not worked out)."""

    ordinal: int
    start: int
    end: int
    text: str
    n_tokens: int
    page: int | None = None
    heading: str | None = None
    kind: str | None = None
    sheet: str | None = None
    row_first: int | None = None
    row_last: int | None = None
    ocr_confidence: float | None = None
    sentences: str | None = None
    sentence_vectors: str | None = None


class PassageContext(StrEnum):
    """What a passage is matched with in front of it (embedded with, and indexed by BM25 with)."""

    none = "none"  # the passage alone
    titled = "title"  # its document's title (indexes made before page-aware context)
    document = "document"  # its document's name: the title and a readable form of the file name
    headings = "headings"  # the document's name and the heading the passage stands under


_NAME_SEPARATORS = re.compile(r"[_\-.\s]+")
_FILE = re.compile(r"^[^:]*\.[A-Za-z0-9]{1,5}$")  # a file's path: a name with an extension, no "api:" or ":LINE"
_ID_LIKE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])\w{7,}$|^\d{5,}$")  # a hash, a serial number, a long count


def readable_name(source: str) -> str:
    """A file's name as words (`reports/3M_2018_10K.pdf` -> "3M 2018 10K"); "" where the source is no file (an API
    document, a line of a JSON Lines file) or its name says nothing (`000_27323d1700c7a7d6.txt`: its words that
    look like hashes or serial numbers go, and a name left without a letter is no name)."""
    if not source or not _FILE.match(source):
        return ""
    words = [w for w in _NAME_SEPARATORS.split(PurePosixPath(source).stem) if w and not _ID_LIKE.match(w)]
    return " ".join(words) if any(c.isalpha() for w in words for c in w) else ""


def document_name(title: str, source: str) -> str:
    """What names a document: its readable file name and its title, each once (a title that only repeats the
    file name's words, or the reverse, is not said twice)."""
    title = " ".join(title.split())[:TITLE_CHARS]
    name = readable_name(source)
    words = set(_NAME_SEPARATORS.split(title.lower()))
    if not name or set(name.lower().split()) <= words:
        return title
    if not title or words <= set(name.lower().split()):
        return name
    return f"{name} \u00b7 {title}"


def matched_text(
    title: str,
    text: str,
    start: int,
    context: PassageContext | bool = PassageContext.titled,
    *,
    source: str = "",
    heading: str | None = None,
) -> str:
    """What a passage is matched on (embedded, and indexed by BM25): its context, then the passage.

    `title` (and True): the document's title in front of every passage but the first, which opens with it (for
    an entity collection, the title is the entity's name). `document`: the document's name (`document_name`)
    in front of every passage that does not open with it; `headings`: that, then the heading the passage stands
    under. Hits still show the passage alone, and their offsets point into the document text.
    """
    if context is True:
        context = PassageContext.titled
    if context is False or context is PassageContext.none:
        return text
    if context is PassageContext.titled:
        prefix = title.strip()[:TITLE_CHARS]
        return f"{prefix}\n{text}" if prefix and start > 0 else text
    lines = [document_name(title, source)]
    if context is PassageContext.headings and heading:
        lines.append(heading)
    prefix = "\n".join(line for line in lines if line and not text.startswith(line))
    return f"{prefix}\n{text}" if prefix else text


@dataclass(frozen=True)
class DocumentUpdate:
    """A document to insert or replace, with its chunks and their vectors (one row per chunk)."""

    document: Document
    origin: str
    chunks: Sequence[Chunk]
    vectors: np.ndarray


@dataclass(frozen=True)
class Condition:
    """`field` `op` `value`: op is eq, ne, gt, gte, lt, lte (a scalar), in or not_in (a tuple), exists (a bool)."""

    field: str
    op: str
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class All:
    """Every item holds."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Any_:
    """At least one item holds."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    """The item does not hold."""

    item: Expr


Expr = Condition | All | Any_ | Not  # evaluated by `indexer.filters.matches`; each engine translates it


@dataclass(frozen=True)
class Filter:
    """Restricts a search to chunks of matching documents. Empty fields do not filter.

    `source_prefix`: the document's source path starts with it (case-sensitive); `doc_ids`: the document
    is one of these; `metadata`: every (key, value) pair equals the document's metadata[key]; `where`: an
    expression of comparisons, and/or/not over metadata fields (`indexer.filters`). Each engine
    translates it into its own query language (SQL for the local engine, a boolean expression for Milvus).
    """

    source_prefix: str | None = None
    doc_ids: tuple[str, ...] | None = None
    metadata: tuple[tuple[str, Scalar], ...] = ()
    where: Expr | None = None

    @property
    def is_empty(self) -> bool:
        """True when nothing is filtered."""
        return self.source_prefix is None and self.doc_ids is None and not self.metadata and self.where is None


@dataclass(frozen=True)
class ChunkRecord:
    """A stored chunk joined with its document's title and source; `page` is 1-based (None: not paged)."""

    chunk_id: int
    doc_id: str
    ordinal: int
    start: int
    end: int
    text: str
    title: str
    source: str
    page: int | None = None
    heading: str | None = None
    kind: str | None = None
    sheet: str | None = None
    row_first: int | None = None
    row_last: int | None = None
    ocr_confidence: float | None = None
    sentences: str | None = None
    sentence_vectors: str | None = None

    def matched(self, context: PassageContext | bool) -> str:
        """What this passage is matched on in an index whose passages have `context` (see `matched_text`)."""
        return matched_text(self.title, self.text, self.start, context, source=self.source, heading=self.heading)


@dataclass(frozen=True)
class Place:
    """Where a stored chunk stands: its document, its 1-based page (None: not paged) and its kind (None: content).
    What ranking reads of every candidate (the passage's text is read for the hits alone)."""

    doc_id: str
    page: int | None = None
    kind: str | None = None


@dataclass(frozen=True)
class StoredDocument:
    """A stored document as the store keeps it."""

    doc_id: str
    title: str
    source: str
    origin: str
    content_hash: str
    text: str
    metadata: dict[str, Any]
    n_chunks: int

    def to_document(self) -> Document:
        """The cleaned Document this row was made from."""
        return Document(self.doc_id, self.title, self.text, self.source, self.metadata)


T = TypeVar("T")


def slices(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size` (for statements that take a bounded list)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
