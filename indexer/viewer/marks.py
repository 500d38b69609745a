"""From offsets in a document's extracted text back to the characters of a PDF page, and their boxes.

The PDF reader keeps each page's lines (stripped), page cleaning drops whole lines (running headers, page
numbers), lines become paragraphs joined by spaces, and each paragraph's white space is normalised. Every step
keeps or drops whole lines and changes only white space, so the page's text can be rebuilt from the file with
each character's position in the page's text layer beside it. The rebuilt text must equal the stored text (the
whole document, or the page found once in it): if it does not (a page read by OCR, a file read by an earlier
version), there are no marks rather than wrong ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from indexer.ingest.clean import normalise_text
from indexer.ingest.pages import clean_pages, paragraph_lines

Box = tuple[float, float, float, float]  # left, bottom, right, top in PDF points
_BREAK = re.compile(r"\r\n|\r|\n")
_SEPARATOR = "\n\n"  # between a document's blocks (indexer.ingest.readers.base.assemble)
LOOKAHEAD = 16  # characters of the text layer skipped at most to find the next one of the reader's text


@dataclass(frozen=True)
class PageText:
    """A page's text as the index holds it, where it starts in the document, and for each of its characters the
    position of that character in the page's text as the reader got it (None: a space the reader added)."""

    start: int
    text: str
    origin: list[int | None]


def split_lines(text: str) -> list[tuple[int, str]]:
    """The lines of a page's text as the PDF reader splits and strips them, each with its start in `text`."""
    out: list[tuple[int, str]] = []
    position = 0
    for found in [*_BREAK.finditer(text), None]:
        end = found.start() if found is not None else len(text)
        raw = text[position:end]
        stripped = raw.strip()
        out.append((position + len(raw) - len(raw.lstrip()), stripped))
        if found is not None:
            position = found.end()
    return out


def align(target: str, source: str) -> list[int | None]:
    """For each character of `target`, its position in `source`, where `target` is `source` with white space
    changed and a few characters missing (None: a white space of `target` alone, or a character not found)."""
    out: list[int | None] = [None] * len(target)
    j = 0
    for i, char in enumerate(target):
        if j < len(source) and source[j] == char:
            out[i] = j
            j += 1
        elif char.isspace():
            continue
        else:
            found = source.find(char, j, j + LOOKAHEAD)
            if found >= 0:
                out[i] = found
                j = found + 1
    return out


def _pages(page_texts: Sequence[str], clean: bool) -> list[list[tuple[str, list[int | None]]]]:
    """Each page's blocks as assemble makes them, each with the reader-text position of its characters."""
    lines = [split_lines(text) for text in page_texts]
    dropped = clean_pages([[line for _, line in page] for page in lines]).dropped if clean else {}
    pages: list[list[tuple[str, list[int | None]]]] = []
    for index, page in enumerate(lines):
        kept = [item for i, item in enumerate(page) if i not in dropped.get(index, set())]
        blocks = []
        for group in paragraph_lines([line for _, line in kept]):
            joined, origin = "", list[int | None]()
            for i in group:
                if joined:
                    joined += " "
                    origin.append(None)
                start, line = kept[i]
                joined += line
                origin.extend(range(start, start + len(line)))
            text = normalise_text(joined)
            if text:
                blocks.append((text, [origin[k] if k is not None else None for k in align(text, joined)]))
        pages.append(blocks)
    return pages


def document_pages(document: str, page_texts: Sequence[str]) -> list[PageText | None]:
    """Each page of a document whose stored text is `document` and whose PDF pages' reader texts are
    `page_texts`: its text, start and origins; None for a page whose rebuilt text does not match the stored one."""
    out: list[PageText | None] = [None] * len(page_texts)
    for clean in (True, False):
        pages = _pages(page_texts, clean)
        texts = [_SEPARATOR.join(b for b, _ in blocks) for blocks in pages]
        whole = document == _SEPARATOR.join(b for blocks in pages for b, _ in blocks)
        start = 0
        for number, blocks in enumerate(pages):
            text = texts[number]
            if out[number] is None and text:
                origin: list[int | None] = []
                for k, (_, positions) in enumerate(blocks):
                    if k:
                        origin.extend([None] * len(_SEPARATOR))
                    origin.extend(positions)
                if whole:
                    out[number] = PageText(start, text, origin)
                elif document.count(text) == 1:
                    out[number] = PageText(document.index(text), text, origin)
            if text:
                start += len(text) + len(_SEPARATOR)
        if whole:
            break
    return out


def merge_boxes(boxes: Sequence[Box]) -> list[Box]:
    """Character boxes in reading order merged into one rectangle per run on a line."""
    out: list[Box] = []
    for left, bottom, right, top in boxes:
        if out:
            l0, b0, r0, t0 = out[-1]
            height = max(t0 - b0, top - bottom, 1e-6)
            overlap = min(t0, top) - max(b0, bottom)
            if overlap > 0.5 * min(t0 - b0, top - bottom) and -height < left - r0 < 2 * height:
                out[-1] = (min(l0, left), min(b0, bottom), max(r0, right), max(t0, top))
                continue
        out.append((left, bottom, right, top))
    return out
