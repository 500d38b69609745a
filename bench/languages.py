"""`python -m bench languages`: what analysis in every language costs.

- **Build**: the same number of characters of Chinese (cmrc2018-zh) and English (cranfield) text, built into an
  index with the bundled model: seconds in all, seconds of analysis alone (every chunk's keyword terms, as the
  engine makes them), and characters per second. The bundled model reads one token per Chinese character and
  about one per four English characters, so embedding dominates the difference.
- **Question analysis**: p50 and p95 of analysing each question (language, words, stems) on each index.
- **Highlights**: p50 of k=100 dense searches with and without highlights, in process and through HTTP (a
  service started on each index; the response carries the 100 hits either way), on each index; with `--milvus`
  also in process on the same text built into Milvus Lite.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import serve
from indexer.building.builder import build_index
from indexer.embed.base import DEFAULT_MODEL
from indexer.embed.runtime import load_embedder
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.factory import open_backend
from indexer.storage.local.backend import LocalBackend
from indexer.storage.settings import BackendName, StorageSettings

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def _texts(dataset: Path, budget: int) -> tuple[list[str], list[str]]:
    """Documents of `dataset` up to `budget` characters in all, and its questions."""
    docs: list[str] = []
    used = 0
    with (dataset / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["text"]
            if used + len(text) > budget:
                break
            docs.append(text)
            used += len(text)
    with (dataset / "queries.jsonl").open(encoding="utf-8") as f:
        questions = [json.loads(line)["text"] for line in f]
    return docs, questions


def _measure(name: str, docs: list[str], questions: list[str], tmp: Path, milvus: bool) -> dict[str, Any]:
    folder = tmp / name
    folder.mkdir()
    for i, text in enumerate(docs):
        (folder / f"{i:05d}.txt").write_text(text, encoding="utf-8")
    embedder = load_embedder()
    backend = LocalBackend(tmp / f"{name}-index")
    started = time.perf_counter()
    report = build_index(folder, backend, embedder)
    build = time.perf_counter() - started
    snapshot = backend.open()
    analyzer = snapshot.lexical.analyzer
    records = snapshot.store.chunks(snapshot.store.chunk_ids())
    context = snapshot.manifest.chunking.passage_context
    texts = [r.matched(context) for r in records.values()]
    started = time.perf_counter()
    for text in texts:
        analyzer.passage(text)
    analysis = time.perf_counter() - started
    timings = []
    for question in questions[:500]:
        started = time.perf_counter()
        analyzer.query(question)
        timings.append((time.perf_counter() - started) * 1000)
    runs = _highlights(Searcher(snapshot, embedder), questions[:20])
    http = _http_highlights(tmp / f"{name}-index", questions[:20])
    chars = sum(len(d) for d in docs)
    more: dict[str, Any] = {}
    if milvus:
        settings = StorageSettings(backend=BackendName.milvus, milvus_uri=str(tmp / f"{name}-milvus.db"))
        lite = open_backend(settings)
        try:
            build_index(folder, lite, embedder)
            on_milvus = _highlights(Searcher(lite.open(), embedder), questions[:20])
        finally:
            lite.close()
        more = {"milvus_dense_k100_ms_p50": on_milvus[False], "milvus_dense_k100_highlights_ms_p50": on_milvus[True]}
    return {
        "documents": len(docs),
        "characters": chars,
        "chunks": report.chunks,
        "languages": report.languages,
        "build_seconds": round(build, 2),
        "chars_per_second": round(chars / build),
        "analysis_seconds": round(analysis, 3),
        "analysis_chars_per_second": round(sum(len(t) for t in texts) / analysis),
        "question_analysis_ms_p50": round(statistics.median(timings), 3),
        "question_analysis_ms_p95": round(statistics.quantiles(timings, n=20)[-1], 3),
        "dense_k100_ms_p50": runs[False],
        "dense_k100_highlights_ms_p50": runs[True],
        "http_dense_k100_ms_p50": http[False],
        "http_dense_k100_highlights_ms_p50": http[True],
        **more,
    }


def _highlights(searcher: Searcher, questions: list[str]) -> dict[bool, float]:
    """p50 ms of k=100 dense searches in process, without and with highlights, each question both ways."""
    searcher.search(questions[0], k=100, mode=Mode.dense)  # warm
    runs: dict[bool, list[float]] = {True: [], False: []}
    for question in questions:
        for highlight in (False, True):
            started = time.perf_counter()
            searcher.search(question, k=100, mode=Mode.dense, highlight=highlight)
            runs[highlight].append((time.perf_counter() - started) * 1000)
    return {h: round(statistics.median(times), 1) for h, times in runs.items()}


def _http_highlights(index: Path, questions: list[str]) -> dict[bool, float]:
    """p50 ms of k=100 dense searches through HTTP, without and with highlights, each question both ways."""
    process, base, _ = serve(index, DEFAULT_MODEL, "auto", None, "bench-key")
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            client.get("/search", params={"q": questions[0], "k": 100, "mode": "dense"})  # warm
            runs: dict[bool, list[float]] = {True: [], False: []}
            for question in questions:
                for highlight in (False, True):
                    params: dict[str, str | int] = {"q": question, "k": 100, "mode": "dense"}
                    params["highlight"] = str(highlight).lower()
                    started = time.perf_counter()
                    client.get("/search", params=params).raise_for_status()
                    runs[highlight].append((time.perf_counter() - started) * 1000)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {h: round(statistics.median(times), 1) for h, times in runs.items()}


def main(argv: list[str]) -> int:
    """Measure Chinese against English text of the same size and print the figures."""
    p = argparse.ArgumentParser(prog="python -m bench languages", description=__doc__)
    p.add_argument("--chinese", type=Path, default=DATASETS / "cmrc2018-zh", help="a BEIR folder of Chinese text")
    p.add_argument("--english", type=Path, default=DATASETS / "cranfield", help="a BEIR folder of English text")
    p.add_argument("--characters", type=int, default=300_000, help="characters of each (default: %(default)s)")
    p.add_argument("--milvus", action="store_true", help="also measure highlights on Milvus Lite, in process")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="seekr-languages-") as tmp:
        for name, folder in (("chinese", args.chinese), ("english", args.english)):
            docs, questions = _texts(folder, args.characters)
            results[name] = _measure(name, docs, questions, Path(tmp), args.milvus)
    zh, en = results["chinese"], results["english"]
    results["build_time_ratio_same_characters"] = round(
        (zh["build_seconds"] / zh["characters"]) / (en["build_seconds"] / en["characters"]), 2
    )
    results["analysis_time_ratio_same_characters"] = round(
        en["analysis_chars_per_second"] / zh["analysis_chars_per_second"], 2
    )
    text = json.dumps(results, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0
