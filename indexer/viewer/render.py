"""A page of a document's file as a PNG, with a passage's characters marked on it.

PDF pages are rendered by PDFium (pypdfium2) at the asked width; the characters of the marked range are found
in the page's text layer (`indexer.viewer.marks`) and drawn as semi-transparent boxes, one per run on a line.
Image files are their own pages (a multi-page TIFF's frames). A page whose text came from OCR has no text
layer to mark: it is shown unmarked, and the result says so.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageDraw, ImageSequence, UnidentifiedImageError

from indexer.errors import PageNotFoundError, SourceUnavailableError
from indexer.ingest.readers.images import IMAGE_SUFFIXES
from indexer.ingest.readers.pdf import PDFIUM
from indexer.viewer.marks import Box, PageText, align, document_pages, merge_boxes
from indexer.viewer.source import SourceFile

MIN_WIDTH, MAX_WIDTH = 200, 2000
MARK_FILL = (255, 200, 0, 90)  # semi-transparent yellow over the passage's characters
MARK_EDGE = (230, 120, 0, 200)
PAD = 1.0  # points around each box, so that marks cover ascenders and descenders


@dataclass(frozen=True)
class PageImage:
    """A rendered page: PNG bytes, the document's page count, and what was marked (boxes, or why none)."""

    png: bytes
    pages: int
    boxes: int
    marks: str  # "text layer", "none asked", or why there are none


def page_count(file: SourceFile) -> int:
    """How many page images the file has; raises PageNotFoundError for a format without pages to show."""
    suffix = file.path.suffix.lower()
    if suffix == ".pdf":
        with PDFIUM:
            pdf = _open_pdf(file.path)
            try:
                return len(pdf)
            finally:
                pdf.close()
    if suffix in IMAGE_SUFFIXES:
        with _open_image(file.path) as image:
            return sum(1 for _ in ImageSequence.Iterator(image))
    raise PageNotFoundError(
        f"a {suffix or 'extensionless'} file has no page images; its text is at GET /documents/{{doc_id}}"
    )


def render_page(file: SourceFile, document: str, number: int, width: int, mark: tuple[int, int] | None) -> PageImage:
    """Page `number` (1-based) of `file` at `width` pixels, characters `mark` of the stored text `document`
    boxed. Raises PageNotFoundError for a page the file does not have or a format without page images."""
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise ValueError(f"width must be {MIN_WIDTH}..{MAX_WIDTH}")
    suffix = file.path.suffix.lower()
    if suffix == ".pdf":
        with PDFIUM:  # PDFium is not thread-safe (indexer.ingest.readers.pdf); PNG encoding needs no lock
            picture, pages, boxes, marks = _render_pdf(file, document, number, width, mark)
        return PageImage(_png(picture), pages, boxes, marks)
    count = page_count(file)  # raises for formats without page images
    _check(number, count)
    with _open_image(file.path) as image:
        frame = next(f for i, f in enumerate(ImageSequence.Iterator(image), start=1) if i == number)
        picture = frame.convert("RGB")
    height = max(1, round(picture.height * width / picture.width))
    picture = picture.resize((width, height), Image.Resampling.LANCZOS)
    marks = "none asked" if mark is None else "none: the page's text was read by OCR, which keeps no boxes"
    return PageImage(_png(picture), count, 0, marks)


