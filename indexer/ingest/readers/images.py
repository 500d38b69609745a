"""Images (`.png`, `.jpg`, `.tif`, ...): documents of their own pages (a multi-page TIFF's frames), read by OCR.

Without OCR (`SEEKR_OCR=off`) an image is skipped as `no_text_layer`. An image of more than `MAX_PIXELS` is
scaled down to it before recognition (text at that size stays legible; memory stays bounded); one Pillow
refuses as a decompression bomb is skipped as too large.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageSequence, UnidentifiedImageError

from indexer.ingest.ocr.base import OcrMode
from indexer.ingest.ocr.recognizer import Recognizer
from indexer.ingest.readers.base import Extracted, SkipKind, Unreadable
from indexer.ingest.readers.recognized import ocr_metadata, record
from indexer.types import readable_name

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")
MAX_PIXELS = 40_000_000
MAX_FRAMES = 2_000  # pages of one multi-page image


def read_image(path: Path, ocr: Recognizer | None = None) -> Extracted:
    """The recognised text of each page (frame) of an image file."""
    if ocr is None or ocr.mode is OcrMode.off:
        raise Unreadable(SkipKind.no_text_layer, "an image: its text needs OCR (SEEKR_OCR=auto or --ocr auto)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # large scans are expected; capped below
            image = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise Unreadable(SkipKind.too_large, f"image too large to decode safely ({exc})") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise Unreadable(SkipKind.corrupt, f"damaged or not an image ({exc})") from exc
    with image:
        frames = min(getattr(image, "n_frames", 1), MAX_FRAMES)
        empty: list[list[str]] = [[] for _ in range(frames)]
        extracted = Extracted([], title=readable_name(path.name) or None, pages=frames, page_lines=empty)

        def pages() -> Iterator[tuple[int, Callable[[], PILImage]]]:
            for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
                if number > frames:
                    return
                yield number, functools.partial(page_image, frame)

        try:
            for number, result in ocr.recognize(pages()):
                record(extracted, number, result)
        except (OSError, Image.DecompressionBombError) as exc:  # a truncated file fails while its pixels load
            raise Unreadable(SkipKind.corrupt, f"damaged image ({exc})") from exc
    if not extracted.ocr:
        reasons = sorted({p.reason for p in extracted.problems})
        raise Unreadable(SkipKind.no_text, f"OCR read no text from the image ({'; '.join(reasons)})")
    extracted.metadata = {"pages": frames} | ocr_metadata(extracted.ocr)
    return extracted


def page_image(frame: PILImage) -> PILImage:
    """The frame, in memory, at most `MAX_PIXELS` (scaled down keeping its proportions)."""
    width, height = frame.size
    page = frame.convert("L")
    if width * height > MAX_PIXELS:
        scale = (MAX_PIXELS / (width * height)) ** 0.5
        page = page.resize((int(width * scale), int(height * scale)), Image.Resampling.LANCZOS)
    return page
