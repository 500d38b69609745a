"""Marks land on the passage's characters: offsets of the indexed text mapped back to a PDF page's text layer,
through page cleaning (running headers and page numbers removed), checked against the text PDFium finds
inside the drawn boxes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pypdfium2 as pdfium
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.viewer.marks import align, merge_boxes, split_lines
from indexer.viewer.render import mark_boxes, render_page
from indexer.viewer.source import SourceFile
from tests.viewer.pdfs import indexed, write_pdf

WORDS = st.sampled_from(["tide", "gauge", "harbour", "keeper", "datum", "silt", "surge", "ferry", "1,204", "12.5%"])
LINE = st.lists(WORDS, min_size=1, max_size=9).map(" ".join)
PAGE = st.lists(LINE, min_size=1, max_size=8)


def _open(path: Path) -> tuple[str, tuple[int, ...], SourceFile]:
    doc, file = indexed(path)
    return doc.text, doc.pages, file


def test_split_lines_keeps_each_lines_start() -> None:
    text = "  one\r\ntwo \rthree\n\n four"
    assert [(text[s : s + len(line)], line) for s, line in split_lines(text)] == [
        ("one", "one"),
        ("two", "two"),
        ("three", "three"),
        ("", ""),
        ("four", "four"),
    ]


def test_align_skips_white_space_and_missing_characters() -> None:
    assert align("a b", "a  b") == [0, 1, 3]
    assert align("a  b", "a b") == [0, 1, None, 2]
    assert align("ab", "a\x02b") == [0, 2]


def test_boxes_on_one_line_merge() -> None:
    assert merge_boxes([(0, 0, 5, 10), (5, 0, 10, 10), (0, 20, 5, 30)]) == [(0, 0, 10, 10), (0, 20, 5, 30)]


@settings(max_examples=25, deadline=None)
@given(pages=st.lists(PAGE, min_size=3, max_size=5), data=st.data())
def test_the_boxes_hold_exactly_the_marked_characters(pages: list[list[str]], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_pdf(Path(tmp) / "doc.pdf", pages)
        text, starts, file = _open(path)
        assert "Harbour Handbook" not in text  # the running header was removed: the mapping must survive it
        number = data.draw(st.integers(1, len(starts)))
        start = starts[number - 1]
        end = starts[number] - 2 if number < len(starts) else len(text)
        first = data.draw(st.integers(start, end - 1))
        last = data.draw(st.integers(first + 1, end))
        boxes = mark_boxes(file, text, number, (first, last))
        assert boxes is not None
        pdf = pdfium.PdfDocument(path)
        textpage = pdf[number - 1].get_textpage()
        inside = "".join(textpage.get_text_bounded(left, bottom, right, top) for left, bottom, right, top in boxes)
        assert "".join(inside.split()) == "".join(text[first:last].split())
        pdf.close()


def test_a_page_renders_at_the_asked_width_with_its_marks(tmp_path: Path) -> None:
    from io import BytesIO

    from PIL import Image

    path = write_pdf(tmp_path / "doc.pdf", [["tide gauge datum"], ["harbour keeper"], ["silt surge ferry"]])
    text, _, file = _open(path)
    at = text.index("harbour keeper")
    image = render_page(file, text, 2, 600, (at, at + len("harbour keeper")))
    assert (image.pages, image.boxes, image.marks) == (3, 1, "text layer")
    assert Image.open(BytesIO(image.png)).size[0] == 600
    plain = render_page(file, text, 2, 600, None)
    assert plain.boxes == 0 and plain.png != image.png


def test_pages_render_from_many_threads_at_once(tmp_path: Path) -> None:
    # PDFium is not thread-safe: the service renders pages in worker threads while builds read PDFs.
    from concurrent.futures import ThreadPoolExecutor

    from indexer.ingest.readers.pdf import read_pdf

    pages = [[f"line {i} of page {n} tide gauge" for i in range(12)] for n in range(8)]
    path = write_pdf(tmp_path / "doc.pdf", pages)
    text, _, file = _open(path)
    alone = [render_page(file, text, n, 300, (0, 40)).png for n in range(1, 9)]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda n: render_page(file, text, n % 8 + 1, 300, (0, 40)).png, range(48)))
        reads = [pool.submit(read_pdf, path) for _ in range(6)]
        assert all(len(r.result().page_lines or []) == 8 for r in reads)
    assert together == [alone[n % 8] for n in range(48)]