def _render_pdf(
    file: SourceFile, document: str, number: int, width: int, mark: tuple[int, int] | None
) -> tuple[Image.Image, int, int, str]:
    pdf = _open_pdf(file.path)
    try:
        _check(number, len(pdf))
        page = pdf[number - 1]
        page_width = float(page.get_width())
        scale = width / page_width
        picture = page.render(scale=scale).to_pil().convert("RGB")
        boxes: list[Box] = []
        marks = "none asked"
        if mark is not None:
            rotation = page.get_rotation()
            if rotation:
                marks = f"none: the page is rotated by {rotation} degrees"
            else:
                found = _mark_boxes(file, pdf, document, number, mark)
                boxes, marks = (found, "text layer") if found is not None else ([], _NO_MATCH)
        if boxes:
            left, _, _, top = page.get_bbox()  # the visible box (get_cropbox falls back to US letter)
            overlay = Image.new("RGBA", picture.size, (0, 0, 0, 0))
            draw = ImageDraw.Draw(overlay)
            for b_left, b_bottom, b_right, b_top in boxes:
                x0, x1 = (b_left - PAD - left) * scale, (b_right + PAD - left) * scale
                y0, y1 = (top - b_top - PAD) * scale, (top - b_bottom + PAD) * scale
                draw.rectangle((x0, y0, x1, y1), fill=MARK_FILL, outline=MARK_EDGE)
            picture = Image.alpha_composite(picture.convert("RGBA"), overlay).convert("RGB")
        return picture, len(pdf), len(boxes), marks
    finally:
        pdf.close()


_NO_MATCH = "none: this page's text was not read from its text layer (OCR), or the file reads differently now"


def mark_boxes(file: SourceFile, document: str, number: int, mark: tuple[int, int]) -> list[Box] | None:
    """The boxes (PDF points, one per run on a line) of characters `mark` of `document` on page `number` of a
    PDF; None when the page's text cannot be matched to its text layer."""
    with PDFIUM:
        pdf = _open_pdf(file.path)
        try:
            _check(number, len(pdf))
            return _mark_boxes(file, pdf, document, number, mark)
        finally:
            pdf.close()


def _mark_boxes(
    file: SourceFile, pdf: pdfium.PdfDocument, document: str, number: int, mark: tuple[int, int]
) -> list[Box] | None:
    found = _pages_of(file, pdf, document)[number - 1]
    if found is None:
        return None
    textpage = pdf[number - 1].get_textpage()
    count = textpage.count_chars()
    indexed = "".join(chr(pdfium_c.FPDFText_GetUnicode(textpage, i)) for i in range(count))
    reader = textpage.get_text_bounded()
    to_index = align(reader, indexed)
    first, last = max(mark[0], found.start), min(mark[1], found.start + len(found.text))
    boxes: list[Box] = []
    for offset in range(first, last):
        if found.text[offset - found.start].isspace():
            continue
        position = found.origin[offset - found.start]
        index = to_index[position] if position is not None else None
        if index is None:
            continue
        # Tight across (a loose box reaches into its neighbours), the font's full height up and down (so a
        # run of small letters is marked as tall as the line).
        left, _, right, _ = textpage.get_charbox(index)
        _, bottom, _, top = textpage.get_charbox(index, loose=True)
        if right > left and top > bottom:
            boxes.append((left, bottom, right, top))
    return merge_boxes(boxes)


# Each PDF's pages matched to the stored text, by file hash: marking one page needs the whole document's text
# (page cleaning compares pages), read and matched once per file rather than once per page image.
_PAGES: OrderedDict[tuple[str, int], list[PageText | None]] = OrderedDict()
_PAGES_KEPT = 16
_lock = threading.Lock()


def _pages_of(file: SourceFile, pdf: pdfium.PdfDocument, document: str) -> list[PageText | None]:
    key = (file.sha256, hash(document))
    with _lock:
        if (found := _PAGES.get(key)) is not None:
            _PAGES.move_to_end(key)
            return found
    texts = [pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf))]
    pages = document_pages(document, texts)
    with _lock:
        _PAGES[key] = pages
        while len(_PAGES) > _PAGES_KEPT:
            _PAGES.popitem(last=False)
    return pages


def _check(number: int, count: int) -> None:
    if not 1 <= number <= count:
        raise PageNotFoundError(
            f"no page {number}: the document has {count} page{'s' if count != 1 else ''} (1..{count})"
        )


def _open_pdf(path: Path) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        raise SourceUnavailableError(f"{path.name} cannot be opened as a PDF now ({exc})") from exc


def _open_image(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as exc:
        raise SourceUnavailableError(f"{path.name} cannot be opened as an image now ({exc})") from exc


def _png(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=3)  # level 3: about as small as 6, several times faster
    return out.getvalue()
