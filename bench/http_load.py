"""Closed-loop HTTP load: `concurrency` clients each send their next query as soon as the last answered."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass
from types import TracebackType

import httpx
import numpy as np


@dataclass
class LoadResult:
    """Latency percentiles (ms) and throughput of one load run."""

    mode: str
    concurrency: int
    requests: int
    errors: int
    shed: int  # answered 429 by admission control (not in the latency figures)
    p50_ms: float
    p95_ms: float
    p99_ms: float
    throughput_rps: float


async def _run(base_url: str, queries: list[str], mode: str, concurrency: int, requests: int, k: int) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    shed = 0
    counter = itertools.count()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal errors, shed
            while (i := next(counter)) < requests:
                started = time.perf_counter()
                r = await client.get("/search", params={"q": queries[i % len(queries)], "k": k, "mode": mode})
                if r.status_code == 429:  # shed at once: a well-behaved client comes back after Retry-After
                    shed += 1
                    await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if r.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]).tolist()
    return LoadResult(mode, concurrency, len(latencies), errors, shed, p50, p95, p99, len(latencies) / wall)


def run_load(base_url: str, queries: list[str], mode: str, concurrency: int, requests: int, k: int = 5) -> LoadResult:
    """Send `requests` searches at `concurrency` and measure them (after a short warm-up)."""
    asyncio.run(_run(base_url, queries, mode, concurrency, min(requests, 2 * concurrency), k))  # warm-up
    return asyncio.run(_run(base_url, queries, mode, concurrency, requests, k))


class WriteLoad:
    """A background writer that upserts batches of 10 documents through the API until stopped."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=120, headers={"Authorization": f"Bearer {api_key}"})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.writes = 0
        self.errors = 0
        self._started = 0.0
        self._elapsed = 0.0

    def _run(self) -> None:
        for n in itertools.count():
            if self._stop.is_set():
                return
            batch = [
                {"id": f"bench-{n}-{i}", "text": f"Benchmark note {n}.{i}: wind turbines, tides and harbour cranes."}
                for i in range(10)
            ]
            r = self._client.post("/documents", json={"documents": batch})
            if r.status_code == 200:
                self.writes += 1
            else:
                self.errors += 1

    def rate(self) -> float:
        """Committed batches per second while running."""
        return self.writes / self._elapsed if self._elapsed else 0.0

    def __enter__(self) -> WriteLoad:
        self._started = time.perf_counter()
        self._thread.start()
        time.sleep(0.5)  # let the first write get going
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=300)
        self._elapsed = time.perf_counter() - self._started
        self._client.close()
        if self.errors:
            raise RuntimeError(f"{self.errors} writes failed during the benchmark")
