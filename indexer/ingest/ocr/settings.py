"""How scanned pages and images are read: the settings shared by the CLI and the service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from indexer.ingest.ocr.base import (
    DEFAULT_DPI,
    DEFAULT_LANGUAGES,
    OcrEngineName,
    OcrMode,
    OcrSettings,
    default_cache_dir,
    default_threads,
)

MIN_DPI, MAX_DPI = 50, 1200


class OcrOptions(BaseSettings):
    """OCR. Every field is also an environment variable `SEEKR_<NAME>`, and a CLI flag `--ocr-...`."""

    model_config = SettingsConfigDict(env_prefix="SEEKR_", frozen=True, extra="ignore")

    ocr: OcrMode = Field(
        OcrMode.auto,
        description="Read scanned pages and images by OCR: auto (PDF pages without a text layer, and image files), "
        "off, or force (every PDF page).",
    )
    ocr_engine: OcrEngineName = Field(
        OcrEngineName.tesseract, description="OCR engine: tesseract, or rapidocr (needs the seekr[rapidocr] extra)."
    )
    ocr_languages: str = Field(
        DEFAULT_LANGUAGES,
        pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$",
        description="Tesseract languages joined by + (eng+deu); each needs its tesseract-ocr-LANG package.",
    )
    ocr_dpi: int = Field(
        DEFAULT_DPI, ge=MIN_DPI, le=MAX_DPI, description="Resolution scanned PDF pages are rendered at."
    )
    ocr_threads: int = Field(
        default_factory=default_threads,
        ge=1,
        description="Pages recognised at once (default: all cores but one, so that searches keep a core).",
    )
    ocr_cache: Path = Field(
        default_factory=default_cache_dir,
        description="Folder where recognised pages are kept by content (default: $XDG_CACHE_HOME/seekr/ocr).",
    )

    def ocr_settings(self) -> OcrSettings:
        """What the readers take."""
        return OcrSettings(
            mode=self.ocr,
            engine=self.ocr_engine,
            languages=self.ocr_languages,
            dpi=self.ocr_dpi,
            threads=self.ocr_threads,
            cache_dir=self.ocr_cache,
        )
