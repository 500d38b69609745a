"""`python -m bench page-cost FOLDER [--index DIR]`: what page-aware cleaning, passage context and page ranking cost.

1. Reading: the folder read with page-aware cleaning and without (`--cleaning none`), timed.
2. Context: a sample of the passages embedded with each passage context (none, title, document, headings), timed
   per passage; the difference is scaled to every passage of the folder.
3. Searching (with `--index`, an index of the folder built by `indexer build`): the questions of a page-judged
   folder (`questions.jsonl` beside it, else the passages' first sentences) asked with today's defaults (one
   hit per page, document scores, navigation below content) and with all three off, one after the other in one
   run, mean and p95 per mode.

Each cost is reported against the build it belongs to: reading + chunking + embedding every passage with the
default context, at the rates measured here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from indexer.embed.runtime import load_embedder
from indexer.ingest.chunking import ChunkingConfig, chunk_document
from indexer.ingest.clean import Cleaning
from indexer.ingest.folder import read_folder
from indexer.ingest.read_options import ReadOptions
from indexer.page_eval import PAGE_QUESTIONS, read_page_questions
from indexer.retrieval.results import Group, Mode, Navigation
from indexer.retrieval.searcher import Searcher
from indexer.storage.factory import as_backend
from indexer.types import Chunk, Document, PassageContext, matched_text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench page-cost", description=__doc__)
    p.add_argument("folder", type=Path, help="a folder of paged documents (PDF, slides)")
    p.add_argument("--index", type=Path, help="an index of the folder (for the search latencies)")
    p.add_argument("--sample", type=int, default=1500, help="passages embedded per context (default: %(default)s)")
    p.add_argument("--json", type=Path, default=Path("bench-page-cost.json"), help="where to write the figures")
    return p


def _timed_read(folder: Path, cleaning: Cleaning) -> tuple[list[Document], float]:
    started = time.perf_counter()
    report = read_folder(folder, ReadOptions(cleaning))
    return report.documents, time.perf_counter() - started


def main(argv: list[str]) -> int:
    """Measure and print the costs; write them as JSON."""
    args = _parser().parse_args(argv)
    embedder = load_embedder()
    plain, read_plain = _timed_read(args.folder, Cleaning.none)
    docs, read_clean = _timed_read(args.folder, Cleaning.auto)
    config = ChunkingConfig()
    started = time.perf_counter()
    chunked: list[tuple[Document, Chunk]] = []
    for doc in docs:
        chunked.extend((doc, c) for c in chunk_document(doc, embedder.token_spans, config))
    chunk_seconds = time.perf_counter() - started
    step = max(1, len(chunked) // args.sample)
    sample = chunked[::step][: args.sample]
    per_passage: dict[str, float] = {}
    tokens: dict[str, float] = {}
    for context in PassageContext:
        texts = [matched_text(d.title, c.text, c.start, context, source=d.source, heading=c.heading) for d, c in sample]
        embedder.encode(texts[:64])  # warm
        started = time.perf_counter()
        embedder.encode(texts)
        per_passage[context.value] = (time.perf_counter() - started) / len(texts)
        tokens[context.value] = statistics.fmean(len(embedder.token_spans(t)) for t in texts)
    embed_all = per_passage[PassageContext.headings.value] * len(chunked)
    build = read_clean + chunk_seconds + embed_all
    cleaning_cost = read_clean - read_plain
    context_cost = (per_passage[PassageContext.headings.value] - per_passage[PassageContext.titled.value]) * len(
        chunked
    )
    results: dict[str, Any] = {
        "documents": len(docs),
        "passages": len(chunked),
        "read_seconds": {"cleaning none": round(read_plain, 2), "page-aware cleaning": round(read_clean, 2)},
        "chunk_seconds": round(chunk_seconds, 2),
        "embed_ms_per_passage": {k: round(v * 1000, 3) for k, v in per_passage.items()},
        "mean_tokens_per_passage": {k: round(v, 1) for k, v in tokens.items()},
        "estimated_build_seconds": round(build, 1),
        "cleaning_share_of_build": round(cleaning_cost / build, 4),
        "context_share_of_build": round(context_cost / build, 4),
        "documents_without_cleaning": len(plain),
    }
    if args.index is not None:
        results["search_ms"] = _latencies(args, embedder)
    print(json.dumps(results, indent=2))
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


def _latencies(args: argparse.Namespace, embedder: Any) -> dict[str, dict[str, float]]:
    """Mean and p95 search time per mode, with the page-aware defaults and without them, in one run."""
    snapshot = as_backend(args.index).open()
    searcher = Searcher(snapshot, embedder)
    judged = args.folder.parent / PAGE_QUESTIONS
    if judged.is_file():
        questions = [q.text for q in read_page_questions(judged)]
    else:
        records = snapshot.store.chunks(snapshot.store.chunk_ids()[:200])
        questions = [r.text.split(". ")[0] for r in records.values()]
    plain: dict[str, Any] = {"group": Group.passage, "document_weight": 0.0, "navigation": Navigation.include}
    out: dict[str, dict[str, float]] = {}
    for mode in Mode:
        defaults: dict[str, Any] = {}
        for name, options in (("page-aware defaults", defaults), ("per passage (before)", plain)):
            for text in questions[:10]:  # warm
                searcher.search(text, k=10, mode=mode, **options)
            times = []
            for text in questions:
                started = time.perf_counter()
                searcher.search(text, k=10, mode=mode, **options)
                times.append((time.perf_counter() - started) * 1000)
            out[f"{mode.value}, {name}"] = {
                "mean": round(statistics.fmean(times), 2),
                "p95": round(float(np.percentile(times, 95)), 2),
            }
    return out
