"""What every bench mode shares: index a corpus in a worker process, and start a server on it over loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.corpus import ROOT


def free_port() -> int:
    """A free TCP port on loopback."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def index_corpus(corpus_jsonl: Path, index: Path, model: str, runtime: str) -> dict[str, Any]:
    """Build `index` from the JSONL corpus in a fresh process (so its peak RSS is its own); its figures."""
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


def serve(
    index: Path, model: str, runtime: str, workers: int | None, api_key: str
) -> tuple[subprocess.Popen[bytes], str, float]:
    """Start `python -m service` on `index` at a free loopback port; (process, base URL, seconds to ready)."""
    port = free_port()
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
