"""An agent's load on the MCP endpoint: `tools/call search` from the SDK's own client, one client per concurrent
caller, measured like the REST load (`bench.http_load`) so the two sit side by side."""

from __future__ import annotations

import asyncio
import itertools
import time

import httpx2
import numpy as np
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench.http_load import LoadResult


async def _run(base_url: str, queries: list[str], mode: str, concurrency: int, requests: int, k: int) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    shed = 0
    counter = itertools.count()

    async def caller() -> None:
        nonlocal errors, shed
        async with (
            httpx2.AsyncClient(timeout=60) as http,
            Client(streamable_http_client(f"{base_url}/mcp", http_client=http)) as client,
        ):
            while (i := next(counter)) < requests:
                started = time.perf_counter()
                result = await client.call_tool("search", {"query": queries[i % len(queries)], "k": k, "mode": mode})
                text = " ".join(getattr(c, "text", "") for c in result.content) if result.is_error else ""
                if "retry after" in text.lower():  # admission control shed it: come back as a REST client would
                    shed += 1
                    await asyncio.sleep(1.0)
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                errors += result.is_error

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]).tolist()
    return LoadResult(f"mcp {mode}", concurrency, len(latencies), errors, shed, p50, p95, p99, len(latencies) / wall)


def run_mcp_load(
    base_url: str, queries: list[str], mode: str, concurrency: int, requests: int, k: int = 5
) -> LoadResult:
    """Send `requests` MCP searches at `concurrency` and measure them (after a short warm-up)."""
    asyncio.run(_run(base_url, queries, mode, concurrency, min(requests, 2 * concurrency), k))  # warm-up
    return asyncio.run(_run(base_url, queries, mode, concurrency, requests, k))
