"""Spreadsheets and delimited text: `.xlsx`/`.xlsm`/`.xls`/`.ods` with python-calamine, `.csv`/`.tsv` with `csv`.

Each row becomes one line of text, its cells as people read them (numbers without a trailing `.0`, dates as
ISO dates, booleans as TRUE/FALSE, formulas as their cached values) joined by ` | `. A sheet's blank rows
separate its tables; a table's first row is its header when it has words and no numbers, and the header (with
the sheet's name) is the heading every passage of that table is matched with, so a passage of rows 120-134
still knows its columns. Rows keep the numbers the file gives them, so a hit says "Sheet1, rows 120-134".

calamine (Rust) was chosen over openpyxl on measurement (`python -m bench formats`): it reads the same cached
values several times faster and reads `.ods` and legacy `.xls` as well. CSV files are read row by row; their
encoding is detected (charset-normalizer) and their dialect from the first lines (CleverCSV).
"""

from __future__ import annotations

import codecs
import csv
import math
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import clevercsv
import python_calamine
from charset_normalizer import from_bytes

from indexer.ingest.readers.base import Block, Extracted, Problem, SkipKind, Unreadable
from indexer.types import readable_name

MAX_ROWS = 250_000  # rows read from one file; past it the rest is reported, not read (memory stays bounded)
MAX_CELL_CHARS = 1_000  # a cell longer than this is cut (a row is one passage's worth of text at most)
_SAMPLE = 64 * 1024  # bytes read to detect a CSV file's encoding and delimiter
_DELIMITERS = ",;\t|"
SEPARATOR = " | "

Cell = object


def cell_text(value: Cell) -> str:
    """A cell as people read it."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.15g}"
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if isinstance(value, timedelta):
        return str(value)
    return " ".join(str(value).split())[:MAX_CELL_CHARS]


def _is_header(cells: list[str]) -> bool:
    """Whether a table's first row names its columns: every filled cell has a letter, none is a number."""
    filled = [c for c in cells if c]
    return (
        len(filled) >= 1
        and all(any(ch.isalpha() for ch in c) for c in filled)
        and not any(_is_number(c) for c in filled)
    )


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def table_blocks(rows: Iterable[tuple[int, list[str]]], sheet: str | None) -> Iterator[Block]:
    """Blocks of one sheet's (row number, cells) rows: one per non-blank row, each table's first row a heading.

    A table is a run of non-blank rows. Its first row starts a section: captioned with the sheet and that row
    when it is a header, with the sheet alone when it is data.
    """
    table: list[tuple[int, list[str]]] = []

    def flush() -> Iterator[Block]:
        if not table:
            return
        first = table[0][1]
        header = SEPARATOR.join(first) if len(table) > 1 and _is_header(first) else None
        caption = " \u203a ".join(part for part in (sheet, header) if part)  # "": no heading, not the first row
        for i, (number, cells) in enumerate(table):
            yield Block(SEPARATOR.join(cells), heading=i == 0, caption=caption, sheet=sheet, row=number)
        table.clear()

    for number, raw in rows:
        cells = list(raw)
        while cells and not cells[-1]:
            cells.pop()  # empty trailing columns
        if not cells:
            yield from flush()
        else:
            table.append((number, cells))
    yield from flush()


def _limited(
    rows: Iterable[tuple[int, list[str]]], problems: list[Problem], where: str
) -> Iterator[tuple[int, list[str]]]:
    """`rows` up to `MAX_ROWS`; past it, a problem saying what was left out."""
    for count, row in enumerate(rows, start=1):
        if count > MAX_ROWS:
            problems.append(
                Problem(
                    f"{where}rows {row[0]}-",
                    f"only the first {MAX_ROWS:,} rows are read; split the file to index the rest",
                    SkipKind.too_large,
                )
            )
            return
        yield row


def read_workbook(path: Path) -> Extracted:
    """Every sheet of a workbook (`.xlsx`, `.xlsm`, `.xls`, `.ods`), its tables and rows."""
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError as exc:
        raise Unreadable(SkipKind.encrypted, "encrypted workbook (needs a password); save a copy without one") from exc
    except (python_calamine.CalamineError, python_calamine.ZipError, python_calamine.XmlError) as exc:
        raise Unreadable(SkipKind.corrupt, f"damaged or not a workbook ({exc})") from exc
    blocks: list[Block] = []
    problems: list[Problem] = []
    try:
        for name in book.sheet_names:
            try:
                sheet = book.get_sheet_by_name(name)
                rows = ((n, [cell_text(v) for v in row]) for n, row in enumerate(sheet.iter_rows(), start=1))
                blocks.extend(table_blocks(_limited(rows, problems, f"sheet {name}, "), name))
            except (python_calamine.CalamineError, python_calamine.XmlError) as exc:
                problems.append(Problem(f"sheet {name}", f"cannot be read ({exc})", SkipKind.corrupt))
    finally:
        book.close()
    sheets = len(book.sheet_names)
    return Extracted(
        blocks,
        title=readable_name(path.name) or None,
        metadata={"sheets": sheets, "rows": len(blocks)},
        problems=problems,
    )


def _encoding(sample: bytes) -> str:
    """The encoding of a text file's first bytes: UTF-8 (with or without BOM) when it decodes, else detected."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the sample's end
            matches = list(from_bytes(sample))
            if not matches:
                raise Unreadable(SkipKind.binary, "not text in any encoding that could be detected") from exc
            best = matches[0]
            # A short sample often fits several single-byte encodings equally well; the tie goes to Windows-1252,
            # what spreadsheet programs in Western locales write.
            tied = [m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
            return "cp1252" if "cp1252" in tied else best.encoding
    return "utf-8"


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    """The CSV dialect of a file's first lines, by CleverCSV (stdlib's Sniffer takes the commas of decimal
    numbers for the delimiter of a semicolon-separated file); commas when it cannot tell."""
    whole_lines = sample[: sample.rfind("\n") + 1] or sample
    try:
        found = clevercsv.Sniffer().sniff(whole_lines, delimiters=list(_DELIMITERS))
    except clevercsv.Error:
        return csv.excel
    if found is None or not found.delimiter:
        return csv.excel  # one column: nothing to split
    dialect: csv.Dialect = found.to_csv_dialect()
    return dialect


def read_delimited(path: Path) -> Extracted:
    """A `.csv` or `.tsv` file, read row by row: encoding detected, delimiter sniffed (tab for `.tsv`)."""
    with path.open("rb") as fh:
        sample = fh.read(_SAMPLE)
    if b"\x00" in sample:
        raise Unreadable(SkipKind.binary, "binary file (contains NUL bytes), not delimited text")
    encoding = _encoding(sample)
    text_sample = sample.decode(encoding, errors="replace")
    dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else _dialect(text_sample)
    problems: list[Problem] = []
    csv.field_size_limit(MAX_CELL_CHARS * 100)
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, dialect)
        try:
            rows = ((n, [cell_text(c) for c in row]) for n, row in enumerate(reader, start=1))
            blocks = list(table_blocks(_limited(rows, problems, ""), None))
        except csv.Error as exc:
            raise Unreadable(SkipKind.corrupt, f"not readable as delimited text ({exc})") from exc
    return Extracted(
        blocks,
        title=readable_name(path.name) or None,
        metadata={"rows": len(blocks), "encoding": encoding},
        problems=problems,
    )
