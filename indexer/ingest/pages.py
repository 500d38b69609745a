"""Page-aware cleaning of paged documents: running headers and footers, page numbers, navigation pages.

A paged document (a PDF, slides) repeats lines at the top or bottom of its pages: a link label ("Table of
Contents"), the author's or document's name, "Page 3 of 40". They say nothing about the page they sit on, yet
they would open every passage. The rules, on each page's lines:

1. **Running lines.** A line among the first or last `EDGE` lines of a page whose *shape* (lower case, digits
   as `#`, punctuation as spaces) appears in that zone on at least `MIN_PAGES` pages and on `MIN_SHARE` of the
   pages is a running header or footer: removed, and kept once as the document's `running_headers`. When the
   lines of a shape differ in their numbers, they run only if a number follows the page numbering ("Annual
   Report - 12", "- 13"); otherwise each page says something of its own ("Certificate number 4471") and stays.
2. **Page numbers.** A line of the edge zone that is only a page number ("12", "- 12 -", "Page 12", "xii")
   is removed when its number minus the page's position agrees with at least `MIN_PAGES` other pages (the
   document's own numbering, which may restart in front matter or appendices). A number that does not follow
   the pages is table data and stays.
3. **Navigation pages.** A page most of whose lines point elsewhere (a heading and a page number, dot
   leaders, an index entry's page list) is a table of contents, an index or a list of figures: marked, not
   removed (the documents API still returns it; searches rank it below content).

A document of fewer than `MIN_PAGES` pages has nothing to compare and is left as it is. Body text is never
removed: only whole lines of the edge zones, and only when they repeat across pages.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise

from indexer.ingest.readers.base import Block, Extracted

EDGE = 3  # lines at the top and at the bottom of a page where running headers and footers sit
MAX_CHARS = 100  # a running line is short: a longer one repeated is a note or a paragraph, and stays
MIN_PAGES = 3  # a line repeating on fewer pages is not running
MIN_SHARE = 0.1  # ... nor one repeating on less than this share of the pages
NAV_MIN_LINES = 5  # a navigation page points elsewhere on at least this many lines
NAV_SHARE = 0.5  # ... and on at least this share of its lines with words
NAV_ORDERED = 0.7  # a contents page's page numbers mostly ascend (index entries are exempt)

_SHORT = 0.6  # a line under this share of a full line's length ends its paragraph
_ENDS = (".", "!", "?", ":")  # a line ending a sentence may end its paragraph: splitting there loses nothing
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")  # a number, with its thousands separators and decimals
_NUMBER = re.compile(r"\d+")  # a run of digits: a page number is one
_NOT_WORD = re.compile(r"[^\w#]+")
_ROMAN = re.compile(r"^[ivxlcdm]{1,7}$", re.IGNORECASE)
_PAGE_NUMBER = re.compile(
    r"^(?:page\s+)?[-\u2013\u2014(\[]?\s*(\d{1,4}|[ivxlcdm]{1,7})\s*[-\u2013\u2014)\]]?"
    r"(?:\s*(?:of|/)\s*\d{1,4})?$",
    re.IGNORECASE,
)
# A contents line: words, then (after dot leaders or a space) a page number; the word before it is not a number.
_CONTENTS = re.compile(
    r"^(?=.*[^\W\d_]{2}).*(?:[^\W\d_][)\]:.]?|\.{2,}|\u2026)\s*(?:\.{2,}|\u2026|\s)\s*(\d{1,4}|[ivxlc]{1,6})$",
    re.IGNORECASE,
)
_LEADERS = re.compile(r"(?:\.\s?){4,}|\u2026{2,}|_{4,}")
# An index entry: words, a comma, then page numbers and ranges ("Filters, 12, 40-42").
_INDEX = re.compile(
    r"^(?=.*[^\W\d_]{2}).*[^\W\d_][^\d]*,\s+\d{1,4}(?:\s*[-\u2013]\s*\d{1,4})?"
    r"(?:\s*,\s+\d{1,4}(?:\s*[-\u2013]\s*\d{1,4})?)*$"
)


@dataclass
class CleanedPages:
    """Each page's lines as kept, what was removed, and which pages are navigation."""

    pages: list[list[str]]
    running: list[str] = field(default_factory=list)  # each running header or footer once, as first seen
    removed: Counter[str] = field(default_factory=Counter)  # lines removed per rule
    navigation: set[int] = field(default_factory=set)  # 1-based numbers of navigation pages
    dropped: dict[int, set[int]] = field(default_factory=dict)  # 0-based page -> positions of its lines removed


