"""OCR settings, what an engine returns, and the engine interface."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from indexer.model_cache import cache_root

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_DPI = 300
DEFAULT_LANGUAGES = "eng"


class OcrMode(StrEnum):
    """When pages are recognised from their image."""

    auto = "auto"  # pages without a text layer (or an almost empty one over an image), and image files
    off = "off"  # never: such pages are reported, image files skipped
    force = "force"  # every page of a PDF, whatever its text layer says


class OcrEngineName(StrEnum):
    """The OCR engines seekr can drive (see docs/indexing.md for how they compare)."""

    tesseract = "tesseract"
    rapidocr = "rapidocr"


def default_cache_dir() -> Path:
    """Where recognised pages are kept by default: `$XDG_CACHE_HOME/seekr/ocr` (`~/.cache/seekr/ocr`)."""
    return cache_root() / "ocr"


def default_threads() -> int:
    """Pages recognised at once by default: all cores but one, so a serving process keeps one for searches."""
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass(frozen=True)
class OcrSettings:
    """How pages without text are read. `languages`: Tesseract's codes joined by `+` (`eng+deu`)."""

    mode: OcrMode = OcrMode.auto
    engine: OcrEngineName = OcrEngineName.tesseract
    languages: str = DEFAULT_LANGUAGES
    dpi: int = DEFAULT_DPI
    threads: int = field(default_factory=default_threads, compare=False)
    cache_dir: Path | None = field(default_factory=default_cache_dir, compare=False)  # None: no cache

    def describe(self) -> str:
        """What the manifest records: what decides the recognised text (not where it is cached, nor threads)."""
        if self.mode is OcrMode.off:
            return "off"
        return f"{self.mode.value} {self.engine.value} {self.languages} {self.dpi}dpi"


# A recognised word: its line (in `Recognized.lines`), its characters in that line [start, end), and its box as
# shares of the page image's width and height (left, top, right, bottom), so any rendering of the page can mark it.
WordBox = tuple[int, int, int, float, float, float, float]


@dataclass(frozen=True)
class Recognized:
    """A page's recognised text, as lines (blank lines between paragraphs), the mean confidence (0-1), and where
    each word is on the page (empty when the engine does not say)."""

    lines: list[str]
    confidence: float
    words: tuple[WordBox, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether nothing with a letter or digit was found."""
        return not any(any(c.isalnum() for c in line) for line in self.lines)


class OcrUnavailableError(Exception):
    """The engine cannot run here (not installed, no language data, a language not installed)."""


class OcrError(Exception):
    """An engine could not recognise one page (the page is reported; the rest of the file is read)."""


class OcrEngine(Protocol):
    """Recognises the text of one page image. Safe to call from several threads at once."""

    name: str

    def recognize(self, image: Image.Image) -> Recognized:
        """The text of `image` (a page at the settings' dpi); OcrError if the engine fails on it."""
        ...

    def identity(self) -> str:
        """The engine, its version and its languages: part of every cache key (a new version reads anew)."""
        ...
