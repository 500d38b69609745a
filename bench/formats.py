"""`python -m bench formats`: how fast each format is read, beside how fast the model embeds what it yields.

Generates a corpus (by default 100 PDFs of 10 pages, 100 decks of 10 slides, and 100 files of each other
format), reads every file with the project's readers, and reports pages (or files) per second and characters
per second for each format. For PDF it also reads the same files with pypdf, the other maintained pure-Python
choice, and scores both extractors' text against the words each page was written with (word recall, and
words run together or split apart). Then it embeds the passages of the PDF corpus with the bundled model, so
the two rates say which one bounds a build.

Scans and tables: it renders scanned pages from known text (Pillow: clean at 150 and 300 dpi, noisy and
skewed, two columns) and reports each OCR engine's pages per second on one core and character error rate,
and the whole OCR path's pages per second (render, recognise in parallel) on a scanned PDF; it reads a
generated workbook with calamine (the reader) and openpyxl (the other choice) and a CSV file, in rows per
second; and it builds an index of a `--csv-rows` CSV file and of an empty folder in two fresh processes and
reports the peak memory of each.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psutil

from bench.samples import (
    make_docx,
    make_eml,
    make_epub,
    make_odt,
    make_pdf,
    make_pptx,
    make_rtf,
    make_scan_pdf,
    page_text,
    render_scan,
    scan_text,
)
from indexer.building.builder import build_index
from indexer.embed.runtime import load_embedder
from indexer.ingest.chunking import ChunkingConfig, chunk_text
from indexer.ingest.documents import read_file
from indexer.ingest.ocr.base import OcrEngineName, OcrSettings
from indexer.ingest.ocr.recognizer import Recognizer
from indexer.ingest.readers.pdf import read_pdf
from indexer.ingest.readers.sheets import cell_text, read_delimited, read_workbook
from indexer.types import Document

_WORD = re.compile(r"[a-z0-9]+")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench formats", description=__doc__)
    p.add_argument("--files", type=int, default=100, help="files of each format (default: %(default)s)")
    p.add_argument("--pages", type=int, default=10, help="pages per PDF and slides per deck (default: %(default)s)")
    p.add_argument("--json", type=Path, default=Path("bench-formats.json"), help="where to write the figures")
    p.add_argument("--ocr-pages", type=int, default=4, help="scanned pages per OCR measurement (default: %(default)s)")
    p.add_argument(
        "--sheet-rows", type=int, default=20_000, help="rows of the generated workbook (default: %(default)s)"
    )
    p.add_argument("--csv-rows", type=int, default=100_000, help="rows of the CSV file built (default: %(default)s)")
    p.add_argument("--only", choices=["all", "scans-and-tables"], default="all", help="what to measure")
    p.add_argument("--build-rss", type=Path, metavar="FOLDER", help=argparse.SUPPRESS)  # worker: build, print RSS
    return p


SCAN_CONDITIONS: dict[str, dict[str, Any]] = {
    "clean 300 dpi": {"dpi": 300},
    "clean 150 dpi": {"dpi": 150},
    "noisy, skewed 300 dpi": {"dpi": 300, "noise": 0.03, "skew": 1.5},
    "noisy, skewed 150 dpi": {"dpi": 150, "noise": 0.03, "skew": 1.5},
    "two columns 300 dpi": {"dpi": 300, "columns": 2},
}


def _scan_texts(n: int) -> list[str]:
    return [page_text(p) + "\n\n" + scan_text(p) + "\n\n" + page_text(p + 1) for p in range(1, n + 1)]


def character_error_rate(got: str, want: str) -> float:
    """Edit distance between `got` and `want` (white space folded) over the length of `want`."""
    from rapidfuzz.distance import Levenshtein

    a, b = " ".join(got.split()), " ".join(want.split())
    return Levenshtein.distance(a, b) / len(b)


def _compare_ocr(pages: int) -> dict[str, Any]:
    """Per engine and condition: pages/s on one core (one page at a time) and character error rate."""
    from indexer.ingest.ocr.recognizer import load_engine

    texts = _scan_texts(pages)
    out: dict[str, Any] = {}
    for engine_name in OcrEngineName:
        engine = load_engine(OcrSettings(engine=engine_name))
        out[engine_name.value] = {}
        for condition, kw in SCAN_CONDITIONS.items():
            images = [render_scan(t, seed=i, **kw) for i, t in enumerate(texts)]
            started = time.perf_counter()
            read = [engine.recognize(im) for im in images]
            seconds = time.perf_counter() - started
            errors = [character_error_rate("\n".join(r.lines), t) for r, t in zip(read, texts, strict=True)]
            out[engine_name.value][condition] = {
                "pages_per_second": len(images) / seconds,
                "cer": sum(errors) / len(errors),
                "confidence": sum(r.confidence for r in read) / len(read),
            }
            print(f"  {engine_name.value} {condition}: {out[engine_name.value][condition]}", flush=True)
    return out


def _ocr_pipeline(folder: Path, pages: int) -> dict[str, Any]:
    """The whole path on an image-only PDF at 150 and 300 dpi: render, recognise in parallel (no cache)."""
    out: dict[str, Any] = {}
    for dpi, threads in ((150, 1), (150, 2), (300, 1), (300, 2)):
        pdf = make_scan_pdf(folder / f"scan{dpi}.pdf", [render_scan(t, dpi) for t in _scan_texts(pages)], dpi)
        settings = OcrSettings(dpi=dpi, cache_dir=None, threads=threads)
        recognizer = Recognizer(settings)
        started = time.perf_counter()
        extracted = read_pdf(pdf, recognizer)
        seconds = time.perf_counter() - started
        out[f"{dpi} dpi, {threads} threads"] = {
            "pages": len(extracted.ocr),
            "threads": settings.threads,
            "pages_per_second": pages / seconds,
        }
    return out


def _compare_sheets(folder: Path, rows: int) -> dict[str, Any]:
    """Rows per second: a workbook read by calamine (the reader) and by openpyxl; a CSV by the reader."""
    from openpyxl import Workbook, load_workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Data")
    sheet.append(["Station", "Opened", "Height m", "Staffed", "Remark"])
    for i in range(rows):
        sheet.append([f"Station {i}", date(1950 + i % 70, 1 + i % 12, 1), i * 0.5, i % 2 == 0, f"remark number {i}"])
    xlsx = folder / "table.xlsx"
    book.save(xlsx)
    out: dict[str, Any] = {}
    started = time.perf_counter()
    extracted = read_workbook(xlsx)
    out["xlsx calamine (reader)"] = {"rows_per_second": len(extracted.blocks) / (time.perf_counter() - started)}
    started = time.perf_counter()
    ws = load_workbook(xlsx, read_only=True, data_only=True)["Data"]
    count = sum(1 for row in ws.iter_rows(values_only=True) if " | ".join(cell_text(v) for v in row))
    out["xlsx openpyxl (read-only)"] = {"rows_per_second": count / (time.perf_counter() - started)}
    csv_path = folder / "table.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerows([cell_text(c) for c in row] for row in _csv_rows(rows))
    started = time.perf_counter()
    extracted = read_delimited(csv_path)
    out["csv (reader)"] = {"rows_per_second": len(extracted.blocks) / (time.perf_counter() - started)}
    return out


def _csv_rows(rows: int) -> Iterator[list[object]]:
    yield ["Station", "Opened", "Height m", "Staffed", "Remark"]
    for i in range(rows):
        yield [f"Station {i}", date(1950 + i % 70, 1 + i % 12, 1), i * 0.5, i % 2 == 0, f"remark number {i}"]


def _build_rss(folder: Path) -> dict[str, Any]:
    """Worker: build `folder` into a fresh index with the bundled model; how far RSS rose above what the process
    held with the model loaded (sampled every 20 ms during the build), and the counts."""
    embedder = load_embedder()
    embedder.encode(["warm up the model's buffers"])
    process = psutil.Process()
    loaded = process.memory_info().rss
    peak = loaded
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory(prefix="seekr-rss-") as tmp:
        report = build_index(folder, Path(tmp) / "index", embedder, ChunkingConfig())
    done.set()
    sampler.join()
    return {
        "model_loaded_rss_bytes": loaded,
        "build_peak_rss_bytes": max(peak, process.memory_info().rss),
        "chunks": report.chunks,
        "seconds": report.seconds,
    }


def _csv_memory(folder: Path, rows: int) -> dict[str, Any]:
    """Peak memory of building a `rows`-row CSV against building an almost empty folder, each in a new process."""
    out: dict[str, Any] = {}
    empty, big = folder / "empty", folder / "big"
    empty.mkdir()
    big.mkdir()
    (empty / "note.txt").write_text("One short note.", encoding="utf-8")
    with (big / "rows.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([cell_text(c) for c in row] for row in _csv_rows(rows))
    for name, source in (("empty", empty), ("csv", big)):
        run = subprocess.run(
            [sys.executable, "-m", "bench.formats", "--build-rss", str(source)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        out[name] = json.loads(run.stdout.strip().splitlines()[-1])
    out["rows"] = rows
    rise = {k: out[k]["build_peak_rss_bytes"] - out[k]["model_loaded_rss_bytes"] for k in ("empty", "csv")}
    out["extra_mb"] = (rise["csv"] - rise["empty"]) / 2**20
    return out


def scans_and_tables(args: argparse.Namespace) -> dict[str, Any]:
    """The OCR, spreadsheet and CSV measurements."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="seekr-scans-") as tmp:
        print("OCR engines on generated scans ...", flush=True)
        results["ocr_engines"] = _compare_ocr(args.ocr_pages)
        results["ocr_pipeline"] = _ocr_pipeline(Path(tmp), args.ocr_pages * 2)
        print("spreadsheets and CSV ...", flush=True)
        results["sheets"] = _compare_sheets(Path(tmp), args.sheet_rows)
        print(f"building a {args.csv_rows:,}-row CSV file ...", flush=True)
        results["csv_memory"] = _csv_memory(Path(tmp), args.csv_rows)
    return results


