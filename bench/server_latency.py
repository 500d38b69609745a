"""`python -m bench servers`: what embedding through a server adds, per provider contract.

It starts the stand-in server (`bench.model_servers`, the bundled model on fp32 ONNX) in its own process on
loopback, and embeds the same texts in process and through each contract (OpenAI-compatible, TEI, Ollama):
one question at a time (a search's query, p50 and p95) and the seed passages in bulk (a build's rate, with the
default batch size and concurrency). Server and client share this machine's cores, so the figures are the
protocol's cost (HTTP, JSON, a thread hop), not a GPU's speed: on a GPU host the model's own time shrinks and
this overhead, plus the network's round trip, is what stays.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.corpus import SEED_QUESTIONS, load_corpus
from bench.model_servers import KEY, MODEL
from indexer.embed.base import Embedder
from indexer.embed.runtime import Runtime, load_embedder, load_server_embedder
from indexer.embed.server import EmbedApi, ServerOptions


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench servers", description=__doc__)
    p.add_argument("--rounds", type=int, default=10, help="times each question is embedded per contract")
    p.add_argument("--passages", type=int, default=1024, help="passages embedded in bulk per contract")
    p.add_argument("--json", type=Path, default=Path("bench-servers.json"), help="where to write the figures")
    return p


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _passages(count: int) -> list[str]:
    words = " ".join(d.text for d in load_corpus("seeds").documents).split()
    pieces = [" ".join(words[i : i + 90]) for i in range(0, len(words), 90)]
    return [f"{n}: {pieces[n % len(pieces)]}" for n in range(count)]  # distinct texts


def _query_ms(embedder: Embedder, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        for question in SEED_QUESTIONS:
            started = time.perf_counter()
            embedder.encode_queries([question])
            times.append((time.perf_counter() - started) * 1000)
    return times


def _row(name: str, query: list[float], seconds: float, passages: int) -> dict[str, Any]:
    return {
        "how": name,
        "query_p50_ms": round(statistics.median(query), 2),
        "query_p95_ms": round(statistics.quantiles(query, n=20)[18], 2),
        "passages_per_s": round(passages / seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.model_servers", "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "serving on ...": the model is loaded and the socket listens
        local = load_embedder(runtime=Runtime.onnx)
        texts = _passages(args.passages)
        local.encode(texts[:32])  # warm
        started = time.perf_counter()
        local.encode(texts)
        seconds = time.perf_counter() - started
        rows = [_row("in process (fp32 ONNX)", _query_ms(local, args.rounds), seconds, len(texts))]
        for api in EmbedApi:
            url = f"http://127.0.0.1:{port}" + ("/v1" if api is EmbedApi.openai else "")
            remote = load_server_embedder(ServerOptions(api=api, url=url, model=MODEL, key=KEY))
            remote.encode(texts[:32])  # warm: the probe and the connections
            started = time.perf_counter()
            remote.encode(texts)
            seconds = time.perf_counter() - started
            rows.append(_row(f"{api.value} server", _query_ms(remote, args.rounds), seconds, len(texts)))
            remote.close()
    finally:
        server.terminate()
        server.wait()
    base = rows[0]
    print(f"{'how':<24} {'query p50':>10} {'p95':>8} {'added p50':>10} {'passages/s':>11}")
    for row in rows:
        added = row["query_p50_ms"] - base["query_p50_ms"]
        row["added_p50_ms"] = round(added, 2)
        print(
            f"{row['how']:<24} {row['query_p50_ms']:>8.2f}ms {row['query_p95_ms']:>6.2f}ms {added:>+8.2f}ms "
            f"{row['passages_per_s']:>11.1f}"
        )
    args.json.write_text(json.dumps({"rows": rows, "passages": args.passages}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
