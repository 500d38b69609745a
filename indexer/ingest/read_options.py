"""How files are read, apart from how their text is cut into passages (`ChunkingConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from indexer.ingest.clean import Cleaning
from indexer.ingest.ocr.base import OcrSettings


@dataclass(frozen=True)
class ReadOptions:
    """Where the scraped-page rules apply to text formats (`cleaning`), whether page-aware cleaning (running
    headers and footers, page numbers: `indexer.ingest.pages`) applies to paged formats (`pages`; None: unless
    `cleaning` is none), and how pages without text and images are recognised (`ocr`). A collection records the
    cleaning and the OCR settings (`ChunkingInfo`)."""

    cleaning: Cleaning = Cleaning.auto
    ocr: OcrSettings = field(default_factory=OcrSettings)
    pages: bool | None = None

    @property
    def cleans_pages(self) -> bool:
        """Whether page-aware cleaning applies to paged formats."""
        return self.cleaning is not Cleaning.none if self.pages is None else self.pages
