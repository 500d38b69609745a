"""`python -m bench`: indexing throughput and peak RSS, HTTP latency/throughput per mode and concurrency,
server RSS and cold start, on a named corpus. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.corpus import ROOT, load_corpus, write_jsonl
from bench.http_load import WriteLoad, run_load
from indexer.backend import BackendName
from indexer.embedding import DEFAULT_MODEL


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
    p.add_argument("--api-key", default="bench-key", help="write key for --writes (given to the server we start)")
    p.add_argument("--json", type=Path, default=Path("bench-results.json"), help="where to write the figures")
    return p


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _index(corpus_jsonl: Path, index: Path, model: str, runtime: str) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.build_worker", str(corpus_jsonl.parent), str(index), model, runtime],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["chunks_per_second"] = result["embedded_chunks"] / result["build_seconds"]
    result["plain_chunks_per_second"] = result["embedded_chunks"] / result["plain_encode_seconds"]
    result["speedup_vs_plain"] = result["chunks_per_second"] / result["plain_chunks_per_second"]
    return result


def _serve(
    index: Path, model: str, runtime: str, workers: int | None, api_key: str
) -> tuple[subprocess.Popen[bytes], str, float]:
    port = _free_port()
    started = time.perf_counter()
    flags = ["--workers", str(workers)] if workers else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "--index", str(index), "--port", str(port), "--model", model,
         "--log-level", "warning", *flags],
        cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1", "SEEKR_API_KEY": api_key, "SEEKR_RUNTIME": runtime},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    while time.perf_counter() - started < 300:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc, base, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not become ready in 300 s")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table (`python -m bench soak ...`: the soak run, see bench.soak)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["soak"]:
        from bench.soak import main as soak

        return soak(argv[1:])
    if argv[:1] == ["scale"]:
        from bench.scale import main as scale

        return scale(argv[1:])
    if argv[:1] == ["fusion-study"]:
        from bench.fusion_study import main as fusion_study

        return fusion_study(argv[1:])
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
                results["indexing"] = _index(src / "corpus.jsonl", Path(tmp) / "index", args.model, args.runtime)
                server, base, cold = _serve(Path(tmp) / "index", args.model, args.runtime, args.workers, args.api_key)
                results["cold_start_to_ready_seconds"] = cold
            results["base_url"] = base
            runs = []
            for mode in args.modes.split(","):
                for c in (int(x) for x in args.concurrency.split(",")):
                    print(f"load: mode={mode} concurrency={c} ...", flush=True)
                    runs.append(asdict(run_load(base, corpus.queries, mode, c, args.requests)))
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
