"""PDF: the text layer of each page, with pypdfium2 (PDFium, the engine of Chrome's viewer).

Chosen over pypdf on measurement (`python -m bench formats`, docs/indexing.md): PDFium extracts text in
reading order with word spacing intact and is several times faster. Pages are the document's pages; a PDF with
no text on any page is a scan (`no_text_layer`): it needs OCR, which seekr does not do.
"""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium

from indexer.ingest.readers.base import Extracted, SkipKind, Unreadable, iso

_PASSWORD = "password"  # PDFium's word for it in the error message of an encrypted file


def read_pdf(path: Path) -> Extracted:
    """The lines of every page, the metadata title, author and creation date."""
    try:
        pdf = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        if _PASSWORD in str(exc).lower():
            raise Unreadable(SkipKind.encrypted, "encrypted PDF (needs a password); save a copy without one") from exc
        raise Unreadable(SkipKind.corrupt, f"damaged or truncated PDF ({exc})") from exc
    try:
        lines: list[list[str]] = []
        for number in range(1, len(pdf) + 1):
            page = pdf[number - 1]
            try:
                text = page.get_textpage().get_text_bounded()
            except pdfium.PdfiumError as exc:
                raise Unreadable(SkipKind.corrupt, f"page {number} cannot be read ({exc})") from exc
            # PDFium ends lines with \r\n. Lines stay lines here: page-aware cleaning works on them before
            # they are joined into paragraphs (`indexer.ingest.pages`).
            lines.append([line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")])
        if not any(line for page_lines in lines for line in page_lines):
            raise Unreadable(
                SkipKind.no_text_layer,
                f"no text layer on any of its {len(pdf)} pages (a scanned document): it needs OCR first",
            )
        meta = pdf.get_metadata_dict(skip_empty=True)
        metadata = {"author": meta.get("Author"), "created": _pdf_date(meta.get("CreationDate")), "pages": len(pdf)}
        return Extracted([], title=meta.get("Title"), metadata=metadata, pages=len(pdf), page_lines=lines)
    finally:
        pdf.close()


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
