"""A reranker per collection: a build records it (and keeps it, or removes it when told), changing it re-embeds
nothing, `indexer query` uses the recorded one, PUT /collections takes one (a folder that is not a cross-encoder
is refused there, never at the first search), and the collection's searches rerank while others do not."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer.building.builder import build_index
from indexer.cli import main
from indexer.manifest import RerankerInfo
from indexer.rerank.factory import reranker_info
from indexer.storage.base import Backend
from indexer.storage.settings import BackendName
from service.app import create_app
from tests.conftest import AUTH, KEY, SEEDS, storage, wait_ready
from tests.fakes import FakeEmbedder
from tests.tiny_models import make_tiny_cross_encoder

QUESTION = "Where did Wang Yi meet Lavrov"


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_cross_encoder(tmp_path_factory.mktemp("ce"))


def test_a_build_records_keeps_and_removes_the_reranker(
    seed_backend: Backend, seeds_copy: Path, cross_encoder: Path
) -> None:
    info = reranker_info(str(cross_encoder))
    assert info == RerankerInfo(kind="cross-encoder", location=str(cross_encoder.resolve()))
    before = seed_backend.open().version
    report = build_index(seeds_copy, seed_backend, FakeEmbedder(), reranker=info)
    assert report.reranker_changed and report.embedded_chunks == 0 and report.version == before + 1
    assert seed_backend.read_manifest().model.reranker == info
    kept = build_index(seeds_copy, seed_backend, FakeEmbedder())  # not told: the recorded one stays
    assert not kept.changed and seed_backend.read_manifest().model.reranker == info
    server = reranker_info("tei:http://127.0.0.1:9/", None)
    assert server == RerankerInfo(kind="tei", location="http://127.0.0.1:9")
    removed = build_index(seeds_copy, seed_backend, FakeEmbedder(), reranker=None)
    assert removed.reranker_changed and removed.embedded_chunks == 0
    assert seed_backend.read_manifest().model.reranker is None


def test_the_cli_records_it_and_queries_with_it(
    cross_encoder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], model_cache: Path
) -> None:
    index = tmp_path / "index"
    assert main(["build", str(SEEDS), "--index", str(index), "--quiet", "--reranker", str(cross_encoder)]) == 0
    assert f"reranker: cross-encoder {cross_encoder.resolve()} recorded" in capsys.readouterr().out
    assert main(["query", str(index), QUESTION, "-k", "3"]) == 0
    assert ", reranked 20," in capsys.readouterr().out  # the depth, whatever k
    assert main(["query", str(index), QUESTION, "-k", "3", "--no-rerank"]) == 0
    assert "reranked" not in capsys.readouterr().out
    # Not a cross-encoder: refused before anything is read.
    assert main(["build", str(SEEDS), "--index", str(index), "--quiet", "--reranker", str(SEEDS)]) == 2
    assert "not a model folder" in capsys.readouterr().err


@pytest.mark.parametrize("engine", [BackendName.local, pytest.param(BackendName.milvus, marks=pytest.mark.milvus)])
def test_put_collections_takes_a_reranker(
    engine: BackendName, tmp_path: Path, seed_backend: Backend, cross_encoder: Path, model_cache: Path
) -> None:
    settings = storage(engine, tmp_path, api_key=KEY)
    with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as client:
        wait_ready(client)
        made = client.put("/collections/ranked", json={"reranker": str(cross_encoder)}, headers=AUTH)
        assert made.status_code == 201, made.text
        assert made.json()["reranker"] == f"cross-encoder {cross_encoder.resolve()}"
        doc = {"text": "Wang Yi met Lavrov in Moscow to talk about security.", "title": "Meeting"}
        assert client.put("/collections/ranked/documents/m", json=doc, headers=AUTH).status_code == 200
        ranked = client.get("/collections/ranked/search", params={"q": QUESTION}).json()
        assert ranked["rerank"] == "reranked 1" and ranked["results"][0]["scores"]["rerank"] is not None
        assert client.get("/search", params={"q": QUESTION}).json()["rerank"] is None  # the default has none
        # Another reranker for the same name: it exists with other settings.
        other = client.put("/collections/ranked", json={"reranker": "tei:http://127.0.0.1:9"}, headers=AUTH)
        assert other.status_code == 409 and "reranker" in other.json()["detail"]
        # Not a cross-encoder, or not a folder at all: refused at creation, with the reason.
        bad = client.put("/collections/bad", json={"reranker": str(SEEDS)}, headers=AUTH)
        assert bad.status_code == 422 and "not a model folder" in bad.json()["detail"]
        nowhere = client.put("/collections/bad", json={"reranker": "/no/such/folder"}, headers=AUTH)
        assert nowhere.status_code == 422 and "neither a folder nor a server" in nowhere.json()["detail"]
