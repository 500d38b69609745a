"""Format readers: one module per family of formats, each turning a file into `Extracted` blocks.

`READERS` maps a file extension to its reader, all of one signature (`Reader`: the file, and the recognizer for
pages that are images). Plain text, Markdown, HTML and JSON Lines are read by `readers.text` into documents
directly: the scraped-page rules work on their raw text, not on blocks.
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

# Every reader: the file, and the recognizer for pages that are images (None: OCR off).
Reader = Callable[[Path, Recognizer | None], Extracted]


def without_images(read: Callable[[Path], Extracted]) -> Reader:
    """A reader of a format whose images are not read (no recognizer needed), in the one reader signature."""

    def reader(path: Path, ocr: Recognizer | None = None) -> Extracted:
        return read(path)

    reader.__name__ = read.__name__
    return reader


READERS: dict[str, Reader] = {
    ".pdf": read_pdf,
    **dict.fromkeys(IMAGE_SUFFIXES, read_image),
    **{
        suffix: without_images(read)
        for suffix, read in {
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
        }.items()
    },
}
