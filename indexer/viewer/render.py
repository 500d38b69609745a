"""A page of a document's file as a PNG, with a passage's characters marked on it.

PDF pages are rendered by PDFium (pypdfium2) at the asked width; the characters of the marked range are found
in the page's text layer (`indexer.viewer.marks`) and drawn as semi-transparent boxes, one per run on a line.
Image files are their own pages (a multi-page TIFF's frames). A page whose text came from OCR has no text
layer to mark: it is shown unmarked, and the result says so.
"""

from __future__ import annotations

import bisect
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageDraw, ImageSequence, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from indexer.errors import PageNotFoundError, SourceUnavailableError
from indexer.ingest.ocr.base import OcrMode, Recognized
from indexer.ingest.ocr.recognizer import Recognizer
from indexer.ingest.readers.images import IMAGE_SUFFIXES, page_image
from indexer.ingest.readers.pdf import PDFIUM, needs_ocr, scan_image
from indexer.viewer.marks import Box, PageText, align, document_pages, merge_boxes
from indexer.viewer.source import SourceFile

MIN_WIDTH, MAX_WIDTH = 200, 2000
MARK_FILL = (255, 200, 0, 90)  # semi-transparent yellow over the passage's characters
MARK_EDGE = (230, 120, 0, 200)


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


def render_page(
    file: SourceFile,
    document: str,
    number: int,
    width: int,
    mark: tuple[int, int] | None,
    ocr: Recognizer | None = None,
) -> PageImage:
    """Page `number` (1-based) of `file` at `width` pixels, characters `mark` of the stored text `document`
    boxed. `ocr`: how the collection reads scans, to find a recognised page's words again in its cache (None: no
    marks on such pages). Raises PageNotFoundError for a page the file does not have or a format without pages."""
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise ValueError(f"width must be {MIN_WIDTH}..{MAX_WIDTH}")
    if file.path.suffix.lower() == ".pdf":
        with PDFIUM:  # PDFium is not thread-safe (indexer.ingest.readers.pdf); PNG encoding needs no lock
            picture, pages, rects, marks = _render_pdf(file, document, number, width, mark, ocr)
    else:
        picture, pages, rects, marks = _render_image(file, document, number, width, mark, ocr)
    return PageImage(_png(_draw(picture, rects), pages, marks), pages, len(rects), marks)


Rect = tuple[float, float, float, float]  # left, top, right, bottom as shares of the page's width and height


def _render_pdf(
    file: SourceFile, document: str, number: int, width: int, mark: tuple[int, int] | None, ocr: Recognizer | None
) -> tuple[Image.Image, int, list[Rect], str]:
    pdf = _open_pdf(file.path)
    try:
        _check(number, len(pdf))
        page = pdf[number - 1]
        picture = page.render(scale=width / float(page.get_width())).to_pil().convert("RGB")
        if mark is None:
            return picture, len(pdf), [], "none asked"
        if rotation := page.get_rotation():
            return picture, len(pdf), [], f"none: the page is rotated by {rotation} degrees"
        found, recognized = _pdf_pages(file, pdf, document, ocr)[number - 1]
        if found is None:
            return picture, len(pdf), [], _NO_MATCH
        if recognized is not None:
            rects = _word_rects(found, recognized, mark)
            return picture, len(pdf), rects or [], "OCR words" if rects is not None else _NO_WORDS
        left, bottom, right, top = page.get_bbox()  # the visible box (get_cropbox falls back to US letter)
        w, h = right - left, top - bottom
        rects = [
            ((b_left - left) / w, (top - b_top) / h, (b_right - left) / w, (top - b_bottom) / h)
            for b_left, b_bottom, b_right, b_top in _text_boxes(pdf, found, number, mark)
        ]
        return picture, len(pdf), rects, "text layer"
    finally:
        pdf.close()


def _render_image(
    file: SourceFile, document: str, number: int, width: int, mark: tuple[int, int] | None, ocr: Recognizer | None
) -> tuple[Image.Image, int, list[Rect], str]:
    count = page_count(file)  # raises for formats without page images
    _check(number, count)
    with _open_image(file.path) as image:
        frame = next(f for i, f in enumerate(ImageSequence.Iterator(image), start=1) if i == number)
        picture = frame.convert("RGB")
    picture = picture.resize((width, max(1, round(picture.height * width / picture.width))), Image.Resampling.LANCZOS)
    if mark is None:
        return picture, count, [], "none asked"
    found, recognized = _image_pages(file, document, ocr)[number - 1]
    if found is None or recognized is None:
        return picture, count, [], _NO_MATCH
    rects = _word_rects(found, recognized, mark)
    return picture, count, rects or [], "OCR words" if rects is not None else _NO_WORDS


_NO_MATCH = (
    "none: the page's text could not be matched to the file (read by OCR with other settings or not cached, "
    "or read by an earlier version)"
)
_NO_WORDS = (
    "none: no word boxes were kept for this page (recognised before they were kept: build with a fresh OCR cache; "
    "or by an engine that gives none)"
)
_PAD = 2  # pixels around each mark, so that it covers ascenders and descenders


def _draw(picture: Image.Image, rects: list[Rect]) -> Image.Image:
    if not rects:
        return picture
    overlay = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    w, h = picture.size
    for left, top, right, bottom in rects:
        draw.rectangle(
            (left * w - _PAD, top * h - _PAD, right * w + _PAD, bottom * h + _PAD), fill=MARK_FILL, outline=MARK_EDGE
        )
    return Image.alpha_composite(picture.convert("RGBA"), overlay).convert("RGB")


