"""`python -m bench collections`: what many collections cost. One corpus (by default cranfield, about 2,000
passages) is embedded once, then imported into N collections (50 by default; importing copies the vectors, it
does not embed again). A server is started on them, allowed to keep every one open, and the run reports:

- the server's RSS with the default collection open, and after each other collection opened: the memory one
  more open collection costs (the slope), with the model shared by all of them;
- search p50 in a cold collection: the first search after the server started, which opens its index;
- search p50 in a warm one: searches spread over the collections once they are all open.
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
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.corpus import ROOT, load_corpus, write_jsonl
from bench.harness import free_port


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench collections", description=__doc__)
    p.add_argument("--corpus", default="cranfield", help="corpus of each collection (default: %(default)s)")
    p.add_argument("--collections", type=int, default=50, help="collections besides the default (default: 50)")
    p.add_argument("--queries", type=int, default=300, help="warm searches to time (default: %(default)s)")
    p.add_argument("--json", type=Path, default=Path("bench-collections.json"), help="where to write the figures")
    return p


def _indexer(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "indexer", *args], cwd=ROOT, check=True, capture_output=True, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip


def _rss(pid: int) -> int:
    rss: int = psutil.Process(pid).memory_info().rss
    return rss


def main(argv: list[str] | None = None) -> int:
    """Build, serve, measure, print a table and write JSON."""
    args = _parser().parse_args(argv)
    corpus = load_corpus(args.corpus)
    names = [f"c{i:03d}" for i in range(args.collections)]
    with tempfile.TemporaryDirectory(prefix="seekr-bench-collections-") as tmp:
        src, data, export = Path(tmp) / "src", Path(tmp) / "data", Path(tmp) / "export"
        src.mkdir()
        write_jsonl(corpus, src / "corpus.jsonl")
        print(f"embedding {corpus.name} once ({len(corpus.documents)} documents)...", flush=True)
        started = time.perf_counter()
        _indexer("build", str(src), "--index", str(data), "--quiet")
        _indexer("export", str(export), "--index", str(data))
        for name in names:
            _indexer("import", str(export), "--index", str(data), "--collection", name)
        setup_seconds = time.perf_counter() - started
        port = free_port()
        env = {
            **os.environ, "HF_HUB_OFFLINE": "1", "SEEKR_MAX_OPEN_COLLECTIONS": str(len(names) + 1),
            "SEEKR_LOG_LEVEL": "warning",
        }  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "service", "--index", str(data), "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=300) as client:
                while True:
                    if server.poll() is not None:
                        raise SystemExit(f"server exited with {server.returncode}")
                    try:
                        if client.get("/readyz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(0.1)
                chunks = client.get("/stats").json()["chunks"]
                client.get("/search", params={"q": corpus.queries[0]})
                rss = [_rss(server.pid)]
                cold = []
                for i, name in enumerate(names):
                    t = time.perf_counter()
                    r = client.get(f"/collections/{name}/search", params={"q": corpus.queries[i % len(corpus.queries)]})
                    cold.append((time.perf_counter() - t) * 1000)
                    r.raise_for_status()
                    rss.append(_rss(server.pid))
                warm = []
                for i in range(args.queries):
                    name = names[i % len(names)]
                    t = time.perf_counter()
                    client.get(f"/collections/{name}/search", params={"q": corpus.queries[i % len(corpus.queries)]})
                    warm.append((time.perf_counter() - t) * 1000)
                open_now = sum(c["open"] for c in client.get("/collections").json()["collections"])
        finally:
            server.terminate()
            server.wait(timeout=60)
    slope = (rss[-1] - rss[0]) / len(names)
    results: dict[str, Any] = {
        "corpus": corpus.name,
        "collections": len(names),
        "chunks_per_collection": chunks,
        "setup_seconds": round(setup_seconds, 1),
        "open_collections_at_end": open_now,
        "rss_mb_default_only": round(rss[0] / 2**20, 1),
        "rss_mb_all_open": round(rss[-1] / 2**20, 1),
        "mb_per_open_collection": round(slope / 2**20, 2),
        "cold_search_p50_ms": round(statistics.median(cold), 1),
        "cold_search_p95_ms": round(sorted(cold)[int(0.95 * (len(cold) - 1))], 1),
        "warm_search_p50_ms": round(statistics.median(warm), 1),
        "warm_search_p95_ms": round(sorted(warm)[int(0.95 * (len(warm) - 1))], 1),
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)},
    }
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    print(f"figures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
