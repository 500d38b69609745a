"""Slow tier: the search page's viewer in headless Debian Chromium against a real server: thumbnails of paged
hits, the page with the passage boxed over its words, paging by buttons and arrows, the original at its page,
shareable links, and the text and table views of documents without page images."""

from __future__ import annotations

import base64
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

import pypdfium2 as pdfium
import pytest
from PIL import Image

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

from bench.samples import make_scan_pdf, render_scan
from indexer.building.builder import build_index
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.ocr.base import OcrSettings
from indexer.ingest.read_options import ReadOptions
from tests.conftest import start_fake_server
from tests.fakes import FakeEmbedder
from tests.service.test_browser import ARGS, CHROMIUM
from tests.viewer.pdfs import write_pdf

pytestmark = pytest.mark.slow

PAGES = [
    ["tide gauge datum keeper", "the gauge is read at noon"],
    ["harbour keeper logbook entries", "each entry names the vessel"],
    ["silt surge ferry schedule", "ferries leave on the hour"],
]
SCANS = [
    "Harbour survey, sheet one\n\nThe tide gauge at the north pier was read every hour by the keeper.",
    "Harbour survey, sheet two\n\nThe inspector measured the silt in the channel and found it shallow.",
]
FILLER = [f"Paragraph {i} says something about apples, pears and the weather." for i in range(80)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    import docx

    root = tmp_path_factory.mktemp("viewer")
    folder = root / "docs"
    folder.mkdir()
    write_pdf(folder / "handbook.pdf", PAGES)
    document = docx.Document()
    for line in FILLER[:60]:
        document.add_paragraph(line)
    document.add_paragraph("The orchard ladder is kept in the quince shed.")
    for line in FILLER[60:]:
        document.add_paragraph(line)
    document.save(str(folder / "orchard.docx"))
    rows = ["Station,Opened,Height m"] + [f"Station {i},{1900 + i},{10 + i}" for i in range(40)]
    rows[25] = "Gannet Point,1924,31"
    (folder / "stations.csv").write_text("\n".join(rows) + "\n")
    scans = [render_scan(text, 200) for text in SCANS]
    make_scan_pdf(folder / "survey.pdf", scans, dpi=200)
    ocr = OcrSettings(cache_dir=root / "ocr", dpi=200)
    build_index(folder, root / "index", FakeEmbedder(), ChunkingConfig(), read=ReadOptions(ocr=ocr))
    proc, base = start_fake_server(
        root / "index",
        root / "server.log",
        SEEKR_PAGE_CACHE=str(root / "pages"),
        SEEKR_OCR_CACHE=str(root / "ocr"),
        SEEKR_OCR_DPI="200",
    )
    try:
        yield base, folder
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _boxes_in_pixels(path: Path, page: int, text: str, width: int) -> list[tuple[float, float, float, float]]:
    """The box of PDFium's character boxes of `text` (one line) on `page`, in pixels of an image `width` wide."""
    pdf = pdfium.PdfDocument(path)
    try:
        p = pdf[page - 1]
        scale = width / p.get_width()
        left, _, _, top = p.get_bbox()
        textpage = p.get_textpage()
        found = textpage.search(text).get_next()
        assert found is not None
        start, count = found
        # Spaces PDFium adds between words have no box of their own.
        boxes = [b for i in range(start, start + count) if (b := textpage.get_charbox(i))[3] - b[1] > 1]
        # One line of text: the union of its characters' boxes.
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        return [((x0 - left) * scale, (top - y1) * scale, (x1 - left) * scale, (top - y0) * scale)]
    finally:
        pdf.close()


def _ink_lines(image: Image.Image) -> list[tuple[int, int]]:
    """The (top, bottom) pixel rows of each line of dark ink on the page, top first."""
    gray = image.convert("L")
    width = gray.width
    raw = gray.tobytes()
    inked = [any(v < 100 for v in raw[y * width : (y + 1) * width]) for y in range(gray.height)]
    out: list[tuple[int, int]] = []
    for y, ink in enumerate(inked):
        if ink and (not out or out[-1][1] < y - 1):
            out.append((y, y + 1))
        elif ink:
            out[-1] = (out[-1][0], y + 1)
    return out


def _tinted(image: Image.Image, box: tuple[float, float, float, float]) -> float:
    """The share of a box's pixels tinted yellow (the mark over white paper: red high, blue low)."""
    region = image.convert("RGB").crop(tuple(round(v) for v in box))  # type: ignore[arg-type]
    raw = region.tobytes()
    light = [(raw[i], raw[i + 2]) for i in range(0, len(raw), 3) if raw[i] > 200]  # paper, not ink
    return sum(1 for r, b in light if b < 215 and r - b > 40) / max(1, len(light))


@contextmanager
def _browser() -> Iterator[tuple[Browser, Page]]:
    """Headless Chromium and a page in it, closed after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser, browser.new_page(viewport={"width": 1100, "height": 900})
        finally:
            browser.close()


def _viewer_image(page: Page) -> Image.Image:
    """The page image the viewer shows, as the browser has it."""
    page.wait_for_function("document.getElementById('viewer-img').naturalWidth > 0", timeout=10_000)
    data = page.evaluate(
        """async () => {
            const blob = await (await fetch(document.getElementById('viewer-img').src)).blob();
            const bytes = new Uint8Array(await blob.arrayBuffer());
            let s = ''; for (const b of bytes) s += String.fromCharCode(b);
            return btoa(s);
        }"""
    )
    return Image.open(BytesIO(base64.b64decode(data)))


def test_thumbnails_the_marked_page_paging_and_links(server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    base, folder = server
    with _browser() as (browser, page):
        page.goto(base + "/?q=harbour+keeper+logbook&mode=lexical")
        first = page.locator("li.result").first
        expect(first).to_contain_text("handbook.pdf", timeout=30_000)
        thumb = first.locator("img.thumb")
        expect(thumb).to_be_visible(timeout=10_000)
        page.wait_for_function("document.querySelector('img.thumb').naturalWidth > 0", timeout=10_000)

        thumb.click()
        viewer = page.locator("#viewer")
        expect(viewer).to_be_visible()
        expect(page.locator("#viewer-page")).to_have_text("page 2 of 3", timeout=10_000)
        image = _viewer_image(page)
        assert (
            page.locator("#viewer-source")
            .get_attribute("href", timeout=5_000)
            .endswith(  # type: ignore[union-attr]
                "/documents/handbook.pdf/source#page=2"
            )
        )
        assert "open=handbook.pdf" in page.url and "page=2" in page.url
        # The boxes drawn lie over the passage's words: PDFium's boxes of its characters are tinted, and
        # a line the passage does not hold is not.
        page.screenshot(path=str(Path("test-artifacts") / "viewer-page.png"))
        for box in _boxes_in_pixels(folder / "handbook.pdf", 2, "harbour keeper logbook entries", image.width):
            assert _tinted(image, box) > 0.3, box
        for box in _boxes_in_pixels(folder / "handbook.pdf", 2, "Harbour Handbook", image.width):
            assert _tinted(image, box) < 0.05, box  # the running header: not the passage
        # And without PDFium's geometry: the page's lines of ink, found in the image itself, are tinted
        # for the passage's two lines and not for the header above them.
        lines = _ink_lines(image)
        assert len(lines) >= 3, lines
        header, *passage = lines[:3]
        assert _tinted(image, (0, header[0], image.width, header[1])) < 0.01
        for top, bottom in passage:
            assert _tinted(image, (0, top, image.width // 2, bottom)) > 0.3, (top, bottom)

        page.keyboard.press("ArrowRight")
        expect(page.locator("#viewer-page")).to_have_text("page 3 of 3", timeout=10_000)
        expect(page.locator("#viewer-next")).to_be_disabled()
        assert page.locator("#viewer-source").get_attribute("href").endswith("#page=3")  # type: ignore[union-attr]
        page.locator("#viewer-prev").click()
        expect(page.locator("#viewer-page")).to_have_text("page 2 of 3", timeout=10_000)
        page.keyboard.press("Escape")
        expect(viewer).to_be_hidden()
        page.wait_for_function("!location.search.includes('open=')", timeout=5_000)

        # A shared link restores the same view.
        linked = browser.new_page()
        linked.goto(base + "/?q=harbour+keeper&collection=default&mode=lexical&open=handbook.pdf&page=3")
        expect(linked.locator("#viewer-page")).to_have_text("page 3 of 3", timeout=30_000)
        linked.close()


def test_text_and_table_views(server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    base, _ = server
    with _browser() as (_, page):
        page.goto(base + "/?q=orchard+ladder+quince+shed&mode=lexical")
        hit = page.locator("li.result", has_text="orchard.docx").first
        expect(hit).to_be_visible(timeout=30_000)
        assert hit.locator("img.thumb").count() == 0  # no page images: no thumbnail
        hit.locator("button.open").click()
        mark = page.locator("#viewer-mark")
        expect(mark).to_contain_text("quince shed", timeout=10_000)
        expect(mark).to_be_in_viewport()
        expect(page.locator("#viewer-img")).to_be_hidden()
        page.keyboard.press("Escape")

        page.fill("#q", "Gannet Point")
        page.press("#q", "Enter")
        hit = page.locator("li.result", has_text="stations.csv").first
        expect(hit).to_be_visible(timeout=30_000)
        hit.locator("button.open").click()
        table = page.locator("#viewer-table")
        expect(table).to_be_visible(timeout=10_000)
        expect(table.locator("th")).to_have_text(["row", "Station", "Opened", "Height m"])
        expect(table.locator("td", has_text="Gannet Point")).to_have_count(1)
        page.screenshot(path=str(Path("test-artifacts") / "viewer-table.png"))


def test_a_scanned_page_is_marked_where_ocr_read_the_words(server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    base, _ = server
    with _browser() as (_, page):
        page.goto(base + "/?q=inspector+measured+the+silt&mode=lexical")
        hit = page.locator("li.result", has_text="survey.pdf").first
        expect(hit).to_be_visible(timeout=30_000)
        expect(hit).to_contain_text("OCR")
        hit.locator("img.thumb").click()
        expect(page.locator("#viewer-page")).to_have_text("page 2 of 2", timeout=10_000)
        image = _viewer_image(page)
        lines = _ink_lines(image)
        assert len(lines) >= 2, lines
        # The passage is the whole sheet: both its lines are marked, and the paper below them is not.
        for top, bottom in lines[:2]:
            assert _tinted(image, (0, top, image.width, bottom)) > 0.1, (top, bottom)
        below = lines[1][1] + 40
        assert _tinted(image, (0, below, image.width, below + 200)) < 0.01
        page.screenshot(path=str(Path("test-artifacts") / "viewer-scan.png"))
