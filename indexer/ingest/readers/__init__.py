"""Format readers: one module per family of formats, each turning a file into `Extracted` blocks.

The registries map a file extension to its reader (`OCR_READERS`: formats whose pages may be images).
Plain text, Markdown, HTML and JSON Lines are read by
`indexer.ingest.documents` itself (they go through the scraped-page rules); these are the binary and
structured formats.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from indexer.ingest.ocr.recognizer import Recognizer
from indexer.ingest.readers.base import Extracted
from indexer.ingest.readers.epub import read_epub
from indexer.ingest.readers.images import IMAGE_SUFFIXES, read_image
from indexer.ingest.readers.mail import read_eml
from indexer.ingest.readers.office import read_docx, read_odt, read_pptx
from indexer.ingest.readers.pdf import read_pdf
from indexer.ingest.readers.rtf import read_rtf
from indexer.ingest.readers.sheets import read_delimited, read_workbook

Reader = Callable[[Path], Extracted]
# Readers of formats whose pages may be images: they take the OCR recognizer (None: no OCR).
PagedReader = Callable[[Path, Recognizer | None], Extracted]

OCR_READERS: dict[str, PagedReader] = {".pdf": read_pdf, **dict.fromkeys(IMAGE_SUFFIXES, read_image)}

READERS: dict[str, Reader] = {
    ".docx": read_docx,
    ".pptx": read_pptx,
    ".odt": read_odt,
    ".epub": read_epub,
    ".rtf": read_rtf,
    ".eml": read_eml,
    ".xlsx": read_workbook,
    ".xlsm": read_workbook,
    ".xls": read_workbook,
    ".ods": read_workbook,
    ".csv": read_delimited,
    ".tsv": read_delimited,
}
