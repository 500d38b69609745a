"""OCR: scanned PDF pages (and only those) and images are recognised, cached by content, reported when they
cannot be read; passages say their page and OCR confidence; a question answered only by a scan finds its page
on both engines."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image

from bench.formats import character_error_rate
from bench.samples import make_scan_pdf, page_text, render_scan, scan_text
from indexer.building.builder import build_index
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.folder import read_folder
from indexer.ingest.ocr.base import OcrError, OcrMode, OcrSettings, OcrUnavailableError, Recognized
from indexer.ingest.ocr.deskew import skew_angle
from indexer.ingest.ocr.recognizer import Recognizer, load_engine, recognizer_for
from indexer.ingest.read_options import ReadOptions
from indexer.ingest.readers.base import SkipKind, Unreadable
from indexer.ingest.readers.pdf import read_pdf
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.settings import BackendName
from tests.conftest import engine_backend
from tests.fakes import FakeEmbedder


def _settings(tmp_path: Path, **kw: object) -> OcrSettings:
    return OcrSettings(cache_dir=tmp_path / "ocr-cache", threads=2, **kw)  # type: ignore[arg-type]


def make_mixed_pdf(path: Path, dpi: int = 200) -> Path:
    """Page 1 with a text layer, page 2 a scan of `scan_text(2)`, page 3 with a text layer."""
    scan = tmp = path.with_suffix(".png")
    render_scan(scan_text(2), dpi).save(scan, dpi=(dpi, dpi))
    pdf = FPDF(format="letter")
    for page in (1, 2, 3):
        pdf.add_page()
        if page == 2:
            pdf.image(str(scan), x=0, y=0, w=pdf.w, h=pdf.h)
            continue
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, page_text(page).replace("\n\n", "\n"))
    pdf.output(str(path))
    tmp.unlink()
    return path


def test_clean_scans_are_read_almost_without_error_at_300_and_150_dpi() -> None:
    engine = load_engine(OcrSettings())
    text = "\n\n".join(page_text(p) for p in range(1, 4)) + "\n\n" + scan_text(1)
    for dpi in (300, 150):
        page = engine.recognize(render_scan(text, dpi))
        assert character_error_rate("\n".join(page.lines), text) < 0.02, dpi
        assert 0.8 < page.confidence <= 1
    for skew in (-2.5, 1.5, 4):  # noise goes by the median filter, the tilt by straightening the page
        noisy = engine.recognize(render_scan(text, 300, noise=0.03, skew=skew))
        assert character_error_rate("\n".join(noisy.lines), text) < 0.02, skew


def test_the_skew_of_a_page_is_measured_and_a_blank_page_has_none() -> None:
    text = "\n\n".join(page_text(p) for p in range(1, 4))
    for skew in (-4.0, -1.5, 0.0, 2.5):
        assert skew_angle(render_scan(text, 150, skew=skew)) == pytest.approx(skew, abs=0.1)
    assert skew_angle(Image.new("L", (1200, 1600), 255)) == 0.0


def test_only_the_scanned_page_of_a_pdf_is_recognised_and_passages_say_so(tmp_path: Path) -> None:
    pdf = make_mixed_pdf(tmp_path / "mixed.pdf")
    ocr = Recognizer(_settings(tmp_path))
    extracted = read_pdf(pdf, ocr)
    assert ocr.recognized == 1 and set(extracted.ocr) == {2}
    assert extracted.metadata["ocr"] is True and extracted.metadata["ocr_pages"] == 1
    folder = tmp_path / "docs"
    folder.mkdir()
    pdf.rename(folder / "mixed.pdf")
    report = read_folder(folder, ReadOptions(ocr=_settings(tmp_path)))
    (doc,) = report.documents
    assert report.ocr_pages == 1 and [n for n, _ in doc.ocr] == [2]
    assert "boiler certificate, number 4102" in doc.text
    backend = engine_backend(BackendName.local, tmp_path)
    try:
        build_index(folder, backend, FakeEmbedder(), ChunkingConfig(40, 8), read=ReadOptions(ocr=_settings(tmp_path)))
        snapshot = backend.open()
        for chunk in snapshot.store.chunks(snapshot.store.chunk_ids()).values():
            assert doc.text[chunk.start : chunk.end] == chunk.text
            assert (chunk.ocr_confidence is not None) == (chunk.page == 2), chunk
    finally:
        backend.close()


def test_recognised_pages_are_cached_by_content_and_found_again_when_the_file_moves(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_scan_pdf(folder / "a.pdf", [render_scan(scan_text(p), 150) for p in (1, 2)], 150)
    settings = _settings(tmp_path, dpi=150)
    first = Recognizer(settings)
    read_pdf(folder / "a.pdf", first)
    assert (first.recognized, first.cached) == (2, 0)
    (folder / "a.pdf").rename(folder / "moved.pdf")
    again = Recognizer(settings)
    extracted = read_pdf(folder / "moved.pdf", again)
    assert (again.recognized, again.cached) == (0, 2) and set(extracted.ocr) == {1, 2}
    other_dpi = Recognizer(_settings(tmp_path, dpi=200))
    read_pdf(folder / "moved.pdf", other_dpi)
    assert other_dpi.recognized == 2  # another rendering is another page image


def test_images_and_multi_page_tiffs_are_documents_of_their_pages(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    render_scan(scan_text(4), 200).save(folder / "single.png")
    frames = [render_scan(scan_text(p), 200) for p in (5, 6)]
    frames[0].save(folder / "pair.tiff", save_all=True, append_images=frames[1:], compression="tiff_lzw")
    Image.new("L", (600, 400), 255).save(folder / "blank.jpg")
    report = read_folder(folder, ReadOptions(ocr=_settings(tmp_path)))
    docs = {d.doc_id: d for d in report.documents}
    assert set(docs) == {"single.png", "pair.tiff"}
    assert len(docs["pair.tiff"].pages) == 2 and [n for n, _ in docs["pair.tiff"].ocr] == [1, 2]
    pair = docs["pair.tiff"]
    assert "number 4106" in pair.text[pair.pages[1] :] and "number 4106" not in pair.text[: pair.pages[1]]
    assert docs["single.png"].metadata["ocr_confidence"] > 0.8
    skipped = {s.path: s for s in report.skipped}
    assert skipped["blank.jpg"].kind is SkipKind.no_text and "found no text" in skipped["blank.jpg"].reason


def test_without_ocr_scans_and_images_are_skipped_as_needing_it(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_scan_pdf(folder / "scan.pdf", [render_scan(scan_text(1), 150)], 150)
    render_scan(scan_text(2), 150).save(folder / "photo.png")
    report = read_folder(folder, ReadOptions(ocr=_settings(tmp_path, mode=OcrMode.off)))
    assert not report.documents
    assert {s.path: s.kind for s in report.skipped} == {
        "scan.pdf": SkipKind.no_text_layer,
        "photo.png": SkipKind.no_text_layer,
    }
    assert all("OCR" in s.reason for s in report.skipped)


def test_force_recognises_pages_that_have_text(tmp_path: Path) -> None:
    pdf = make_mixed_pdf(tmp_path / "mixed.pdf")
    ocr = Recognizer(_settings(tmp_path, mode=OcrMode.force))
    extracted = read_pdf(pdf, ocr)
    assert set(extracted.ocr) == {1, 2, 3} and ocr.recognized == 3


class _FailsOnSome:
    """An engine that cannot read pages whose text holds `marker` (as a real engine fails on a bad page)."""

    name = "failing"

    def __init__(self, marker: str) -> None:
        self._real = load_engine(OcrSettings())
        self._marker = marker
        self.threads: set[int] = set()

    def identity(self) -> str:
        return "failing-test-engine"

    def recognize(self, image: Image.Image) -> Recognized:
        self.threads.add(threading.get_ident())
        page = self._real.recognize(image)
        if any(self._marker in line for line in page.lines):
            raise OcrError("the engine crashed on this page")
        return page


def test_a_page_the_engine_fails_on_is_reported_and_the_rest_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_scan_pdf(folder / "four.pdf", [render_scan(scan_text(p), 150) for p in (1, 2, 3, 4)], 150)
    engine = _FailsOnSome("4103")
    ocr = Recognizer(_settings(tmp_path, dpi=150), load=lambda s: engine)
    extracted = read_pdf(folder / "four.pdf", ocr)
    assert set(extracted.ocr) == {1, 2, 4}
    (problem,) = extracted.problems
    assert problem.where == "page 3" and "crashed" in problem.reason
    assert len(engine.threads) == 2  # pages were recognised in parallel


def test_a_missing_engine_or_language_is_reported_per_file_and_nothing_else_is_lost(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_scan_pdf(folder / "scan.pdf", [render_scan(scan_text(1), 150)], 150)
    (folder / "notes.txt").write_text("Notes about the harbour crane.", encoding="utf-8")
    report = read_folder(folder, ReadOptions(ocr=_settings(tmp_path, languages="xyz")))
    assert [d.doc_id for d in report.documents] == ["notes.txt"]
    (skipped,) = report.skipped
    assert skipped.path == "scan.pdf" and "xyz" in skipped.reason and "not installed" in skipped.reason

    def missing(settings: OcrSettings) -> Recognized:
        raise OcrUnavailableError("tesserocr is not installed")

    ocr = Recognizer(_settings(tmp_path), load=missing)  # type: ignore[arg-type]
    with pytest.raises(Unreadable, match="OCR read none \\(OCR unavailable: tesserocr is not installed"):
        read_pdf(folder / "scan.pdf", ocr)


def test_one_recognizer_per_settings_in_a_process(tmp_path: Path) -> None:
    a = recognizer_for(_settings(tmp_path))
    assert recognizer_for(_settings(tmp_path)) is a
    assert recognizer_for(_settings(tmp_path, dpi=150)) is not a


def test_a_question_only_a_scan_answers_finds_its_page(tmp_path: Path, engine: BackendName) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_scan_pdf(folder / "certificates.pdf", [render_scan(scan_text(p), 200) for p in (1, 2, 3)], 200)
    (folder / "guide.txt").write_text(page_text(1) + "\n\n" + page_text(2), encoding="utf-8")
    backend = engine_backend(engine, tmp_path)
    try:
        read = ReadOptions(ocr=_settings(tmp_path, dpi=200))
        report = build_index(folder, backend, FakeEmbedder(), ChunkingConfig(40, 8), read=read)
        assert report.ocr_pages == 3
        snapshot = backend.open()
        assert snapshot.manifest.source is not None and snapshot.manifest.source.ocr_pages == 3
        assert snapshot.manifest.chunking.ocr == "auto tesseract eng 200dpi"
        hits = Searcher(snapshot, FakeEmbedder()).search("working pressure of 12 bar", k=3, mode=Mode.lexical).hits
        top = hits[0]
        assert top.doc_id == "certificates.pdf" and top.page == 2 and "12 bar" in top.text
        assert top.ocr_confidence is not None and top.ocr_confidence > 0.8
    finally:
        backend.close()


class _Counting:
    """An engine that reads nothing, for properties of the pipeline around it (how many pages wait)."""

    name = "counting"

    def identity(self) -> str:
        return "counting-test-engine"

    def recognize(self, image: Image.Image) -> Recognized:
        return Recognized([f"page of width {image.width}"], 1.0)


def test_a_long_scan_keeps_only_a_few_rendered_pages_in_memory(tmp_path: Path) -> None:
    threads = 2
    ocr = Recognizer(OcrSettings(cache_dir=None, threads=threads), load=lambda s: _Counting())
    consumed = 0
    waiting: list[int] = []

    def render(number: int) -> Image.Image:
        waiting.append(number - 1 - consumed)  # pages rendered and not yet handed back
        return Image.new("L", (100 + number, 100), 255)

    pages = ((n, lambda n=n: render(n)) for n in range(1, 301))
    for number, result in ocr.recognize(pages):
        consumed += 1
        assert isinstance(result, Recognized) and result.lines == [f"page of width {100 + number}"]
    assert consumed == 300 and max(waiting) <= 2 * threads


def test_a_huge_image_is_scaled_down_before_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from indexer.ingest.readers import images

    monkeypatch.setattr(images, "MAX_PIXELS", 1_000_000)
    render_scan(scan_text(8), 300).save(tmp_path / "poster.png")  # 2550 x 3300: 8.4 megapixels
    seen: list[tuple[int, int]] = []

    class Recording(_Counting):
        def recognize(self, image: Image.Image) -> Recognized:
            seen.append(image.size)
            return super().recognize(image)

    extracted = images.read_image(
        tmp_path / "poster.png", Recognizer(OcrSettings(cache_dir=None), load=lambda s: Recording())
    )
    (size,) = seen
    assert size[0] * size[1] <= 1_000_000 and abs(size[0] / size[1] - 2550 / 3300) < 0.01
    assert extracted.ocr == {1: 1.0}
