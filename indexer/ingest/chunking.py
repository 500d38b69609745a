"""Sentence-aware chunking sized in the embedding model's own tokens.

Sentences (found by `sentencex`, never across a line break) are packed greedily into chunks of at most
`chunk_tokens` model tokens; each new chunk starts with the previous chunk's last sentences worth up to
`overlap_tokens`. A sentence longer than a chunk is cut at token boundaries, so no chunk is ever longer
than the model accepts and nothing is silently truncated at embedding time.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import groupby

import sentencex

from indexer.errors import ConfigError
from indexer.types import NAVIGATION, Chunk, Document, PassageContext

TokenSpans = Callable[[str], list[tuple[int, int]]]

_LINE = re.compile(r"[^\n]+")
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class ChunkingConfig:
    """Chunk size and overlap, both in model tokens (special tokens not counted)."""

    chunk_tokens: int = 128
    overlap_tokens: int = 32
    language: str = "en"
    titles: bool = True  # match each passage with its context in front (see `matched_text`); False: alone
    context: PassageContext = PassageContext.headings  # what that context is

    @property
    def passage_context(self) -> PassageContext:
        """What passages are matched with in front of them (none when titles are off)."""
        return self.context if self.titles else PassageContext.none

    def validate(self, max_tokens: int) -> None:
        """Raise ConfigError when the sizes are impossible for a model accepting `max_tokens` tokens."""
        if self.chunk_tokens < 8:
            raise ConfigError(f"chunk size {self.chunk_tokens} is too small; use at least 8 tokens")
        if self.chunk_tokens > max_tokens:
            raise ConfigError(
                f"chunk size {self.chunk_tokens} tokens exceeds the model's limit of {max_tokens} content "
                f"tokens; the model would silently truncate. Use --chunk-tokens {max_tokens} or less."
            )
        if not 0 <= self.overlap_tokens < self.chunk_tokens:
            raise ConfigError(
                f"overlap {self.overlap_tokens} must be at least 0 and below the chunk size {self.chunk_tokens}"
            )


def sentences_of(text: str) -> list[tuple[int, int]]:
    """The sentences a highlight chooses among: `sentence_spans`, or the whole passage when it has none."""
    return sentence_spans(text) or [(0, len(text))]


def sentence_spans(text: str, language: str = "en") -> list[tuple[int, int]]:
    """Character spans of the sentences in `text`; a line break always ends a sentence."""
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        base, line_text = line.start(), line.group()
        cursor = 0
        for sentence in sentencex.segment(language, line_text):
            stripped = sentence.strip()
            if not stripped:
                continue
            found = line_text.find(stripped, cursor)
            if found < 0:  # the segmenter altered the text; fall back to the rest of the line
                found = cursor
                stripped = line_text[cursor:].strip()
                if not stripped:
                    break
            end = base + found + len(stripped)
            if spans and spans[-1][0] >= base and not _WORD.search(stripped):
                spans[-1] = (spans[-1][0], end)  # stray punctuation (". .") belongs to the sentence before
            else:
                spans.append((base + found, end))
            cursor = found + len(stripped)
    return spans


def _pieces(text: str, spans: list[tuple[int, int]], token_spans: TokenSpans, limit: int) -> list[tuple[int, int, int]]:
    """(start, end, n_tokens) units: sentences, with over-long sentences cut at token boundaries."""
    units: list[tuple[int, int, int]] = []
    for start, end in spans:
        tokens = token_spans(text[start:end])
        if len(tokens) <= limit:
            units.append((start, end, len(tokens)))
            continue
        for i in range(0, len(tokens), limit):
            window = tokens[i : i + limit]
            units.append((start + window[0][0], start + window[-1][1], len(window)))
    return units


def chunk_text(
    text: str,
    token_spans: TokenSpans,
    config: ChunkingConfig,
    *,
    pages: Sequence[int] = (),
    sections: Sequence[int] = (),
    headings: Sequence[tuple[int, str]] = (),
    navigation: Sequence[int] = (),
    rows: Sequence[tuple[int, int]] = (),
    sheets: Sequence[tuple[int, str]] = (),
    ocr: Sequence[tuple[int, float]] = (),
) -> list[Chunk]:
    """Split cleaned document text into chunks; see the module docstring for the policy.

    A chunk never crosses a page start (`pages`, ascending offsets) or a section start (`sections`): each
    section is chunked on its own, and each chunk says the (1-based) page it lies on, the heading it stands
    under (`headings`: (offset, heading), ascending) and whether that page is a navigation page. A table's rows
    (`rows`: (offset, row number), each a line) are packed whole, never split between passages nor carried
    into the next one, and each passage says its sheet (`sheets`: (offset, name)) and its first and last row.
    `ocr`: (page, confidence) of the pages read by OCR, whose passages carry that confidence.
    """
    row_starts = [offset for offset, _ in rows]
    units = _pieces(
        text, _row_spans(text, row_starts) or sentence_spans(text, config.language), token_spans, config.chunk_tokens
    )
    starts = sorted(set(pages) | set(sections))
    # A row is one unit, and a passage of rows overlaps none: a row repeated in the next passage would be
    # counted in two row ranges (the table's header is what each passage is matched with instead).
    packing = replace(config, overlap_tokens=0) if rows else config
    chunks: list[Chunk] = []
    for _, group in groupby(units, key=lambda unit: bisect_right(starts, unit[0])):
        _pack(text, list(group), token_spans, packing, chunks)
    if rows:
        numbers = [number for _, number in rows]
        for i, c in enumerate(chunks):
            first, last = bisect_right(row_starts, c.start) - 1, bisect_right(row_starts, c.end - 1) - 1
            if first >= 0:
                chunks[i] = replace(c, row_first=numbers[first], row_last=numbers[last])
    if sheets:
        sheet_starts = [offset for offset, _ in sheets]
        for i, c in enumerate(chunks):
            at = bisect_right(sheet_starts, c.start) - 1
            if at >= 0:
                chunks[i] = replace(c, sheet=sheets[at][1])
    if pages:
        chunks = [replace(c, page=bisect_right(pages, c.start) or 1) for c in chunks]
    if navigation:
        marked = set(navigation)
        chunks = [replace(c, kind=NAVIGATION) if c.page in marked else c for c in chunks]
    if ocr:
        confidence = dict(ocr)
        chunks = [replace(c, ocr_confidence=confidence.get(c.page or 0)) for c in chunks]
    if headings:
        offsets = [offset for offset, _ in headings]
        for i, c in enumerate(chunks):
            at = bisect_right(offsets, c.start) - 1
            if at >= 0 and headings[at][1] and not c.text.startswith(headings[at][1]):
                chunks[i] = replace(c, heading=headings[at][1])
    return chunks


def chunk_document(doc: Document, token_spans: TokenSpans, config: ChunkingConfig) -> list[Chunk]:
    """`chunk_text` of a document, with its pages, sections, headings and navigation pages."""
    return chunk_text(
        doc.text,
        token_spans,
        config,
        pages=doc.pages,
        sections=doc.sections,
        headings=doc.headings,
        navigation=doc.navigation,
        rows=doc.rows,
        sheets=doc.sheets,
        ocr=doc.ocr,
    )


def _row_spans(text: str, row_starts: Sequence[int]) -> list[tuple[int, int]]:
    """The spans of a table document's rows, one per row line (empty: not a table)."""
    spans = []
    for start in row_starts:
        end = text.find("\n", start)
        spans.append((start, len(text) if end < 0 else end))
    return spans


def _pack(
    text: str, units: list[tuple[int, int, int]], token_spans: TokenSpans, config: ChunkingConfig, chunks: list[Chunk]
) -> None:
    """Pack `units` greedily into chunks appended to `chunks`, overlapping as configured."""
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and total + units[j][2] <= config.chunk_tokens:
            total += units[j][2]
            j += 1
        j = max(j, i + 1)
        start, end = units[i][0], units[j - 1][1]
        # Joining sentences can tokenize differently from the parts (rare); drop sentences until it fits.
        n_tokens = len(token_spans(text[start:end]))
        while n_tokens > config.chunk_tokens and j - 1 > i:
            j -= 1
            end = units[j - 1][1]
            n_tokens = len(token_spans(text[start:end]))
        chunks.append(Chunk(len(chunks), start, end, text[start:end], n_tokens))
        if j >= len(units):
            break
        # Overlap: carry the last sentences of this chunk (up to overlap_tokens) into the next one.
        back, carried = j, 0
        while back - 1 > i and carried + units[back - 1][2] <= config.overlap_tokens:
            back -= 1
            carried += units[back][2]
        i = back
