"""Spreadsheets and CSV: cells as people read them, tables split at blank rows with their headers, passages of
whole rows that say their sheet and rows; bad and huge files; and search on both engines."""

from __future__ import annotations

import csv
from datetime import date, datetime, time
from pathlib import Path

import pytest

from indexer.building.builder import build_index
from indexer.ingest.chunking import ChunkingConfig, chunk_document
from indexer.ingest.folder import read_folder
from indexer.ingest.readers import sheets
from indexer.ingest.readers.base import SkipKind
from indexer.ingest.readers.sheets import cell_text
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.settings import BackendName
from indexer.types import Document
from tests.conftest import engine_backend
from tests.fakes import FakeEmbedder

SMALL = ChunkingConfig(40, 8)
CITIES = ["Oslo", "Bergen", "Tromso", "Bodo", "Alta", "Molde", "Narvik", "Harstad", "Larvik", "Moss"]


def make_workbook(path: Path, rows: int = 40) -> Path:
    """Two sheets: 'Stations' with a title row, a blank row, a table of `rows` rows, a blank row and a second
    table with its own header; and 'Notes' with one table of text."""
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "Stations"
    ws.append(["Weather stations of the coast"])
    ws.append([])
    ws.append(["Station", "Opened", "Height m", "Staffed"])
    for i in range(rows):
        ws.append([f"{CITIES[i % 10]} {i}", date(1950 + i, 1 + i % 12, 1), 10 + i * 2.5, i % 2 == 0])
    ws.append([])
    ws.append(["Keeper", "Since"])
    ws.append(["Ada Moss", datetime(2001, 5, 3, 14, 30)])
    ws.append(["Ivo Lund", datetime(2010, 1, 1)])
    notes = book.create_sheet("Notes")
    notes.append(["Topic", "Remark"])
    notes.append(["Gales", "Strongest gusts were measured in the winter of 1993 at the northern cape"])
    notes.append(["Fog", "Visibility below a kilometre on eleven days each summer"])
    book.save(path)
    return path


def test_cells_read_as_people_read_them() -> None:
    assert [cell_text(v) for v in (3.0, 2.5, 1e20, True, None, "  two  words ")] == [
        "3",
        "2.5",
        "1e+20",
        "TRUE",
        "",
        "two words",
    ]
    assert cell_text(datetime(2024, 3, 1)) == "2024-03-01"
    assert cell_text(datetime(2024, 3, 1, 14, 30)) == "2024-03-01 14:30"
    assert cell_text(date(2024, 3, 1)) == "2024-03-01" and cell_text(time(9, 5)) == "09:05"
    assert cell_text(float("nan")) == ""


def _lines(doc: Document) -> list[tuple[str | None, int, str]]:
    """(sheet, row number, the row's line in the document's text), in document order."""
    from bisect import bisect_right

    starts = [offset for offset, _ in doc.sheets]
    out = []
    for offset, number in doc.rows:
        end = doc.text.find("\n", offset)
        sheet = doc.sheets[bisect_right(starts, offset) - 1][1] if doc.sheets else None
        out.append((sheet, number, doc.text[offset : end if end >= 0 else len(doc.text)]))
    return out


def _rows_of(doc: Document, sheet: str | None = None) -> dict[int, str]:
    """Row number -> its line, on one sheet."""
    return {number: line for s, number, line in _lines(doc) if s == sheet}