def shape(line: str) -> str:
    """A line's shape: lower case, numbers as `#`, punctuation as single spaces (so "Page 3 of 40" and
    "Page 4 of 40" are the same line, and so are small differences of punctuation)."""
    return " ".join(_NOT_WORD.sub(" ", _DIGITS.sub("#", line.lower())).split())


def _edges(lines: Sequence[str]) -> list[int]:
    """Positions of the edge zones' lines: the first and last `EDGE` non-empty lines, fewer on a short page
    (each zone at most a third of its lines), so that the zones never cover a page's body."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    edge = max(1, min(EDGE, len(filled) // 3))
    return sorted(set(filled[:edge]) | set(filled[-edge:]))


def _may_run(line_shape: str) -> bool:
    """Whether a line of this shape may be a running header: it is short, has a word, and is not a row of
    figures (a label then two or more numbers: a table row repeated across tables) or a lone footnote mark."""
    if len(line_shape) > MAX_CHARS:
        return False
    tokens = line_shape.split()
    words = sum(1 for t in tokens if sum(c.isalpha() for c in t) >= 2)
    trailing = len(tokens) - len("".join("x" if t != "#" else "#" for t in tokens).rstrip("#"))
    return words >= 1 and trailing < 2


def _roman(value: str) -> int:
    numerals = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
    total = 0
    for char, following in zip(value.lower(), value.lower()[1:] + " ", strict=True):
        number = numerals[char]
        total += -number if numerals.get(following, 0) > number else number
    return total


def _page_number(line: str) -> int | None:
    """The number a page-number line shows, else None."""
    found = _PAGE_NUMBER.match(line.strip())
    if found is None:
        return None
    value = found.group(1)
    return int(value) if value.isdigit() else _roman(value) if _ROMAN.match(value) else None


def clean_pages(pages: Sequence[Sequence[str]]) -> CleanedPages:
    """Remove running headers, footers and page numbers from a paged document's lines; mark navigation pages."""
    result = CleanedPages([list(lines) for lines in pages])
    result.navigation = {n for n, lines in enumerate(pages, start=1) if is_navigation(lines)}
    if len(pages) < MIN_PAGES:
        return result
    edges = [_edges(lines) for lines in pages]
    seen: Counter[str] = Counter()
    offsets: Counter[int] = Counter()
    for index, (lines, zone) in enumerate(zip(pages, edges, strict=True)):
        shapes = set()
        for i in zone:
            number = _page_number(lines[i])
            if number is not None:
                offsets[number - index] += 1
            elif _may_run(s := shape(lines[i])):
                shapes.add(s)
        seen.update(shapes)
    needed = max(MIN_PAGES, MIN_SHARE * len(pages))
    running = {s for s, n in seen.items() if n >= needed}
    running -= _numbered_not_by_page(pages, edges, running)
    numbering = {offset for offset, n in offsets.items() if n >= MIN_PAGES}
    first_seen: dict[str, str] = {}
    for index, (lines, zone) in enumerate(zip(pages, edges, strict=True)):
        drop: set[int] = set()
        for i in zone:
            number = _page_number(lines[i])
            if number is not None:
                if number - index in numbering:
                    drop.add(i)
                    result.removed["page_number"] += 1
            elif (s := shape(lines[i])) in running:
                drop.add(i)
                first_seen.setdefault(s, " ".join(lines[i].split()))
                result.removed["running_header" if i <= len(lines) // 2 else "running_footer"] += 1
        if drop:
            result.pages[index] = [line for i, line in enumerate(lines) if i not in drop]
            result.dropped[index] = drop
    result.running = list(first_seen.values())
    return result


def _numbered_not_by_page(pages: Sequence[Sequence[str]], edges: list[list[int]], running: set[str]) -> set[str]:
    """The shapes of `running` whose lines differ in their numbers without following the page numbering
    ("Certificate number 4471", "... 4472" on a scan of certificates): each page says something of its own,
    so they are text. A shape whose lines are all the same, or whose changing number minus the page's position
    agrees on `MIN_PAGES` pages or more ("Annual Report - 12", "- 13", ...), still runs."""
    seen: dict[str, list[tuple[int, str]]] = {}
    for index, (lines, zone) in enumerate(zip(pages, edges, strict=True)):
        for i in zone:
            if "#" in (s := shape(lines[i])) and s in running:
                seen.setdefault(s, []).append((index, " ".join(lines[i].split())))
    text: set[str] = set()
    for s, found in seen.items():
        if len({line for _, line in found}) == 1:
            continue
        numbers = [(index, [int(n) for n in _NUMBER.findall(line)]) for index, line in found]
        positions = min(len(ns) for _, ns in numbers)
        follows = any(
            max(Counter(ns[k] - index for index, ns in numbers).values()) >= MIN_PAGES for k in range(positions)
        )
        if not follows:
            text.add(s)
    return text


def is_navigation(lines: Sequence[str]) -> bool:
    """Whether a page's lines are mostly pointers elsewhere: a table of contents, an index, a list of figures."""
    worded = [line.strip() for line in lines if any(c.isalpha() for c in line)]
    numbers: list[int] = []
    pointers = 0
    for line in worded:
        if _INDEX.match(line):
            pointers += 1
            continue
        found = _CONTENTS.match(line)
        if found is not None or _LEADERS.search(line):
            pointers += 1
            if found is not None:
                value = found.group(1)
                numbers.append(int(value) if value.isdigit() else _roman(value))
    if pointers < NAV_MIN_LINES or pointers < NAV_SHARE * len(worded):
        return False
    if len(numbers) < NAV_MIN_LINES:
        return True  # index entries or dot leaders
    ascending = sum(1 for a, b in pairwise(numbers) if b >= a)
    return ascending >= NAV_ORDERED * (len(numbers) - 1)


def paragraphs(lines: Sequence[str]) -> list[str]:
    """A page's lines as paragraphs. PDF text has lines, not paragraphs: a line joins the one before unless
    that one ended a paragraph, which a blank line, a line ending a sentence or a short line marks (a heading,
    a table row, the last line of a paragraph are all much shorter than the page's full lines)."""
    lines = [line.strip() for line in lines]
    return [" ".join(lines[i] for i in group) for group in paragraph_lines(lines)]


def paragraph_lines(lines: Sequence[str]) -> list[list[int]]:
    """The positions of the lines each paragraph of `paragraphs(lines)` is made of (lines already stripped)."""
    widths = sorted(len(line) for line in lines if line)
    full = widths[int(len(widths) * 0.8)] if widths else 0  # a typical full line's length
    out: list[list[int]] = []
    current: list[int] = []
    for i, line in enumerate(lines):
        if line:
            current.append(i)
        if current and (not line or len(line) < _SHORT * full or line.endswith(_ENDS)):
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def paged_blocks(extracted: Extracted, clean: bool) -> Extracted:
    """`extracted` with page-aware cleaning applied (`clean`) and navigation pages marked: a reader's page lines
    become paragraph blocks; a paged reader's blocks (slides) are cleaned as the lines of their pages."""
    if extracted.page_lines is not None:
        pages = extracted.page_lines
        cleaned = clean_pages(pages) if clean else CleanedPages([list(p) for p in pages])
        blocks = [Block(text, page=n) for n, lines in enumerate(cleaned.pages, start=1) for text in paragraphs(lines)]
        navigation = cleaned.navigation if clean else {n for n, lines in enumerate(pages, 1) if is_navigation(lines)}
        return _with(extracted, blocks, cleaned, navigation)
    if not clean or not extracted.blocks or any(b.page is None for b in extracted.blocks):
        return extracted
    count = max(b.page or 0 for b in extracted.blocks)
    by_page: list[list[Block]] = [[] for _ in range(count)]
    for block in extracted.blocks:
        by_page[(block.page or 1) - 1].append(block)
    cleaned = clean_pages([[b.text for b in page] for page in by_page])
    kept = [_kept(page, lines) for page, lines in zip(by_page, cleaned.pages, strict=True)]
    return _with(extracted, [b for page in kept for b in page], cleaned, cleaned.navigation)


def _kept(blocks: list[Block], texts: list[str]) -> list[Block]:
    """The blocks of one page whose texts cleaning kept (`texts`, in order)."""
    out, i = [], 0
    for block in blocks:
        if i < len(texts) and block.text == texts[i]:
            out.append(block)
            i += 1
    return out


def _with(extracted: Extracted, blocks: list[Block], cleaned: CleanedPages, navigation: set[int]) -> Extracted:
    metadata = dict(extracted.metadata)
    if cleaned.running:
        metadata["running_headers"] = cleaned.running
    return replace(
        extracted, blocks=blocks, metadata=metadata, page_lines=None, navigation=navigation, removed=cleaned.removed
    )
