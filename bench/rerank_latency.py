"""`python -m bench rerank [--reranker FOLDER]`: what a reranker adds to a search's latency, per depth.

It builds the seeds index with the bundled model, then asks each seed question in hybrid mode through the
`Searcher` with no reranker and with the reranker re-scoring the first 10, 20, 50 and 100 units, and reports
p50 and p95 per depth and what they add to the search without it. Without `--reranker` it measures a
cross-encoder shaped as the common MiniLM-L6 rerankers (the bundled MiniLM's six layers under a one-score head,
whose weights are random): its latency is a real model's of that size, its order means nothing. No cross-encoder
weights can be installed here; give a real folder to measure yours.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.corpus import SEED_QUESTIONS, load_corpus, write_jsonl
from indexer.building.builder import build_index
from indexer.embed.base import DEFAULT_MODEL, resolve_model_location
from indexer.embed.runtime import load_embedder
from indexer.rerank.base import RerankRuntime
from indexer.rerank.factory import load_reranker
from indexer.retrieval.rerank import RerankStage
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher

DEPTHS = (10, 20, 50, 100)
RUNTIMES = (RerankRuntime.torch, RerankRuntime.onnx, RerankRuntime.onnx_int8)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench rerank", description=__doc__)
    p.add_argument("--reranker", type=Path, help="a CrossEncoder folder (default: MiniLM-L6-shaped, random head)")
    p.add_argument("--rounds", type=int, default=5, help="times each question is asked per depth")
    p.add_argument("--json", type=Path, default=Path("bench-rerank.json"), help="where to write the figures")
    return p


def minilm_shaped_cross_encoder(folder: Path) -> Path:
    """The bundled MiniLM's encoder under a one-score classification head (random): a MiniLM-L6 cross-encoder's
    size and speed, not its judgement."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    source = resolve_model_location(DEFAULT_MODEL)
    model = BertForSequenceClassification.from_pretrained(source, num_labels=1)
    out = folder / "minilm-l6-cross-encoder"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(source).save_pretrained(out)
    return out


def _times(searcher: Searcher, rounds: int, **kw: Any) -> list[float]:
    times = []
    for _ in range(rounds):
        for question in SEED_QUESTIONS:
            started = time.perf_counter()
            searcher.search(question, k=10, mode=Mode.hybrid, **kw)
            times.append((time.perf_counter() - started) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    """Measure and print a table; write JSON."""
    args = _parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="seekr-rerank-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        write_jsonl(load_corpus("seeds", 1), src / "corpus.jsonl")
        embedder = load_embedder()
        build_index(src, Path(tmp) / "index", embedder)
        from indexer.storage.factory import as_backend

        snapshot = as_backend(Path(tmp) / "index").open()
        folder = args.reranker or minilm_shaped_cross_encoder(Path(tmp))
        plain = Searcher(snapshot, embedder)
        _times(plain, 1)  # warm up
        base = _times(plain, args.rounds)
        rows: list[dict[str, Any]] = [{"depth": 0, "p50_ms": statistics.median(base), "p95_ms": _p95(base)}]
        for runtime in RUNTIMES:
            reranker = load_reranker(folder, runtime, cache_dir=Path(tmp) / "models")
            for depth in DEPTHS:
                searcher = Searcher(snapshot, embedder, stages=[RerankStage(reranker, depth)])
                _times(searcher, 1)
                t = _times(searcher, args.rounds)
                rows.append(
                    {"runtime": runtime.value, "depth": depth, "p50_ms": statistics.median(t), "p95_ms": _p95(t)}
                )
    result: dict[str, Any] = {
        "reranker": str(args.reranker or "MiniLM-L6-shaped (random head)"),
        "runtime": embedder.runtime,
    }
    result["rows"] = rows
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(format_results(result))
    print(f"\nwrote {args.json}")
    return 0


def _p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def format_results(r: dict[str, Any]) -> str:
    """A Markdown table of what the reranker adds to a search (p50, p95 in brackets), per depth and runtime."""
    base = r["rows"][0]
    lines = [
        f"reranker: {r['reranker']}; hybrid searches of the seed questions, k=10 ({r['runtime']} embedder), "
        f"{base['p50_ms']:.1f} ms p50 without it",
        "",
        "| reranked units | " + " | ".join(f"{rt.value}: added p50 (p95) ms" for rt in RUNTIMES) + " |",
        "| ---: |" + " ---: |" * len(RUNTIMES),
    ]
    for depth in DEPTHS:
        cells = []
        for rt in RUNTIMES:
            row = next(x for x in r["rows"] if x.get("runtime") == rt.value and x["depth"] == depth)
            cells.append(f"+{row['p50_ms'] - base['p50_ms']:.0f} ({row['p95_ms'] - base['p95_ms']:+.0f})")
        lines.append(f"| {depth} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