def _corpus(folder: Path, files: int, pages: int) -> dict[str, list[Path]]:
    makers: dict[str, Callable[[Path], Path]] = {
        ".pdf": lambda p: make_pdf(p, pages=pages),
        ".pptx": lambda p: make_pptx(p, slides=pages),
        ".docx": make_docx,
        ".odt": make_odt,
        ".epub": make_epub,
        ".rtf": make_rtf,
        ".eml": make_eml,
    }
    out: dict[str, list[Path]] = {}
    for suffix, make in makers.items():
        out[suffix] = [make(folder / f"f{n:04d}{suffix}") for n in range(files)]
    return out


def _read_all(paths: list[Path]) -> tuple[float, list[Document]]:
    started = time.perf_counter()
    docs = []
    for path in paths:
        for item in read_file(path, path.name):
            if isinstance(item, tuple):
                docs.append(item[0])
    return time.perf_counter() - started, docs


def _quality(pages: list[str], written: list[str]) -> dict[str, float]:
    """Word recall of extracted page texts against what was written, and words joined or split wrongly."""
    found = expected = merged = 0
    for text, truth in zip(pages, written, strict=True):
        want = Counter(_WORD.findall(truth.lower()))
        got = Counter(_WORD.findall(text.lower()))
        found += sum((want & got).values())
        expected += sum(want.values())
        merged += sum(n for word, n in got.items() if word not in want)
    return {"word_recall": found / expected, "foreign_words_per_1000": 1000 * merged / expected}


