"""PDF: the text layer of each page, with pypdfium2 (PDFium, the engine of Chrome's viewer); OCR where none.

Chosen over pypdf on measurement (`python -m bench formats`, docs/indexing.md): PDFium extracts text in
reading order with word spacing intact and is several times faster. Pages are the document's pages. A page
whose text layer is missing or empty (or almost empty over a page-sized image: a scan with a stamped line) is
rendered and recognised by OCR (`indexer.ingest.ocr`), page by page, so a document with one scanned page among
text pages costs one page of OCR; `ocr=force` recognises every page.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from indexer.ingest.ocr.base import OcrMode
from indexer.ingest.ocr.recognizer import Recognizer
from indexer.ingest.readers.base import Extracted, SkipKind, Unreadable, iso
from indexer.ingest.readers.recognized import ocr_metadata, record

if TYPE_CHECKING:
    from PIL import Image

_PASSWORD = "password"  # PDFium's word for it in the error message of an encrypted file
MIN_TEXT_CHARS = 20  # fewer non-blank characters than this on a page with an image: its text is in the image
SCAN_COVERAGE = 0.5  # images covering this share of a page make it a scan while its text is short
SCAN_TEXT_CHARS = 200  # "short": a stamped line or a file name over a scanned page


# PDFium is not thread-safe: every call into it in this process holds this lock (the viewer renders pages while
# a build or an upload may be reading another PDF in another thread). Held per page, never across OCR.
PDFIUM = threading.RLock()


def read_pdf(path: Path, ocr: Recognizer | None = None) -> Extracted:
    """The lines of every page (recognised where a page has no text layer), the metadata title, author and date."""
    try:
        with PDFIUM:
            pdf = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        if _PASSWORD in str(exc).lower():
            raise Unreadable(SkipKind.encrypted, "encrypted PDF (needs a password); save a copy without one") from exc
        raise Unreadable(SkipKind.corrupt, f"damaged or truncated PDF ({exc})") from exc
    try:
        lines: list[list[str]] = []
        scans: list[int] = []
        mode = ocr.mode if ocr is not None else OcrMode.off
        with PDFIUM:
            count = len(pdf)
            for number in range(1, count + 1):
                page = pdf[number - 1]
                try:
                    text = page.get_textpage().get_text_bounded()
                except pdfium.PdfiumError as exc:
                    raise Unreadable(SkipKind.corrupt, f"page {number} cannot be read ({exc})") from exc
                # PDFium ends lines with \r\n. Lines stay lines here: page-aware cleaning works on them before
                # they are joined into paragraphs (`indexer.ingest.pages`).
                lines.append([line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")])
                if mode is OcrMode.force or (mode is OcrMode.auto and needs_ocr(page, text)):
                    scans.append(number)
        extracted = Extracted([], pages=count, page_lines=lines)
        if scans and ocr is not None:
            _recognize(pdf, scans, ocr, extracted)
        if not any(line for page_lines in lines for line in page_lines):
            if mode is OcrMode.off:
                raise Unreadable(
                    SkipKind.no_text_layer,
                    f"no text layer on any of its {count} pages (a scanned document): it needs OCR "
                    "(SEEKR_OCR=auto or --ocr auto)",
                )
            reasons = "; ".join(sorted({p.reason for p in extracted.problems}))
            raise Unreadable(SkipKind.no_text, f"none of its {count} pages has text, and OCR read none ({reasons})")
        with PDFIUM:
            meta = pdf.get_metadata_dict(skip_empty=True)
        extracted.title = meta.get("Title")
        extracted.metadata = {"author": meta.get("Author"), "created": _pdf_date(meta.get("CreationDate"))}
        extracted.metadata["pages"] = count
        if extracted.ocr:
            extracted.metadata |= ocr_metadata(extracted.ocr)
        return extracted
    finally:
        with PDFIUM:
            pdf.close()


def _recognize(pdf: pdfium.PdfDocument, numbers: list[int], ocr: Recognizer, extracted: Extracted) -> None:
    def render(number: int) -> Image.Image:
        return scan_image(pdf, number, ocr.settings.dpi)

    def renders() -> Iterator[tuple[int, Callable[[], Image.Image]]]:
        for number in numbers:
            yield number, functools.partial(render, number)

    for number, result in ocr.recognize(renders()):
        record(extracted, number, result)


def scan_image(pdf: pdfium.PdfDocument, number: int, dpi: int) -> Image.Image:
    """Page `number` as OCR reads it: grey, at `dpi` (the viewer renders it the same to find its words again)."""
    with PDFIUM:
        image: Image.Image = pdf[number - 1].render(scale=dpi / 72, grayscale=True).to_pil()  # points: 1/72 inch
    return image


def needs_ocr(page: pdfium.PdfPage, text: str) -> bool:
    """Whether a page's text is in its image: almost no text layer over an image, or a short one over a scan."""
    chars = sum(1 for c in text if not c.isspace())
    if chars >= SCAN_TEXT_CHARS:
        return False
    coverage = image_coverage(page)
    return (chars < MIN_TEXT_CHARS and coverage > 0) or coverage >= SCAN_COVERAGE


def image_coverage(page: pdfium.PdfPage) -> float:
    """The share of the page that its images cover (overlaps counted once per image; at most 1)."""
    width, height = (float(v) for v in page.get_size())
    if width <= 0 or height <= 0:
        return 0.0
    area = 0.0
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        left, bottom, right, top = obj.get_bounds()
        w = max(0.0, min(right, width) - max(left, 0.0))
        h = max(0.0, min(top, height) - max(bottom, 0.0))
        area += w * h
    return min(1.0, area / (width * height))


def _pdf_date(value: str | None) -> str | None:
    """A PDF date (D:YYYYMMDDHHmmSS...) as ISO 8601 (date and time as far as given)."""
    if not value:
        return None
    digits = value.removeprefix("D:")[:14]
    if len(digits) < 8 or not digits[:8].isdigit():
        return None
    date = f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
    if len(digits) >= 14 and digits.isdigit():
        return iso(f"{date}T{digits[8:10]}:{digits[10:12]}:{digits[12:14]}")
    return date
