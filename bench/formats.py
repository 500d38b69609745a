"""`python -m bench formats`: how fast each format is read, beside how fast the model embeds what it yields.

Generates a corpus (by default 100 PDFs of 10 pages, 100 decks of 10 slides, and 100 files of each other
format), reads every file with the project's readers, and reports pages (or files) per second and characters
per second for each format. For PDF it also reads the same files with pypdf, the other maintained pure-Python
choice, and scores both extractors' text against the words each page was written with (word recall, and
words run together or split apart). Then it embeds the passages of the PDF corpus with the bundled model, so
the two rates say which one bounds a build.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.samples import make_docx, make_eml, make_epub, make_odt, make_pdf, make_pptx, make_rtf, page_text
from indexer.embed.runtime import load_embedder
from indexer.ingest.chunking import ChunkingConfig, chunk_text
from indexer.ingest.documents import read_file
from indexer.types import Document

_WORD = re.compile(r"[a-z0-9]+")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench formats", description=__doc__)
    p.add_argument("--files", type=int, default=100, help="files of each format (default: %(default)s)")
    p.add_argument("--pages", type=int, default=10, help="pages per PDF and slides per deck (default: %(default)s)")
    p.add_argument("--json", type=Path, default=Path("bench-formats.json"), help="where to write the figures")
    return p


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
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(format_results(results))
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


if __name__ == "__main__":
    sys.exit(main())
