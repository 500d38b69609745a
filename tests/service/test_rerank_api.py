"""SEEKR_RERANKER through HTTP: hits carry their rerank and fused scores, a request can turn the reranker off or
change its depth, and a folder that is not a cross-encoder stops the collection loading with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.conftest import wait_ready, wait_until
from tests.fakes import FakeEmbedder
from tests.tiny_models import make_tiny_cross_encoder, make_tiny_model

QUESTION = "Where did Wang Yi meet Lavrov"


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_cross_encoder(tmp_path_factory.mktemp("ce"))


def test_hits_say_their_rerank_and_fused_scores(fake_seed_index: Path, cross_encoder: Path) -> None:
    settings = Settings(index_dir=fake_seed_index, model="fake-hash", reranker=cross_encoder, rerank_candidates=4)
    with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as client:
        wait_ready(client)
        body = client.get("/search", params={"q": QUESTION, "k": 6}).json()
        assert body["rerank"] == "reranked 4"
        scored = [h for h in body["results"] if h["scores"]["rerank"] is not None]
        assert len(scored) == 4 and body["results"][:4] == scored
        assert [h["score"] for h in scored] == sorted((h["score"] for h in scored), reverse=True)
        assert all(h["score"] == h["scores"]["rerank"] and h["scores"]["fused"] is not None for h in scored)
        off = client.post("/search", json={"query": QUESTION, "k": 6, "rerank": False}).json()
        assert off["rerank"] == "off" and all(h["scores"]["rerank"] is None for h in off["results"])
        two = client.get("/search", params={"q": QUESTION, "k": 6, "rerank_candidates": 2}).json()
        assert two["rerank"] == "reranked 2"
        bad = client.get("/search", params={"q": QUESTION, "rerank_budget_ms": 0})
        assert bad.status_code == 422 and "rerank_budget_ms" in bad.text


def test_a_folder_that_is_not_a_cross_encoder_fails_the_load_with_its_reason(
    fake_seed_index: Path, tmp_path: Path
) -> None:
    not_one = make_tiny_model(tmp_path / "e").parent / "hf"  # an embedder's transformer, not a cross-encoder
    settings = Settings(index_dir=fake_seed_index, model="fake-hash", reranker=not_one)
    with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as client:
        wait_until(lambda: client.get("/readyz").json()["status"] != "loading", "loading to end")
        r = client.get("/readyz")
        assert r.status_code == 503 and "not a cross-encoder" in r.json()["detail"]


def test_a_reranking_server_is_named_by_settings_and_its_key_stays_secret(
    fake_seed_index: Path, cross_encoder: Path
) -> None:
    from bench.model_servers import KEY, ModelServer
    from indexer.rerank.cross_encoder import CrossEncoderReranker

    server = ModelServer(reranker=CrossEncoderReranker(cross_encoder))
    try:
        settings = Settings(
            index_dir=fake_seed_index, model="fake-hash", rerank_api="tei", rerank_url=server.base, rerank_key=KEY
        )
        with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as client:
            wait_ready(client)
            body = client.get("/search", params={"q": QUESTION, "k": 3}).json()
            assert body["rerank"] == "reranked 20"  # SEEKR_RERANK_CANDIDATES
            assert body["results"][0]["scores"]["rerank"] is not None
            server.fault = "401"
            failed = client.get("/search", params={"q": QUESTION, "k": 3}).json()
            assert failed["rerank"].startswith("failed (reranking server") and KEY not in failed["rerank"]
            assert KEY not in client.get("/stats").text
    finally:
        server.stop()


def test_a_reranking_server_needs_its_url() -> None:
    with pytest.raises(ValueError, match="SEEKR_RERANK_URL"):
        Settings(rerank_api="tei")