def _pdf_pages_pypdfium2(path: Path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        return [pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf))]
    finally:
        pdf.close()


def _pdf_pages_pypdf(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(path).pages]


def _compare_pdf(paths: list[Path], pages: int) -> dict[str, Any]:
    written = [f"Chapter {p}\n{page_text(p)}" for p in range(1, pages + 1)]
    out: dict[str, Any] = {}
    for name, extract in (("pypdfium2", _pdf_pages_pypdfium2), ("pypdf", _pdf_pages_pypdf)):
        started = time.perf_counter()
        texts = [extract(p) for p in paths]
        seconds = time.perf_counter() - started
        table_free = [t.split("Station")[0] if i == 0 else t for doc in texts for i, t in enumerate(doc)]
        out[name] = {
            "pages_per_second": len(paths) * pages / seconds,
            **_quality(table_free, written * len(paths)),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    """Generate the corpus, measure, print a table and write JSON."""
    args = _parser().parse_args(argv)
    if args.build_rss is not None:
        print(json.dumps(_build_rss(args.build_rss)))
        return 0
    if args.only == "scans-and-tables":
        scans = scans_and_tables(args)
        args.json.write_text(json.dumps(scans, indent=2) + "\n", encoding="utf-8")
        print(format_scans_and_tables(scans))
        print(f"\nwrote {args.json}")
        return 0
    results: dict[str, Any] = {"files_per_format": args.files, "pages_per_pdf": args.pages, "formats": {}}
    with tempfile.TemporaryDirectory(prefix="seekr-formats-") as tmp:
        print(f"generating {args.files} files of each format ...", flush=True)
        corpus = _corpus(Path(tmp), args.files, args.pages)
        pdf_docs: list[Document] = []
        for suffix, paths in corpus.items():
            seconds, docs = _read_all(paths)
            pages = sum(len(d.pages) for d in docs)
            chars = sum(len(d.text) for d in docs)
            results["formats"][suffix] = {
                "files": len(paths),
                "documents": len(docs),
                "pages": pages,
                "seconds": seconds,
                "files_per_second": len(paths) / seconds,
                "pages_per_second": pages / seconds if pages else None,
                "chars_per_second": chars / seconds,
            }
            if suffix == ".pdf":
                pdf_docs = docs
        results["pdf_extractors"] = _compare_pdf(corpus[".pdf"], args.pages)
    print("embedding the PDF corpus's passages with the bundled model ...", flush=True)
    embedder = load_embedder()
    config = ChunkingConfig()
    passages = [c.text for d in pdf_docs for c in chunk_text(d.text, embedder.token_spans, config, pages=d.pages)]
    started = time.perf_counter()
    embedder.encode(passages)
    seconds = time.perf_counter() - started
    pdf_pages = sum(len(d.pages) for d in pdf_docs)
    results["embedding"] = {
        "runtime": embedder.runtime,
        "chunks": len(passages),
        "chunks_per_second": len(passages) / seconds,
        "pdf_pages_per_second": pdf_pages / seconds,
    }
    results |= scans_and_tables(args)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(format_results(results))
    print(format_scans_and_tables(results))
    print(f"\nwrote {args.json}")
    return 0


def format_results(r: dict[str, Any]) -> str:
    """Markdown tables of the figures."""
    lines = [
        "| format | files | pages | files/s | pages/s | chars/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for suffix, f in r["formats"].items():
        pages = f"{f['pages_per_second']:.0f}" if f["pages_per_second"] else "-"
        lines.append(
            f"| {suffix} | {f['files']} | {f['pages']} | {f['files_per_second']:.0f} | {pages} | "
            f"{f['chars_per_second']:,.0f} |"
        )
    e = r["embedding"]
    lines += [
        "",
        f"embedding ({e['runtime']}): {e['chunks_per_second']:.0f} chunks/s = {e['pdf_pages_per_second']:.1f} "
        f"PDF pages/s ({e['chunks']} passages)",
        "",
        "| PDF extractor | pages/s | word recall | foreign words per 1,000 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, x in r["pdf_extractors"].items():
        lines.append(
            f"| {name} | {x['pages_per_second']:.0f} | {x['word_recall']:.4f} | {x['foreign_words_per_1000']:.1f} |"
        )
    return "\n".join(lines)


def format_scans_and_tables(r: dict[str, Any]) -> str:
    """Markdown tables of the OCR, spreadsheet and CSV figures."""
    lines = [
        "",
        "| OCR engine | condition | pages/s (1 core) | CER | mean confidence |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for engine, conditions in r["ocr_engines"].items():
        for condition, x in conditions.items():
            lines.append(
                f"| {engine} | {condition} | {x['pages_per_second']:.2f} | {x['cer']:.2%} | {x['confidence']:.2f} |"
            )
    lines += [
        "",
        "| OCR path (scanned PDF, default engine) | pages | threads | pages/s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for dpi, x in r["ocr_pipeline"].items():
        lines.append(f"| {dpi} | {x['pages']} | {x['threads']} | {x['pages_per_second']:.2f} |")
    lines += ["", "| table reader | rows/s |", "| --- | ---: |"]
    for name, x in r["sheets"].items():
        lines.append(f"| {name} | {x['rows_per_second']:,.0f} |")
    m = r["csv_memory"]
    lines += [
        "",
        f"building a {m['rows']:,}-row CSV ({m['csv']['chunks']:,} passages, {m['csv']['seconds']:.0f} s): RSS rose "
        f"from {m['csv']['model_loaded_rss_bytes'] / 2**20:.0f} MB (model loaded) to "
        f"{m['csv']['build_peak_rss_bytes'] / 2**20:.0f} MB; an almost empty folder from "
        f"{m['empty']['model_loaded_rss_bytes'] / 2**20:.0f} to {m['empty']['build_peak_rss_bytes'] / 2**20:.0f} MB: "
        f"{m['extra_mb']:+.0f} MB more for the CSV",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
