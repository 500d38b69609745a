"""For the viewer's tests: generated PDFs (pages of words under a running header, page numbers at the foot), and a
file read as a build reads it, with its checked file beside it."""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from pathlib import Path

from indexer.ingest.documents import read_file
from indexer.ingest.fingerprint import HASH_KEY
from indexer.ingest.ocr.base import OcrSettings
from indexer.ingest.read_options import ReadOptions
from indexer.types import Document
from indexer.viewer.source import SourceFile


def write_pdf(path: Path, pages: Sequence[Sequence[str]], header: str = "Harbour Handbook - Operations") -> Path:
    """A PDF whose page i holds `header`, the lines `pages[i]`, then its page number."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for number, lines in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", size=9)
        pdf.cell(0, 6, header, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        for line in lines:
            pdf.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(-20)
        pdf.cell(0, 6, str(number), align="C")
    pdf.output(str(path))
    return path


def indexed(path: Path, ocr: OcrSettings | None = None) -> tuple[Document, SourceFile]:
    """The document a build reads from `path` (its first), and the file as the viewer finds it."""
    doc, _ = next(iter(read_file(path, path.name, ReadOptions(ocr=ocr or OcrSettings()))))  # type: ignore[misc]
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return doc, SourceFile(path, path.name, doc.metadata[HASH_KEY], 0, 0.0, media)