def mark_boxes(file: SourceFile, document: str, number: int, mark: tuple[int, int]) -> list[Box] | None:
    """The boxes (PDF points, one per run on a line) of characters `mark` of `document` on page `number` of a
    PDF's text layer; None when the page's text cannot be matched to its text layer."""
    with PDFIUM:
        pdf = _open_pdf(file.path)
        try:
            _check(number, len(pdf))
            found, recognized = _pdf_pages(file, pdf, document, None)[number - 1]
            return _text_boxes(pdf, found, number, mark) if found is not None and recognized is None else None
        finally:
            pdf.close()


def _text_boxes(pdf: pdfium.PdfDocument, found: PageText, number: int, mark: tuple[int, int]) -> list[Box]:
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


def _word_rects(found: PageText, recognized: Recognized, mark: tuple[int, int]) -> list[Rect] | None:
    """The boxes of the recognised words holding characters `mark`, merged per line; None: no word boxes kept."""
    if not recognized.words:
        return None
    starts: list[int] = []  # where each line starts in the page's text, its lines joined by newlines
    position = 0
    for text in recognized.lines:
        starts.append(position)
        position += len(text) + 1
    word_at: dict[tuple[int, int], int] = {}
    for i, (row, start, end, *_) in enumerate(recognized.words):
        for col in range(start, end):
            word_at[(row, col)] = i
    marked: list[int] = []
    first, last = max(mark[0], found.start), min(mark[1], found.start + len(found.text))
    for offset in range(first, last):
        at = found.origin[offset - found.start]
        if at is None:
            continue
        row = bisect.bisect_right(starts, at) - 1
        word = word_at.get((row, at - starts[row]))
        if word is not None and (not marked or marked[-1] != word):
            marked.append(word)
    rects: list[Rect] = []
    last_row = -1
    for i in marked:
        row, _, _, left, top, right, bottom = recognized.words[i]
        if rects and row == last_row:
            l0, t0, r0, b0 = rects[-1]
            rects[-1] = (min(l0, left), min(t0, top), max(r0, right), max(b0, bottom))
        else:
            rects.append((left, top, right, bottom))
        last_row = row
    return rects


# Each file's pages matched to the stored text, by file hash: marking one page needs the whole document's text
# (page cleaning compares pages), read and matched once per file rather than once per page image.
_Page = tuple[PageText | None, Recognized | None]
_PAGES: OrderedDict[tuple[str, int], list[_Page]] = OrderedDict()
_PAGES_KEPT = 16
_lock = threading.Lock()


def _remembered(key: tuple[str, int]) -> list[_Page] | None:
    with _lock:
        if (found := _PAGES.get(key)) is not None:
            _PAGES.move_to_end(key)
        return found


def _remember(key: tuple[str, int], pages: list[_Page]) -> list[_Page]:
    with _lock:
        _PAGES[key] = pages
        while len(_PAGES) > _PAGES_KEPT:
            _PAGES.popitem(last=False)
    return pages


def _pdf_pages(file: SourceFile, pdf: pdfium.PdfDocument, document: str, ocr: Recognizer | None) -> list[_Page]:
    """Each page matched to the stored text, with what OCR read on it where it read the page (from its cache)."""
    key = (file.sha256, hash((document, ocr is not None)))
    if (found := _remembered(key)) is not None:
        return found
    texts: list[str] = []
    recognized: list[Recognized | None] = []
    for number in range(1, len(pdf) + 1):
        page = pdf[number - 1]
        text = page.get_textpage().get_text_bounded()
        read = None
        if ocr is not None and (ocr.mode is OcrMode.force or (ocr.mode is OcrMode.auto and needs_ocr(page, text))):
            read = ocr.remembered(scan_image(pdf, number, ocr.settings.dpi))
            if read is not None and not read.empty:
                text = "\n".join(read.lines)
            else:
                read = None
        texts.append(text)
        recognized.append(read)
    return _remember(key, list(zip(document_pages(document, texts), recognized, strict=True)))


def _image_pages(file: SourceFile, document: str, ocr: Recognizer | None) -> list[_Page]:
    """Each frame of an image file matched to the stored text, with what OCR read on it (from its cache)."""
    key = (file.sha256, hash((document, ocr is not None)))
    if (found := _remembered(key)) is not None:
        return found
    recognized: list[Recognized | None] = []
    with _open_image(file.path) as image:
        for frame in ImageSequence.Iterator(image):
            read = ocr.remembered(page_image(frame)) if ocr is not None else None
            recognized.append(read if read is not None and not read.empty else None)
    texts = ["\n".join(r.lines) if r is not None else "" for r in recognized]
    return _remember(key, list(zip(document_pages(document, texts), recognized, strict=True)))


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


PAGES_KEY, MARKS_KEY = "seekr-pages", "seekr-marks"  # what a page image says of itself, in its PNG text


def _png(picture: Image.Image, pages: int, marks: str) -> bytes:
    # The page count and what was marked go into the PNG itself, so that a kept image answers as the first did.
    info = PngInfo()
    info.add_text(PAGES_KEY, str(pages))
    info.add_text(MARKS_KEY, marks)
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=3, pnginfo=info)  # level 3: about as small as 6, faster
    return out.getvalue()


def described(png: bytes) -> tuple[int | None, str | None]:
    """The page count and marks a page image made here says of itself (None: not said)."""
    with Image.open(io.BytesIO(png)) as image:
        info = image.info
    pages = info.get(PAGES_KEY)
    marks = info.get(MARKS_KEY)
    return (int(pages) if isinstance(pages, str) and pages.isdigit() else None), (
        marks if isinstance(marks, str) else None
    )
