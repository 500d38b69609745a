"""`python -m bench`: indexing throughput and peak RSS, HTTP latency/throughput per mode and concurrency,
server RSS and cold start, on a named corpus. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

from bench.corpus import load_corpus, write_jsonl
from bench.harness import index_corpus, serve
from bench.http_load import WriteLoad, run_load
from bench.mcp_load import run_mcp_load
from indexer.embed.base import DEFAULT_MODEL
from indexer.storage.settings import BackendName


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--corpus", default="seeds", help="seeds, cranfield, a BEIR folder or a folder (default: seeds)")
    p.add_argument("--copies", type=int, default=1, help="repeat the corpus N times (distinct ids) to grow it")
    p.add_argument("--model", default=DEFAULT_MODEL, help="embedding model (default: the bundled MiniLM)")
    p.add_argument(
        "--runtime",
        default=os.environ.get("SEEKR_RUNTIME", "auto"),
        choices=["auto", "torch", "onnx", "onnx-int8"],
        help="inference runtime for indexing and the server (default: $SEEKR_RUNTIME or auto)",
    )
    p.add_argument("--workers", type=int, default=None, help="server worker processes (default: the server's)")
    p.add_argument("--base-url", help="measure this running server instead of starting ours (skips indexing)")
    p.add_argument(
        "--backend",
        choices=[b.value for b in BackendName],
        help="engine for the index we build and serve (default: $SEEKR_BACKEND or local); milvus uses "
        "$SEEKR_MILVUS_URI, or a temporary Milvus Lite file",
    )
    p.add_argument("--modes", default="dense,lexical,hybrid", help="comma-separated modes (default: all)")
    p.add_argument("--concurrency", default="1,8,32", help="comma-separated client counts (default: 1,8,32)")
    p.add_argument("--requests", type=int, default=300, help="requests per (mode, concurrency) run")
    p.add_argument(
        "--writes", action="store_true", help="also measure each run again while a writer upserts documents non-stop"
    )
    p.add_argument(
        "--mcp",
        action="store_true",
        help="also measure each mode as an agent would call it: MCP tools/call search through the SDK's client",
    )
    p.add_argument("--api-key", default="bench-key", help="write key for --writes (given to the server we start)")
    p.add_argument("--json", type=Path, default=Path("bench-results.json"), help="where to write the figures")
    return p


# Modes that are programs of their own, imported only when asked for.
_PROGRAMS = {
    "soak": "bench.soak",
    "scale": "bench.scale",
    "formats": "bench.formats",
    "collections": "bench.collections",
    "calibration-study": "bench.calibration_study",
    "long-queries": "bench.long_queries",
    "label-free": "bench.label_free",
    "fusion-study": "bench.fusion_study",
    "page-cost": "bench.page_cost",
    "rerank": "bench.rerank_latency",
    "servers": "bench.server_latency",
    "languages": "bench.languages",
    "segmenters": "bench.segmenters",
    "viewer": "bench.viewer",
}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table (`python -m bench soak ...`: the soak run, see bench.soak)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in _PROGRAMS:
        program: Callable[[list[str]], int] = importlib.import_module(_PROGRAMS[argv[0]]).main
        return program(argv[1:])
    args = _parser().parse_args(argv)
    corpus = load_corpus(args.corpus, args.copies)
    results: dict[str, Any] = {
        "corpus": corpus.name,
        "documents": len(corpus.documents),
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)},
    }
    server: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="seekr-bench-") as tmp:
        # The build worker and the server read where the index lives from SEEKR_* variables, as users set them.
        if args.backend:
            os.environ["SEEKR_BACKEND"] = args.backend
        if os.environ.get("SEEKR_BACKEND") == BackendName.milvus and "SEEKR_MILVUS_URI" not in os.environ:
            os.environ["SEEKR_MILVUS_URI"] = f"{tmp}/bench.db"
        results["backend"] = os.environ.get("SEEKR_BACKEND", BackendName.local.value)
        try:
            if args.base_url:
                base = args.base_url.rstrip("/")
            else:
                src = Path(tmp) / "src"
                src.mkdir()
                write_jsonl(corpus, src / "corpus.jsonl")
                print(f"indexing {corpus.name} ({len(corpus.documents)} documents)...", flush=True)
                results["indexing"] = index_corpus(src / "corpus.jsonl", Path(tmp) / "index", args.model, args.runtime)
                server, base, cold = serve(Path(tmp) / "index", args.model, args.runtime, args.workers, args.api_key)
                results["cold_start_to_ready_seconds"] = cold
            results["base_url"] = base
            runs = []
            for mode in args.modes.split(","):
                for c in (int(x) for x in args.concurrency.split(",")):
                    print(f"load: mode={mode} concurrency={c} ...", flush=True)
                    runs.append(asdict(run_load(base, corpus.queries, mode, c, args.requests)))
                    if args.mcp:
                        print(f"load: mode={mode} concurrency={c} over MCP ...", flush=True)
                        runs.append(asdict(run_mcp_load(base, corpus.queries, mode, c, args.requests)))
                    if args.writes:
                        print(f"load: mode={mode} concurrency={c} with writes ...", flush=True)
                        with WriteLoad(base, args.api_key) as writes:
                            row = asdict(run_load(base, corpus.queries, mode, c, args.requests))
                        row["mode"] = f"{mode} +writes"
                        row["writes_per_second"] = writes.rate()
                        runs.append(row)
            results["http"] = runs
            if server is not None:
                # The whole process tree: with --workers N, each worker holds its own model and index.
                tree = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
                results["server_rss_bytes_after_load"] = sum(p.memory_info().rss for p in tree)
                results["server_processes"] = len(tree)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(format_results(results))
    print(f"\nwrote {args.json}")
    return 0


def format_results(r: dict[str, Any]) -> str:
    """Markdown tables of the figures."""
    lines = [f"corpus: {r['corpus']} ({r['documents']} documents); machine: {r['machine']}"]
    ix = r.get("indexing")
    if ix:
        lines += [
            "",
            "| runtime | chunks | build s | chunks/s | plain torch encode chunks/s | speed-up | build peak RSS MB "
            "| model load s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {ix['runtime']} | {ix['chunks']} | {ix['build_seconds']:.1f} | {ix['chunks_per_second']:.1f} | "
            f"{ix['plain_chunks_per_second']:.1f} | {ix['speedup_vs_plain']:.2f}x | "
            f"{ix['build_peak_rss_bytes'] / 2**20:.0f} | {ix['model_load_seconds']:.1f} |",
        ]
    if "cold_start_to_ready_seconds" in r:
        lines.append(
            f"\ncold start to /readyz: {r['cold_start_to_ready_seconds']:.1f} s; server RSS after load: "
            f"{r['server_rss_bytes_after_load'] / 2**20:.0f} MB ({r['server_processes']} processes)"
        )
    lines += [
        "",
        "(+writes: while a writer upserts batches of 10 documents through the API without pause)",
        "",
        "| mode | concurrency | answered | errors | shed (429) | p50 ms | p95 ms | p99 ms | answered/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for h in r["http"]:
        lines.append(
            f"| {h['mode']} | {h['concurrency']} | {h['requests']} | {h['errors']} | {h['shed']} | {h['p50_ms']:.1f} | "
            f"{h['p95_ms']:.1f} | {h['p99_ms']:.1f} | {h['throughput_rps']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
