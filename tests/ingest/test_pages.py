"""Page-aware cleaning: running headers and footers, page numbers, navigation pages, page headings; and how a
generated PDF with all of them is indexed and searched in both engines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from indexer.building.builder import build_index
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.folder import read_folder
from indexer.ingest.pages import clean_pages, is_navigation, shape
from indexer.retrieval.options import MAX_DEPTH, MAX_K
from indexer.retrieval.results import Group, Mode, Navigation
from indexer.retrieval.searcher import Searcher
from indexer.storage.settings import BackendName
from indexer.types import NAVIGATION, PassageContext, document_name, matched_text, readable_name
from tests.conftest import engine_backend
from tests.fakes import PASSAGES_ALONE, FakeEmbedder

BODY = [
    "Tide gauges record the height of the sea every six minutes at each harbour station.",
    "The keeper reads the gauge at dawn and writes the value into the station's log book.",
    "Storm surges raise the water far above the predicted tide for a few hours at most.",
    "A datum is the level from which every height on the chart is measured by surveyors.",
    "Silt settles in the stilling well and must be flushed out before each spring tide.",
]

WORDS = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliet"]


def _word(i: int) -> str:
    """A word of its own for each page number (letters only, so that no two pages' lines share a shape)."""
    return "".join(chr(ord("a") + int(d)) for d in str(i)) + "ville"


def _pages(n: int) -> list[list[str]]:
    """`n` pages with two running header lines, body lines, and a footer with the page number."""
    return [
        ["Harbour Handbook", "Chapter notes", *(f"{_word(i)} {line}" for line in BODY), f"Page {i + 1} of {n}"]
        for i in range(n)
    ]


def test_running_headers_footers_and_page_numbers_go_and_body_text_stays() -> None:
    pages = _pages(8)
    pages[3].append("7")  # a page number that does not follow the pages: table data, kept
    for i, lines in enumerate(pages):
        lines.append(str(i + 11))  # the document's own numbering, offset by ten
    cleaned = clean_pages(pages)
    assert cleaned.running == ["Harbour Handbook", "Chapter notes"]
    assert cleaned.removed == {"running_header": 16, "page_number": 16}  # "Page N of 8" and the numbering
    assert all(not any(line.startswith(("Harbour", "Page ")) for line in page) for page in cleaned.pages)
    for before, after in zip(pages, cleaned.pages, strict=True):
        assert after[:5] == before[2:7]  # the body lines, untouched
    assert "7" in cleaned.pages[3]


def test_documents_without_running_lines_lose_nothing() -> None:
    distinct = [[f"{WORDS[n]} opens here.", BODY[n % 5], BODY[(n + 2) % 5] + f" ({n})"] for n in range(6)]
    assert clean_pages(distinct).pages == distinct
    assert clean_pages(distinct).removed == {}
    short = _pages(2)  # two pages: nothing to compare
    assert clean_pages(short).pages == short
    tables = [["Station North 12,400 11,900", "Station South 8,100 7,950", BODY[n % 5]] for n in range(6)]
    assert clean_pages(tables).pages == tables  # a table row repeated on every page is data, not a header
    only_header = [["Harbour Handbook"], *_pages(4)]
    assert clean_pages(only_header).pages[0] == []  # a page whose only text was its header is empty


def test_empty_pages_one_page_and_long_documents_are_cleaned_without_error() -> None:
    pages = _pages(300)
    pages[40] = []  # a scanned page among text pages: no text layer
    pages[41] = ["Harbour Handbook"]  # a page whose only text is its header
    cleaned = clean_pages(pages)
    assert cleaned.pages[40] == [] and cleaned.pages[41] == []
    assert cleaned.removed["running_header"] == 2 * 298 + 1
    assert all(len(page) == 5 for n, page in enumerate(cleaned.pages) if n not in (40, 41))  # the body, whole
    one = [["Harbour Handbook", BODY[0], "Page 1 of 1"]]
    assert clean_pages(one).pages == one and clean_pages([]).pages == []


def test_shape_ignores_numbers_case_and_punctuation() -> None:
    assert shape("Page 3 of 40") == shape("PAGE 12 of 40") == "page # of #"
    assert shape("Acme, Inc. - Annual report") == shape("ACME Inc - Annual Report")


def test_tables_of_contents_and_indexes_are_navigation_and_tables_are_not() -> None:
    contents = ["Contents", *(f"Chapter {n} Tides and gauges {n * 7}" for n in range(1, 9))]
    leaders = ["List of figures", *(f"Figure {n}. A gauge .......... {n + 3}" for n in range(1, 7))]
    index = [
        "Index",
        *(
            f"{word}, {n}, {n + 20}-{n + 22}"
            for n, word in enumerate(["datum", "gauge", "keeper", "silt", "surge", "tide"], 1)
        ),
    ]
    table = ["Station Readings", *(f"Station {n} height {n * 131}, {n * 17}.5 {n * 1000 + 7}" for n in range(1, 9))]
    unordered = ["Staff", *(f"Keeper number {n} age {age}" for n, age in enumerate([58, 33, 61, 29, 45, 52, 38], 1))]
    assert is_navigation(contents) and is_navigation(leaders) and is_navigation(index)
    assert not is_navigation(table)
    assert not is_navigation(unordered)  # small numbers, but not ascending: not a contents page
    assert not is_navigation(BODY)


def test_passage_context_names_the_document_and_its_heading() -> None:
    assert readable_name("reports/Harbour_2018-annual.pdf") == "Harbour 2018 annual"
    assert readable_name("corpus.jsonl:12") == ""
    assert document_name("0001018724-18-000005", "Harbour_2018.pdf") == "Harbour 2018 \u00b7 0001018724-18-000005"
    assert document_name("Harbour 2018", "Harbour_2018.pdf") == "Harbour 2018"
    assert document_name("Tides", "corpus.jsonl:3") == "Tides"
    text = matched_text("Tides", "rows", 50, PassageContext.headings, source="Harbour_2018.pdf", heading="Gauges")
    assert text == "Harbour 2018 \u00b7 Tides\nGauges\nrows"
    assert matched_text("Tides", "rows", 50, PassageContext.document, source="a.pdf", heading="Gauges") == (
        "a \u00b7 Tides\nrows"
    )
    assert matched_text("Tides", "Tides\nrows", 0, PassageContext.document) == "Tides\nrows"  # opens with it
    assert matched_text("Tides", "rows", 0, PassageContext.titled) == "rows"  # the old rule, for old indexes


def make_handbook(path: Path, pages: int = 8, tag: str = "") -> Path:
    """A PDF with a running header and footer on every page, a contents page (2), headed tables (5, 6) and a
    back-of-book index (last page). `tag` opens each body and ledger line (handbooks that differ)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Harbour Handbook")
    pdf.set_auto_page_break(False)
    for page in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("Helvetica", size=9)
        pdf.cell(0, 6, "Harbour Handbook - Operations", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        if page == 2:
            pdf.cell(0, 8, "Contents", new_x="LMARGIN", new_y="NEXT")
            for n, name in enumerate(["Gauges", "Keepers", "Datum", "Tide tables", "Surges", "Silt"], start=3):
                pdf.cell(0, 7, f"{tag}{name} {'.' * 30} {n}", new_x="LMARGIN", new_y="NEXT")
        elif page == pages:
            pdf.cell(0, 8, "Index", new_x="LMARGIN", new_y="NEXT")
            for n, word in enumerate(["anemometer", "barometer", "datum", "gauge", "keeper", "lantern"], start=3):
                pdf.cell(0, 7, f"{tag}{word}, {n}, {n + 1}", new_x="LMARGIN", new_y="NEXT")
        elif page in (5, 6):
            pdf.cell(0, 8, f"Quarterly lantern oil ledger {page}", new_x="LMARGIN", new_y="NEXT")
            for month, litres in zip(["January", "February", "March", "April"], [412, 398, 377, 350], strict=True):
                pdf.cell(0, 7, f"{tag}{month} {litres + page},{page}00 {litres - 40}", new_x="LMARGIN", new_y="NEXT")
        else:
            for line in BODY:
                pdf.multi_cell(0, 6, f"{tag}{WORDS[page]}: {line}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(-20)
        pdf.cell(0, 6, f"Page {page}", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


SMALL = ChunkingConfig(32, 8)


def test_a_handbook_is_cleaned_marked_and_searched_by_page(tmp_path: Path, engine: BackendName) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_handbook(folder / "Harbour_handbook_2019.pdf")
    report = read_folder(folder)
    (doc,) = report.documents
    assert report.removed["running_header"] == 8 and report.removed["page_number"] == 8
    assert doc.metadata["running_headers"] == ["Harbour Handbook - Operations"]
    assert "Harbour Handbook - Operations" not in doc.text and "Page 3" not in doc.text
    assert "Gauges" in doc.text and "lantern, 8, 9" in doc.text  # navigation pages are kept in the text
    assert doc.navigation == (2, 8)
    backend = engine_backend(engine, tmp_path)
    try:
        build_index(folder, backend, FakeEmbedder(), SMALL)
        snapshot = backend.open()
        chunks = snapshot.store.chunks(snapshot.store.chunk_ids())
        for chunk in chunks.values():
            assert doc.text[chunk.start : chunk.end] == chunk.text
            assert (chunk.kind == NAVIGATION) == (chunk.page in (2, 8)), chunk
            if chunk.page in (5, 6) and not chunk.text.startswith("Quarterly"):
                assert chunk.heading == f"Quarterly lantern oil ledger {chunk.page}"
        searcher = Searcher(snapshot, FakeEmbedder())
        question = "lantern keeper gauge datum"
        default = searcher.search(question, k=8, mode=Mode.lexical).hits
        content = [h for h in default if h.kind != NAVIGATION]
        assert default[: len(content)] == content  # navigation passages come after every content passage
        included = searcher.search(question, k=8, mode=Mode.lexical, navigation=Navigation.include).hits
        assert any(h.kind == NAVIGATION for h in included[:3])  # the index names every word of the question
        excluded = searcher.search(question, k=8, mode=Mode.lexical, navigation=Navigation.exclude).hits
        assert excluded and all(h.kind != NAVIGATION for h in excluded)
        for mode in Mode:
            pages = [h.page for h in searcher.search(question, k=8, mode=mode, group=Group.page).hits]
            assert len(pages) == len(set(pages))  # one hit per page
        passages = searcher.search(question, k=20, mode=Mode.lexical, group=Group.passage).hits
        assert len({h.page for h in passages}) < len(passages)  # pages hold several passages each
        ledger = searcher.search("quarterly lantern oil ledger March", k=3, mode=Mode.lexical).hits
        assert ledger[0].page in (5, 6) and ledger[0].kind is None
    finally:
        backend.close()


def test_document_scores_match_brute_force(tmp_path: Path, engine: BackendName) -> None:
    """Each page's score is (own + w * document) / (1 + w), the document's score the mean of its best three pages
    among the first window of candidates; hits stay in that order; pages agree with one longer request."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, tag in (("north", "Fjord "), ("south", "Lagoon gauge "), ("east", "Estuary keeper keeper ")):
        make_handbook(folder / f"{name}.pdf", tag=tag)
    backend = engine_backend(engine, tmp_path)
    try:
        build_index(folder, backend, FakeEmbedder(), SMALL)
        snapshot = backend.open()
        question = "keeper gauge datum lantern oil"
        for mode in Mode:
            alone = Searcher(snapshot, FakeEmbedder(), candidates=1000, defaults=PASSAGES_ALONE)
            units = [  # every unit, a page of MAX_K at a time (the deepest a search reads is MAX_DEPTH)
                h
                for offset in range(0, MAX_DEPTH, MAX_K)
                for h in alone.search(
                    question, k=MAX_K, offset=offset, mode=mode, navigation=Navigation.include, highlight=False
                ).hits
            ]
            assert len(units) < MAX_DEPTH
            best: dict[str, list[float]] = {}
            for h in units:
                best.setdefault(h.doc_id, []).append(h.score)
            for weight in (1.0, 3.0):
                document = {d: sum(s[:3]) / len(s[:3]) for d, s in best.items()}
                expected = sorted(((h.score + weight * document[h.doc_id]) / (1 + weight), h.chunk_id) for h in units)[
                    ::-1
                ]
                searcher = Searcher(snapshot, FakeEmbedder(), candidates=1000)
                got = searcher.search(
                    question, k=10, mode=mode, navigation=Navigation.include, document_weight=weight, highlight=False
                ).hits
                assert [h.score for h in got] == pytest.approx([s for s, _ in expected[:10]], rel=1e-6)
                assert [h.stage_scores["document"] for h in got] == pytest.approx([document[h.doc_id] for h in got])
            default = Searcher(snapshot, FakeEmbedder(), candidates=4)  # few candidates: deep pages widen
            whole = default.search(question, k=9, mode=mode, highlight=False).hits
            pages = [default.search(question, k=3, offset=o, mode=mode, highlight=False).hits for o in (0, 3, 6)]
            assert [(h.chunk_id, h.score) for p in pages for h in p] == [(h.chunk_id, h.score) for h in whole]
    finally:
        backend.close()


def test_a_recurring_line_whose_number_is_not_the_page_number_stays() -> None:
    def pages(first: Callable[[int], str]) -> list[list[str]]:
        return [[first(i), f"{_word(i)} {BODY[i % 5]}", BODY[(i + 1) % 5]] for i in range(5)]

    certificates = clean_pages(pages(lambda i: f"Certificate number {4471 + i * 7}"))
    assert [page[0] for page in certificates.pages] == [f"Certificate number {4471 + i * 7}" for i in range(5)]
    assert certificates.removed == {}
    numbered = clean_pages(pages(lambda i: f"Annual Report - {i + 12}"))  # numbered with the pages: runs
    assert numbered.removed == {"running_header": 5} and all(not p[0].startswith("Annual") for p in numbered.pages)
    same = clean_pages(pages(lambda i: "Annual Report 2018"))  # the same line with a number on every page: runs
    assert same.removed == {"running_header": 5}


def test_a_scanned_certificate_keeps_its_numbers(tmp_path: Path) -> None:
    from bench.samples import make_scan_pdf, render_scan
    from indexer.ingest.documents import read_file
    from indexer.ingest.ocr.base import OcrSettings
    from indexer.ingest.read_options import ReadOptions

    texts = [f"Certificate number {4471 + n * 13}\n\n{BODY[n]} {WORDS[n]}." for n in range(4)]
    path = make_scan_pdf(tmp_path / "certificates.pdf", [render_scan(t, 150) for t in texts], dpi=150)
    ocr = OcrSettings(cache_dir=tmp_path / "ocr", threads=2)
    doc, outcome = next(iter(read_file(path, path.name, ReadOptions(ocr=ocr))))  # type: ignore[misc]
    for n in range(4):
        assert f"Certificate number {4471 + n * 13}" in doc.text
    assert sum(outcome.removed.values()) == 0
