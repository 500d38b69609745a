"""How files are read, apart from how their text is cut into passages (`ChunkingConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from indexer.ingest.clean import Cleaning
from indexer.ingest.ocr.base import OcrSettings


@dataclass(frozen=True)
class ReadOptions:
    """Where the scraped-page rules apply (`cleaning`; page-aware cleaning of paged formats unless it is none), and
    how pages without text and images are recognised (`ocr`). A collection records both (`ChunkingInfo`)."""

    cleaning: Cleaning = Cleaning.auto
    ocr: OcrSettings = field(default_factory=OcrSettings)
