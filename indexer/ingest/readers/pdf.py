"""PDF: the text layer of each page, with pypdfium2 (PDFium, the engine of Chrome's viewer).

Chosen over pypdf on measurement (`python -m bench formats`, docs/indexing.md): PDFium extracts text in
reading order with word spacing intact and is several times faster. Pages are the document's pages; a PDF with
no text on any page is a scan (`no_text_layer`): it needs OCR, which seekr does not do.
"""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium

from indexer.ingest.readers.base import Block, Extracted, SkipKind, Unreadable, iso

_SHORT = 0.6  # a line under this share of a full line's length ends its paragraph
_ENDS = (".", "!", "?", ":")  # a line ending a sentence may end its paragraph: splitting there loses nothing
_PASSWORD = "password"  # PDFium's word for it in the error message of an encrypted file


def read_pdf(path: Path) -> Extracted:
    """The text of every page, the metadata title, author and creation date."""
    try:
        pdf = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        if _PASSWORD in str(exc).lower():
            raise Unreadable(SkipKind.encrypted, "encrypted PDF (needs a password); save a copy without one") from exc
        raise Unreadable(SkipKind.corrupt, f"damaged or truncated PDF ({exc})") from exc
    try:
        blocks: list[Block] = []
        for number in range(1, len(pdf) + 1):
            page = pdf[number - 1]
            try:
                text = page.get_textpage().get_text_bounded()
            except pdfium.PdfiumError as exc:
                raise Unreadable(SkipKind.corrupt, f"page {number} cannot be read ({exc})") from exc
            # PDFium ends lines with \r\n; paragraphs of one page are kept as its lines.
            blocks.extend(Block(line, page=number) for line in _paragraphs(text))
        if not blocks:
            raise Unreadable(
                SkipKind.no_text_layer,
                f"no text layer on any of its {len(pdf)} pages (a scanned document): it needs OCR first",
            )
        meta = pdf.get_metadata_dict(skip_empty=True)
        metadata = {"author": meta.get("Author"), "created": _pdf_date(meta.get("CreationDate")), "pages": len(pdf)}
        return Extracted(blocks, title=meta.get("Title"), metadata=metadata, pages=len(pdf))
    finally:
        pdf.close()


def _paragraphs(text: str) -> list[str]:
    """A page's text as paragraphs. PDF text has lines, not paragraphs: a line joins the one before unless
    that one ended a paragraph, which a blank line, a line ending a sentence or a short line marks (a heading,
    a table row, the last line of a paragraph are all much shorter than the page's full lines)."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    widths = sorted(len(line) for line in lines if line)
    full = widths[int(len(widths) * 0.8)] if widths else 0  # a typical full line's length
    out: list[str] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line)
        if current and (not line or len(line) < _SHORT * full or line.endswith(_ENDS)):
            out.append(" ".join(current))
            current = []
    if current:
        out.append(" ".join(current))
    return out


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
