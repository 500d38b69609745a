"""Tesseract 5 (LSTM), through tesserocr: the default engine.

Chosen on measurement (`python -m bench formats`, docs/indexing.md): on generated scans it reads clean pages
without error and four to six times faster than RapidOCR, whose models drop English word spaces. Its two weak
spots are handled before it sees a page: salt-and-pepper noise by a 3x3 median filter (character error rate
on a page with 5% of its pixels noisy: 17% without, 0% with; clean pages are unchanged), and a tilted page by
turning it straight (`deskew`: at 1.5 degrees Tesseract dropped one line in ten, straightened none). The
language data comes from the system (Debian's `tesseract-ocr-eng`; more languages are more
`tesseract-ocr-LANG` packages).
"""

from __future__ import annotations

import bisect
import glob
import os
import queue
from pathlib import Path
from typing import TYPE_CHECKING

import tesserocr
from PIL import ImageFilter

from indexer.ingest.ocr.base import OcrError, OcrUnavailableError, Recognized, WordBox
from indexer.ingest.ocr.deskew import turned, unturned

if TYPE_CHECKING:
    from PIL import Image

# Where distributions put the language data, newest first; TESSDATA_PREFIX overrides.
_TESSDATA_GLOBS = ("/usr/share/tesseract-ocr/*/tessdata", "/usr/share/tessdata", "/usr/local/share/tessdata")


def tessdata_dir() -> Path:
    """The folder holding Tesseract's `*.traineddata`; OcrUnavailableError when there is none."""
    candidates = [os.environ["TESSDATA_PREFIX"]] if os.environ.get("TESSDATA_PREFIX") else []
    for pattern in _TESSDATA_GLOBS:
        candidates += sorted(glob.glob(pattern), reverse=True)
    for candidate in candidates:
        if any(Path(candidate).glob("*.traineddata")):
            return Path(candidate)
    raise OcrUnavailableError(
        "no Tesseract language data found (install tesseract-ocr-eng, or set TESSDATA_PREFIX to its folder)"
    )


class TesseractEngine:
    """Tesseract through tesserocr: one engine instance per thread recognising at the time (a pool)."""

    name = "tesseract"

    def __init__(self, languages: str) -> None:
        self._path = tessdata_dir()
        missing = [lang for lang in languages.split("+") if not (self._path / f"{lang}.traineddata").exists()]
        if missing:
            have = sorted(p.stem for p in self._path.glob("*.traineddata") if p.stem != "osd")
            raise OcrUnavailableError(
                f"OCR language(s) {', '.join(missing)} not installed in {self._path} (installed: {', '.join(have)}); "
                f"install tesseract-ocr-{missing[0]} or set SEEKR_OCR_LANGUAGES"
            )
        self._languages = languages
        self._pool: queue.LifoQueue[tesserocr.PyTessBaseAPI] = queue.LifoQueue()
        self._pool.put(self._new())  # fail now, not on the first page

    def _new(self) -> tesserocr.PyTessBaseAPI:
        try:
            return tesserocr.PyTessBaseAPI(path=str(self._path), lang=self._languages)
        except RuntimeError as exc:
            raise OcrUnavailableError(f"Tesseract could not start ({exc})") from exc

    def identity(self) -> str:
        """Engine, version and languages."""
        return f"tesseract {tesserocr.tesseract_version().split()[1]} {self._languages} median3 deskew"

    def recognize(self, image: Image.Image) -> Recognized:
        """The page's lines and Tesseract's mean word confidence."""
        try:
            api = self._pool.get_nowait()
        except queue.Empty:
            api = self._new()
        try:
            page, degrees = turned(image.convert("L").filter(ImageFilter.MedianFilter(3)))
            api.SetImage(page)
            text = api.GetUTF8Text()
            confidence = api.MeanTextConf()
            found = (  # on a blank page Tesseract has no words to iterate (it raises)
                [
                    (r.GetUTF8Text(tesserocr.RIL.WORD), r.BoundingBox(tesserocr.RIL.WORD))
                    for r in tesserocr.iterate_level(api.GetIterator(), tesserocr.RIL.WORD)
                ]
                if text.strip()
                else []
            )
        except RuntimeError as exc:
            raise OcrError(f"Tesseract failed on the page ({exc})") from exc
        finally:
            self._pool.put(api)
        lines = [line.strip() for line in text.splitlines()]
        words = _word_boxes(text, found, degrees, image.size, page.size)
        return Recognized(lines, max(confidence, 0) / 100, words)


def _word_boxes(
    text: str,
    found: list[tuple[str | None, tuple[int, int, int, int] | None]],
    degrees: float,
    original: tuple[int, int],
    turned_size: tuple[int, int],
) -> tuple[WordBox, ...]:
    """Each word Tesseract found, placed in the (stripped) lines of `text` it wrote, with its box on the page as
    it was before being turned straight, as shares of its size. A word not found in the text is left out."""
    starts: list[int] = []  # where each line of `text` starts, and how much white space opens it
    opens: list[int] = []
    position = 0
    for raw in text.split("\n"):
        starts.append(position)
        opens.append(len(raw) - len(raw.lstrip()))
        position += len(raw) + 1
    width, height = original
    out: list[WordBox] = []
    cursor = 0
    for word, box in found:
        if not word or box is None:
            continue
        at = text.find(word, cursor)
        if at < 0:
            continue
        cursor = at + len(word)
        line = bisect.bisect_right(starts, at) - 1
        start = at - starts[line] - opens[line]
        corners = [unturned(x, y, degrees, original, turned_size) for x in box[::2] for y in box[1::2]]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        out.append(
            (line, start, start + len(word), min(xs) / width, min(ys) / height, max(xs) / width, max(ys) / height)
        )
    return tuple(out)
