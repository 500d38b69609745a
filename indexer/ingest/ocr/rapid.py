"""RapidOCR (PaddleOCR's PP-OCRv4 models in ONNX, shipped in its wheel): the alternative engine.

Installed with the `rapidocr` extra. Measured slower than Tesseract here and weaker on English (its
recognition model drops word spaces), but it reads Chinese and skewed, noisy photos well; see docs/indexing.md.
"""

from __future__ import annotations

import threading
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer.ingest.ocr.base import OcrError, Recognized

if TYPE_CHECKING:
    from PIL import Image


class RapidEngine:
    """RapidOCR on onnxruntime: detection, then recognition of each detected line."""

    name = "rapidocr"

    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self._ocr: Any = RapidOCR()
        self._lock = threading.Lock()  # one pipeline object; onnxruntime already uses the cores inside a call

    def identity(self) -> str:
        """Engine and version."""
        return f"rapidocr {version('rapidocr-onnxruntime')}"

    def recognize(self, image: Image.Image) -> Recognized:
        """The detected lines, top to bottom, and their mean score."""
        try:
            with self._lock:
                result, _ = self._ocr(np.asarray(image.convert("RGB")))
        except (RuntimeError, ValueError) as exc:
            raise OcrError(f"RapidOCR failed on the page ({exc})") from exc
        lines = [str(r[1]) for r in result or []]
        scores = [float(r[2]) for r in result or []]
        return Recognized(lines, sum(scores) / len(scores) if scores else 0.0)
