"""Recognising a file's pages: from the cache when seen before, else by the engine, several pages at once.

Pages arrive as (number, render) pairs from a reader in its own thread (PDFium must not be called from two
threads, so rendering stays there); at most `threads` pages are recognised at once and at most twice that
many rendered pages wait, so a 300-page scan never holds more than a few page images in memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from indexer.ingest.ocr.base import (
    OcrEngine,
    OcrEngineName,
    OcrError,
    OcrMode,
    OcrSettings,
    OcrUnavailableError,
    Recognized,
)
from indexer.ingest.ocr.cache import OcrCache, page_key

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageFailure:
    """Why a page's text could not be recognised."""

    reason: str


PageResult = Recognized | PageFailure


def load_engine(settings: OcrSettings) -> OcrEngine:
    """The engine `settings` name; OcrUnavailableError when it cannot run here."""
    if settings.engine is OcrEngineName.rapidocr:
        try:
            from indexer.ingest.ocr.rapid import RapidEngine
        except ImportError as exc:
            raise OcrUnavailableError(
                f"RapidOCR is not installed ({exc}); install seekr[rapidocr] or use SEEKR_OCR_ENGINE=tesseract"
            ) from exc
        return RapidEngine()
    try:
        from indexer.ingest.ocr.tesseract import TesseractEngine
    except ImportError as exc:
        raise OcrUnavailableError(f"tesserocr is not installed ({exc})") from exc
    return TesseractEngine(settings.languages)


class Recognizer:
    """Recognises pages as `settings` say, loading the engine on first need."""

    def __init__(self, settings: OcrSettings, load: Callable[[OcrSettings], OcrEngine] = load_engine) -> None:
        self.settings = settings
        self._load = load
        self._engine: OcrEngine | None = None
        self._unavailable: str | None = None
        self._lock = threading.Lock()
        self._cache = OcrCache(settings.cache_dir) if settings.cache_dir is not None else None
        self.recognized = 0  # pages the engine read (not the cache)
        self.cached = 0  # pages found in the cache

    @property
    def mode(self) -> OcrMode:
        """When pages are recognised."""
        return self.settings.mode

    def engine(self) -> OcrEngine | str:
        """The engine, or why it cannot run here (said once per page that needed it)."""
        with self._lock:
            if self._engine is None and self._unavailable is None:
                try:
                    self._engine = self._load(self.settings)
                except OcrUnavailableError as exc:
                    self._unavailable = str(exc)
                    log.warning("OCR unavailable: %s", exc)
            return self._engine if self._engine is not None else f"OCR unavailable: {self._unavailable}"

    def recognize(self, pages: Iterable[tuple[int, Callable[[], Image.Image]]]) -> Iterator[tuple[int, PageResult]]:
        """(number, result) for each page, in order; `pages` are rendered lazily, in the caller's thread."""
        engine = self.engine()
        if isinstance(engine, str):
            for number, _ in pages:
                yield number, PageFailure(engine)
            return
        threads = max(1, self.settings.threads)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="seekr-ocr") as pool:
            pending: list[tuple[int, Future[PageResult]]] = []
            for number, render in pages:
                pending.append((number, pool.submit(self._one, engine, render())))
                while len(pending) >= 2 * threads:
                    number_done, future = pending.pop(0)
                    yield number_done, future.result()
            for number_done, future in pending:
                yield number_done, future.result()

    def remembered(self, image: Image.Image) -> Recognized | None:
        """What the cache holds for `image` as this engine reads it, without reading it (None: not there, no
        cache, or no engine here)."""
        engine = self.engine()
        if isinstance(engine, str) or self._cache is None:
            return None
        return self._cache.get(page_key(engine.identity(), image))

    def _one(self, engine: OcrEngine, image: Image.Image) -> PageResult:
        key = page_key(engine.identity(), image) if self._cache is not None else ""
        if self._cache is not None and (hit := self._cache.get(key)) is not None:
            with self._lock:
                self.cached += 1
            return hit
        try:
            page = engine.recognize(image)
        except OcrError as exc:
            return PageFailure(str(exc))
        with self._lock:
            self.recognized += 1
        if self._cache is not None:
            self._cache.put(key, page)
        return page


_recognizers: dict[OcrSettings, Recognizer] = {}
_recognizers_lock = threading.Lock()


def recognizer_for(settings: OcrSettings) -> Recognizer:
    """One recognizer (one loaded engine) per settings in a process, shared by builds, watches and uploads."""
    with _recognizers_lock:
        found = _recognizers.get(settings)
        # Threads and the cache folder are not part of the settings' equality (they change no text).
        if (
            found is None
            or found.settings.threads != settings.threads
            or found.settings.cache_dir != settings.cache_dir
        ):
            found = _recognizers[settings] = Recognizer(settings)
        return found
