"""Format readers: one module per family of formats, each turning a file into `Extracted` blocks.

The registry maps a file extension to its reader. Plain text, Markdown, HTML and JSON Lines are read by
`indexer.ingest.documents` itself (they go through the scraped-page rules); these are the binary and
structured formats.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from indexer.ingest.readers.base import Extracted
from indexer.ingest.readers.epub import read_epub
from indexer.ingest.readers.mail import read_eml
from indexer.ingest.readers.office import read_docx, read_odt, read_pptx
from indexer.ingest.readers.pdf import read_pdf
from indexer.ingest.readers.rtf import read_rtf

Reader = Callable[[Path], Extracted]

READERS: dict[str, Reader] = {
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".pptx": read_pptx,
    ".odt": read_odt,
    ".epub": read_epub,
    ".rtf": read_rtf,
    ".eml": read_eml,
}
