"""Admission control: past the in-flight limit and the queue, requests get 429 at once; admitted ones all finish.

The embedder blocks on a gate the test holds, so the service is saturated for certain (not by a lucky race):
the 429s arrive while every admitted request is still waiting, which shows they are answered at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from indexer.embed.base import Vectors
from service.app import create_app
from service.settings import Settings
from tests.conftest import AUTH, HANG_SECONDS, KEY, metric, wait_ready, wait_until
from tests.fakes import FakeEmbedder

LIMIT, QUEUE = 2, 3
Response = Any  # what TestClient returns (its httpx flavour differs between Starlette releases)


class GatedEmbedder(FakeEmbedder):
    """Blocks every encode call while `closed` is set, until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> Vectors:
        assert self.gate.wait(timeout=HANG_SECONDS)
        return super().encode(texts, batch_size=batch_size, progress=progress)


@pytest.fixture
def gated(fake_seed_index: Path) -> Iterator[tuple[TestClient, GatedEmbedder]]:
    embedder = GatedEmbedder()
    settings = Settings(
        index_dir=fake_seed_index,
        model="fake-hash",
        api_key=KEY,
        max_concurrent_searches=LIMIT,
        max_queued_searches=QUEUE,
        max_concurrent_writes=1,
        max_queued_writes=QUEUE,
        retry_after_seconds=2,
    )
    with TestClient(create_app(settings, embedder_factory=lambda s: embedder)) as client:
        wait_ready(client)
        yield client, embedder


def _gauge(client: TestClient, name: str, kind: str, collection: str = "default") -> float:
    """The value of series `name` for `kind` in `collection` (0 when it has none yet)."""
    return metric(client, name, {"kind": kind, "collection": collection}) or 0.0


def _saturate(
    client: TestClient, embedder: GatedEmbedder, kind: str, send: Callable[[int], Response]
) -> tuple[list[Future[Response]], list[Response], ThreadPoolExecutor]:
    """Close the gate, fill the slots and the queue, then send as many again: those must all be shed."""
    embedder.gate.clear()
    admitted = LIMIT if kind == "search" else 1
    pool = ThreadPoolExecutor(max_workers=admitted + QUEUE)
    held = [pool.submit(send, i) for i in range(admitted + QUEUE)]
    wait_until(
        lambda: _gauge(client, "seekr_in_flight", kind) == admitted and _gauge(client, "seekr_queued", kind) == QUEUE,
        f"{admitted} {kind} requests running and {QUEUE} queued",
    )
    shed = [send(100 + i) for i in range(admitted + QUEUE)]  # answered while the gate is still closed
    return held, shed, pool


def test_search_burst_is_shed_at_once_and_admitted_ones_finish(gated: tuple[TestClient, GatedEmbedder]) -> None:
    client, embedder = gated

    def send(i: int) -> Response:
        return client.get("/search", params={"q": f"Putin summit {i}", "mode": "dense"})

    held, shed, pool = _saturate(client, embedder, "search", send)
    try:
        assert all(f.running() or not f.done() for f in held)  # nothing admitted has finished: the gate is shut
        for r in shed:
            assert r.status_code == 429 and r.headers["Retry-After"] == "2", r.text
            assert "retry after 2 s" in r.json()["detail"]
    finally:
        embedder.gate.set()
    assert [f.result(timeout=HANG_SECONDS).status_code for f in held] == [200] * len(held)
    pool.shutdown()
    assert _gauge(client, "seekr_shed_requests_total", "search") == len(shed)
    assert _gauge(client, "seekr_in_flight", "search") == 0 and _gauge(client, "seekr_queued", "search") == 0
    assert client.get("/search", params={"q": "Putin", "mode": "dense"}).status_code == 200  # recovered


def test_write_burst_keeps_every_acknowledged_write(gated: tuple[TestClient, GatedEmbedder]) -> None:
    client, embedder = gated

    def send(i: int) -> Response:
        return client.put(f"/documents/burst-{i}", json={"text": f"Burst document {i} about gannets."}, headers=AUTH)

    held, shed, pool = _saturate(client, embedder, "write", send)
    try:
        assert {r.status_code for r in shed} == {429}
    finally:
        embedder.gate.set()
    acknowledged = [f.result(timeout=HANG_SECONDS) for f in held]
    pool.shutdown()
    assert [r.status_code for r in acknowledged] == [200] * len(held)
    ids = {d["doc_id"] for d in client.get("/documents", params={"limit": 1000}).json()["documents"]}
    assert {f"burst-{i}" for i in range(len(held))} <= ids  # every acknowledged write is there
    assert not {f"burst-{100 + i}" for i in range(len(shed))} & ids  # and no refused one half-applied
    assert _gauge(client, "seekr_shed_requests_total", "write") == len(shed)