def test_a_workbook_is_sheets_of_tables_and_passages_are_whole_rows(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_workbook(folder / "coast_stations.xlsx")
    (doc,) = read_folder(folder).documents
    assert doc.title == "coast stations" and doc.metadata["sheets"] == 2
    rows = _rows_of(doc, "Stations")
    assert rows[1] == "Weather stations of the coast" and 2 not in rows  # blank rows are not rows
    assert rows[3] == "Station | Opened | Height m | Staffed"
    assert rows[4] == "Oslo 0 | 1950-01-01 | 10 | TRUE" and rows[5] == "Bergen 1 | 1951-02-01 | 12.5 | FALSE"
    assert rows[46] == "Ada Moss | 2001-05-03 14:30" and rows[47] == "Ivo Lund | 2010-01-01"
    assert [name for _, name in doc.sheets] == ["Stations", "Notes"]
    chunks = chunk_document(doc, FakeEmbedder().token_spans, SMALL)
    every = _lines(doc)
    covered: list[tuple[str | None, int]] = []
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text and c.row_first is not None and c.row_last is not None
        lines = [line for line in c.text.split("\n") if line]
        mine = [(s, n, line) for s, n, line in every if s == c.sheet and c.row_first <= n <= c.row_last]
        # Whole rows, each exactly once, in order: the passage is its sheet's rows first..last and nothing else.
        assert lines == [line for _, _, line in mine]
        covered += [(s, n) for s, n, _ in mine]
        if c.sheet == "Stations" and 4 <= c.row_first <= 43:
            assert c.heading == "Stations \u203a Station | Opened | Height m | Staffed"
        if c.sheet == "Stations" and c.row_first >= 45:
            assert c.heading == "Stations \u203a Keeper | Since"
    assert covered == [(s, n) for s, n, _ in every]  # every row in exactly one passage
    assert {c.sheet for c in chunks} == {"Stations", "Notes"}
    notes = [c for c in chunks if c.sheet == "Notes"]
    assert notes[0].row_first == 1 and notes[-1].row_last == 3


def test_csv_and_tsv_are_sniffed_decoded_and_split_into_tables(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    with (folder / "prices.csv").open("w", encoding="latin-1", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["Café", "Price", "Note"])
        w.writerow(["Crème brûlée", "4,50", "sweet; rich"])
        w.writerow(["Tea"])  # a ragged row
        w.writerow(["Espresso", "2,10", "strong", "extra cell"])
    (folder / "codes.tsv").write_text("Code\tMeaning\nA1\tfirst\n\nB2\tsecond\n", encoding="utf-8")
    docs = {d.doc_id: d for d in read_folder(folder).documents}
    prices = _rows_of(docs["prices.csv"])
    assert docs["prices.csv"].metadata["encoding"] != "utf-8"
    assert prices == {
        1: "Café | Price | Note",
        2: "Crème brûlée | 4,50 | sweet; rich",
        3: "Tea",  # a short row: its missing cells are empty, and trailing empty cells are not written
        4: "Espresso | 2,10 | strong | extra cell",
    }
    codes = docs["codes.tsv"]
    assert _rows_of(codes) == {1: "Code | Meaning", 2: "A1 | first", 4: "B2 | second"}
    # The first table's header is its heading; the second (one row, no header) stands under none.
    assert codes.headings == ((0, "Code | Meaning"), (codes.rows[2][0], ""))


def test_bad_and_huge_tables_are_skipped_or_partly_read_with_their_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "binary.csv").write_bytes(b"a,b\n\x00\x01\x02\n")
    (folder / "broken.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    (folder / "empty.ods").write_bytes(b"")
    (folder / "long.csv").write_text("n,square\n" + "".join(f"{i},{i * i}\n" for i in range(1, 200)), encoding="utf-8")
    monkeypatch.setattr(sheets, "MAX_ROWS", 50)
    report = read_folder(folder)
    kinds = {s.path: s.kind for s in report.skipped}
    assert kinds == {
        "binary.csv": SkipKind.binary,
        "broken.xlsx": SkipKind.corrupt,
        "empty.ods": SkipKind.empty,
        "long.csv#rows 51-": SkipKind.too_large,
    }
    (doc,) = report.documents
    assert doc.doc_id == "long.csv" and doc.rows[-1][1] == 50  # the first 50 rows are indexed


def test_a_question_about_one_row_finds_that_row_with_its_header(tmp_path: Path, engine: BackendName) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_workbook(folder / "coast_stations.xlsx", rows=60)
    backend = engine_backend(engine, tmp_path)
    try:
        build_index(folder, backend, FakeEmbedder(), SMALL)
        snapshot = backend.open()
        hits = Searcher(snapshot, FakeEmbedder()).search("Harstad 47 station height", k=3, mode=Mode.lexical).hits
        top = hits[0]
        assert "Harstad 47" in top.text and top.sheet == "Stations"
        assert top.rows is not None and top.rows[0] <= 51 <= top.rows[1]  # row 4 holds station 0
        assert top.heading == "Stations \u203a Station | Opened | Height m | Staffed"
        records = snapshot.store.chunks(snapshot.store.chunk_ids())
        assert all(r.row_first is not None and r.sheet in ("Stations", "Notes") for r in records.values())
    finally:
        backend.close()


def make_ods(path: Path) -> Path:
    """An OpenDocument spreadsheet with a formula whose value was last calculated as 8 (what a saved file holds)."""
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    table = Table(name="Tides")
    rows: list[list[object]] = [["Harbour", "High water m", "Double"], ["Dunmore", 4, "=formula"]]
    for row in rows:
        tr = TableRow()
        for value in row:
            if value == "=formula":
                cell = TableCell(valuetype="float", value=8, formula="of:=[.B2]*2")
                cell.addElement(P(text="8"))
            elif isinstance(value, int):
                cell = TableCell(valuetype="float", value=value)
                cell.addElement(P(text=str(value)))
            else:
                cell = TableCell(valuetype="string")
                cell.addElement(P(text=str(value)))
            tr.addElement(cell)
        table.addElement(tr)
    doc.spreadsheet.addElement(table)
    doc.save(str(path))
    return path


def test_ods_is_read_and_formulas_give_their_last_calculated_values(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_ods(folder / "tides.ods")
    (doc,) = read_folder(folder).documents
    assert _rows_of(doc, "Tides") == {1: "Harbour | High water m | Double", 2: "Dunmore | 4 | 8"}
    assert doc.headings == ((0, "Tides \u203a Harbour | High water m | Double"),)
