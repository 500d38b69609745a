"""`python -m bench viewer`: what showing a hit where it is costs, through HTTP on a served index.

- **Page images**: p50/p95 of a page of real filings at 1,000 px with a hit's passage marked, uncached (each
  page and mark asked once) and cached (the same again); the first mark of a document apart, since it reads
  the whole document's text once.
- **Thumbnails**: after a search of k=10, the time until the 10 hits' thumbnails (240 px, marked) have all
  arrived, fetched six at a time as a browser does.
- **`/source`**: throughput of reading a PDF of about 10 MB in 1 MB range requests, against a plain static file
  server (Starlette's StaticFiles under uvicorn) serving the same file on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium

from bench.harness import free_port, serve
from indexer.building.builder import build_index
from indexer.embed.base import DEFAULT_MODEL
from indexer.embed.runtime import load_embedder

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
QUESTIONS = [
    "total revenue for the year",
    "net income attributable to shareholders",
    "cash and cash equivalents at the end of the year",
    "risk factors related to competition",
    "number of employees",
    "long-term debt maturities",
    "share repurchase program",
    "income tax expense and effective tax rate",
    "property plant and equipment net",
    "dividends declared per share",
    "operating segments and their results",
    "goodwill and intangible assets",
]
_STATIC_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
app = Starlette(routes=[Mount("/", app=StaticFiles(directory=sys.argv[1]))])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def _merged(pdfs: list[Path], target: Path, size: int) -> Path:
    """One PDF of the pages of `pdfs`, taken in order until it holds about `size` bytes of source files."""
    out = pdfium.PdfDocument.new()
    used = 0
    for path in pdfs:
        if used >= size:
            break
        src = pdfium.PdfDocument(path)
        out.import_pages(src)
        src.close()
        used += path.stat().st_size
    out.save(target)
    out.close()
    return target


def _p(values: list[float], q: float) -> float:
    return round(statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0], 1)


def _pages(client: httpx.Client, hits: list[dict[str, Any]], width: int) -> list[float]:
    times = []
    for hit in hits:
        started = time.perf_counter()
        r = client.get(
            f"/documents/{hit['doc_id']}/pages/{hit['page']}.png",
            params={"width": width, "mark": f"{hit['start']}-{hit['end']}"},
        )
        r.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _throughput(base: str, path: str, size: int, chunk: int = 1 << 20, rounds: int = 5) -> float:
    """MB/s of reading `size` bytes at `base + path` in `chunk`-byte range requests, best of `rounds`."""
    best = 0.0
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(rounds):
            started = time.perf_counter()
            for offset in range(0, size, chunk):
                r = client.get(path, headers={"Range": f"bytes={offset}-{min(size, offset + chunk) - 1}"})
                assert r.status_code == 206, r.status_code
            best = max(best, size / 2**20 / (time.perf_counter() - started))
    return round(best, 1)


def main(argv: list[str]) -> int:
    """Serve filings, measure page images, thumbnails and /source, print the figures."""
    p = argparse.ArgumentParser(prog="python -m bench viewer", description=__doc__)
    p.add_argument("--pdfs", type=Path, default=DATASETS / "financebench-dev" / "pdfs", help="a folder of PDFs")
    p.add_argument("--documents", type=int, default=3, help="PDFs indexed for the page images (default: 3)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    pdfs = sorted(args.pdfs.glob("*.pdf"), key=lambda q: q.stat().st_size, reverse=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="seekr-viewer-") as tmp_name:
        tmp = Path(tmp_name)
        docs = tmp / "docs"
        docs.mkdir()
        for path in pdfs[: args.documents]:
            (docs / path.name).write_bytes(path.read_bytes())  # copies: a link leading out is never served
        _merged(pdfs, docs / "merged.pdf", 10 << 20)
        started = time.perf_counter()
        build_index(docs, tmp / "index", load_embedder())
        results["build_seconds"] = round(time.perf_counter() - started, 1)
        os.environ["SEEKR_PAGE_CACHE"] = str(tmp / "pages")
        process, base, _ = serve(tmp / "index", DEFAULT_MODEL, "auto", None, "bench-key")
        try:
            with httpx.Client(base_url=base, timeout=120) as client:
                hits: list[dict[str, Any]] = []
                for question in QUESTIONS:
                    found = client.get("/search", params={"q": question, "k": 10, "mode": "lexical"}).json()
                    hits.extend(h for h in found["results"] if h.get("page"))
                first_marks: dict[str, float] = {}
                seen: set[tuple[str, int, int, int]] = set()
                fresh = []
                for hit in hits:
                    key = (hit["doc_id"], hit["page"], hit["start"], hit["end"])
                    if key in seen:
                        continue
                    seen.add(key)
                    if hit["doc_id"] not in first_marks:  # the first mark of a document reads its text once
                        first_marks[hit["doc_id"]] = _pages(client, [hit], 1000)[0]
                    else:
                        fresh.append(hit)
                fresh = fresh[:40]
                uncached = _pages(client, fresh, 1000)
                cached = _pages(client, fresh, 1000)
                results["first_mark_of_a_document_ms"] = {k: round(v) for k, v in first_marks.items()}
                results["page_1000px_uncached_ms"] = {"p50": _p(uncached, 50), "p95": _p(uncached, 95)}
                results["page_1000px_cached_ms"] = {"p50": _p(cached, 50), "p95": _p(cached, 95)}
                results["pages_measured"] = len(fresh)
                waits = []
                for question in QUESTIONS[:6]:
                    found = client.get("/search", params={"q": question + " detail", "k": 10}).json()["results"]
                    paged = [h for h in found if h.get("page")]
                    started = time.perf_counter()
                    with ThreadPoolExecutor(6) as pool:
                        list(pool.map(lambda h: _pages(client, [h], 240), paged))
                    waits.append((time.perf_counter() - started) * 1000)
                results["ten_thumbnails_after_results_ms"] = {"p50": _p(waits, 50), "max": round(max(waits))}
            size = (docs / "merged.pdf").stat().st_size
            results["source_file_mb"] = round(size / 2**20, 1)
            seekr = _throughput(base, "/documents/merged.pdf/source", size)
        finally:
            process.terminate()
            process.wait(timeout=30)
        port = free_port()
        static = subprocess.Popen([sys.executable, "-c", _STATIC_APP, str(docs), str(port)])
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/merged.pdf", headers={"Range": "bytes=0-0"}, timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            plain = _throughput(f"http://127.0.0.1:{port}", "/merged.pdf", size)
        finally:
            static.terminate()
            static.wait(timeout=30)
        results["source_ranges_mb_per_s"] = {
            "seekr": seekr,
            "static_file_server": plain,
            "static_over_seekr": round(plain / seekr, 2),
        }
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0
