"""Marks on scans: the words OCR found, kept with the page in the OCR cache, boxed where they are on the page
(a skewed scan too), for a scanned PDF page and an image file; read again from the marked region as a check."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from bench.samples import make_scan_pdf, render_scan
from indexer.ingest.ocr.base import OcrSettings
from indexer.ingest.ocr.recognizer import Recognizer
from indexer.viewer.render import render_page
from indexer.viewer.source import SourceFile
from tests.viewer.pdfs import indexed

TEXTS = [
    "Harbour survey, sheet one\n\nThe tide gauge at the north pier was read every hour by the keeper.",
    "Harbour survey, sheet two\n\nThe inspector measured the silt in the channel and found it shallow.",
]
PHRASE = "inspector measured the silt"


def _read(path: Path, settings: OcrSettings) -> tuple[str, SourceFile]:
    doc, file = indexed(path, settings)
    return doc.text, file


def _marked_region(png: bytes, plain: bytes) -> Image.Image:
    """The part of the plain page under the marks (where the marked image differs from the plain one)."""
    marked, unmarked = Image.open(BytesIO(png)).convert("RGB"), Image.open(BytesIO(plain)).convert("RGB")
    from PIL import ImageChops

    box = ImageChops.difference(marked, unmarked).getbbox()
    assert box is not None, "nothing marked"
    return unmarked.crop(box)


@pytest.mark.parametrize(("kind", "skew"), [("pdf", 0.0), ("png", 2.0)])
def test_the_marked_words_are_where_ocr_read_them(tmp_path: Path, kind: str, skew: float) -> None:
    settings = OcrSettings(cache_dir=tmp_path / "ocr", threads=2)
    pages = [render_scan(text, 200, skew=skew) for text in TEXTS]
    if kind == "pdf":
        path = make_scan_pdf(tmp_path / "survey.pdf", pages, dpi=200)
        settings = OcrSettings(cache_dir=tmp_path / "ocr", threads=2, dpi=200)
        number = 2
    else:
        path = tmp_path / "survey.png"
        pages[1].save(path)
        number = 1
    text, file = _read(path, settings)
    at = text.index(PHRASE)
    ocr = Recognizer(settings)
    image = render_page(file, text, number, 1200, (at, at + len(PHRASE)), ocr)
    assert image.marks == "OCR words" and image.boxes == 1  # one line
    plain = render_page(file, text, number, 1200, None, ocr)
    region = _marked_region(image.png, plain.png)
    engine = ocr.engine()
    assert not isinstance(engine, str)
    read = " ".join(engine.recognize(region.resize((region.width * 2, region.height * 2))).lines)
    assert PHRASE in " ".join(read.split()), read  # the region under the marks reads as the marked words
    gray = region.convert("L")
    raw, w = gray.tobytes(), gray.width
    inked = [y for y in range(gray.height) if min(raw[y * w : (y + 1) * w]) < 128]
    assert inked and inked[-1] - inked[0] + 1 >= 0.6 * gray.height  # and the marks hug them: no more


def test_pages_recognised_before_words_were_kept_say_so(tmp_path: Path) -> None:
    settings = OcrSettings(cache_dir=tmp_path / "ocr", threads=2)
    path = tmp_path / "survey.png"
    render_scan(TEXTS[1], 200).save(path)
    text, file = _read(path, settings)
    for entry in (tmp_path / "ocr").rglob("*.json"):  # as an earlier version wrote them
        data = json.loads(entry.read_text())
        entry.write_text(json.dumps({"lines": data["lines"], "confidence": data["confidence"]}))
    image = render_page(file, text, 1, 600, (0, 10), Recognizer(settings))
    assert image.boxes == 0 and "no word boxes were kept" in image.marks
    without = render_page(file, text, 1, 600, (0, 10), None)
    assert without.boxes == 0 and without.marks.startswith("none")
