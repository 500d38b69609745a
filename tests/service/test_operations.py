"""Search page, Prometheus metrics and request ids through TestClient (fast tier)."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.conftest import wait_ready
from tests.fakes import FakeEmbedder


def test_page_is_served(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    needles = ('id="q"', 'id="mode"', 'id="k"', 'href="/docs"', 'id="collection"', 'fetch("/collections"')
    for needle in (*needles, 'createElement("mark")'):
        assert needle in html


def test_metrics_count_requests_and_searches(client: TestClient) -> None:
    client.get("/search", params={"q": "Putin", "mode": "dense"})
    client.post("/search", json={"query": "Putin"})
    client.get("/search", params={"q": ""})
    text = client.get("/metrics").text
    assert 'seekr_search_seconds_count{collection="default",mode="dense"} 1.0' in text
    assert 'seekr_search_seconds_count{collection="default",mode="hybrid"} 1.0' in text
    assert 'http_requests_total{handler="/search",method="GET",status="2xx"} 1.0' in text
    assert 'http_requests_total{handler="/search",method="GET",status="4xx"} 1.0' in text
    assert 'http_request_duration_seconds_bucket{handler="/search"' in text
    assert 'seekr_index_documents{collection="default"} 5.0' in text
    assert 'seekr_index_version{collection="default"} 1.0' in text
    assert 'seekr_build_info{model="fake-hash",runtime="fake"' in text
    # the warm-up query, then the dense and the hybrid search: three one-query forward passes
    assert "seekr_query_batch_size_count 3.0" in text and "seekr_query_batch_size_sum 3.0" in text


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    made = client.get("/healthz").headers["X-Request-ID"]
    assert uuid.UUID(made)
    mine = uuid.uuid4().hex
    assert client.get("/healthz", headers={"X-Request-ID": mine}).headers["X-Request-ID"] == mine


def test_two_apps_do_not_share_metrics(fake_seed_index: Path) -> None:
    for _ in range(2):  # a second app in the same process must not hit "duplicated timeseries"
        app = create_app(
            Settings(index_dir=fake_seed_index, model="fake-hash"), embedder_factory=lambda s: FakeEmbedder()
        )
        with TestClient(app) as c:
            wait_ready(c)
            assert "seekr_index_chunks" in c.get("/metrics").text
