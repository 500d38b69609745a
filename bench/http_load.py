"""Closed-loop HTTP load: `concurrency` clients each send their next query as soon as the last answered."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

import httpx
import numpy as np


@dataclass
class LoadResult:
    """Latency percentiles (ms) and throughput of one load run."""

    mode: str
    concurrency: int
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    throughput_rps: float


async def _run(base_url: str, queries: list[str], mode: str, concurrency: int, requests: int, k: int) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal errors
            while (i := next(counter)) < requests:
                started = time.perf_counter()
                r = await client.get("/search", params={"q": queries[i % len(queries)], "k": k, "mode": mode})
                latencies.append((time.perf_counter() - started) * 1000)
                if r.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]).tolist()
    return LoadResult(mode, concurrency, len(latencies), errors, p50, p95, p99, len(latencies) / wall)


def run_load(base_url: str, queries: list[str], mode: str, concurrency: int, requests: int, k: int = 5) -> LoadResult:
    """Send `requests` searches at `concurrency` and measure them (after a short warm-up)."""
    asyncio.run(_run(base_url, queries, mode, concurrency, min(requests, 2 * concurrency), k))  # warm-up
    return asyncio.run(_run(base_url, queries, mode, concurrency, requests, k))
