"""Embedding servers through HTTP: the default collection named by SEEKR_EMBED_* settings searches as the model in
process does; when the server fails, dense and hybrid searches answer 503 with the reason while lexical ones go
on, and the key appears nowhere; PUT /collections makes a collection whose model is a server's."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bench.model_servers import KEY as SERVER_KEY
from bench.model_servers import MODEL, ModelServer
from indexer.building.builder import build_index
from indexer.embed.runtime import load_server_embedder
from indexer.embed.server import EmbedApi, ServerOptions
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.settings import BackendName
from service.app import create_app
from service.settings import Settings
from tests.conftest import AUTH, KEY, engine_backend, storage, wait_ready
from tests.fakes import FakeEmbedder

QUESTION = "Where did Wang Yi meet Lavrov"


@pytest.fixture(scope="module")
def served() -> Iterator[ModelServer]:
    running = ModelServer(FakeEmbedder())
    yield running
    running.stop()


@pytest.fixture
def server(served: ModelServer) -> ModelServer:
    served.reset()
    return served


def _settings(server: ModelServer, root: Path, engine: BackendName) -> Settings:
    # No model named: SEEKR_EMBED_API and SEEKR_EMBED_MODEL name it.
    return storage(
        engine, root, model=None, embed_api=EmbedApi.tei, embed_url=server.base, embed_model=MODEL,
        embed_key=SERVER_KEY, embed_cache=root / "vectors",
    )  # fmt: skip


@pytest.fixture
def built(server: ModelServer, engine: BackendName, tmp_path: Path, seeds_copy: Path) -> Settings:
    settings = _settings(server, tmp_path, engine)
    assert settings.model == f"tei:{MODEL}"
    options = settings.server_options(settings.model)
    assert options is not None
    backend = engine_backend(engine, tmp_path)
    build_index(seeds_copy, backend, load_server_embedder(options))
    backend.close()
    return settings


def test_the_default_collection_searches_through_the_server(
    built: Settings, engine: BackendName, tmp_path: Path
) -> None:
    with TestClient(create_app(built)) as client:
        wait_ready(client)
        got = client.get("/search", params={"q": QUESTION, "k": 5, "mode": "dense"}).json()["results"]
    backend = engine_backend(engine, tmp_path)
    expected = (
        Searcher(backend.open(), FakeEmbedder(model_id=f"tei:{MODEL}")).search(QUESTION, k=5, mode=Mode.dense).hits
    )
    backend.close()
    assert [h["text"] for h in got] == [h.text for h in expected]
    assert [h["score"] for h in got] == pytest.approx([h.score for h in expected], abs=1e-5)


@pytest.mark.parametrize("fault", ["401", "notjson", "nan"])
def test_a_failing_server_gives_503_with_the_reason_and_lexical_search_goes_on(
    built: Settings, server: ModelServer, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = built.model_copy(update={"embed_retries": 0})
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        server.fault = fault
        for mode in ("dense", "hybrid"):
            r = client.get("/search", params={"q": QUESTION, "mode": mode})
            assert r.status_code == 503, r.text
            assert f"{server.base}/embed" in r.json()["detail"]
        lexical = client.get("/search", params={"q": QUESTION, "mode": "lexical"})
        assert lexical.status_code == 200 and lexical.json()["results"]
        stats = client.get("/stats").text
        assert SERVER_KEY not in stats and SERVER_KEY not in r.text
    assert SERVER_KEY not in caplog.text


def test_a_server_down_at_start_still_serves_lexical_searches(built: Settings, server: ModelServer) -> None:
    server.fault = "401"
    with TestClient(create_app(built.model_copy(update={"embed_retries": 0}))) as client:
        wait_ready(client)
        assert client.get("/search", params={"q": QUESTION, "mode": "lexical"}).status_code == 200
        assert client.get("/search", params={"q": QUESTION}).status_code == 503
        server.reset()
        assert client.get("/search", params={"q": QUESTION}).status_code == 200


def test_put_collections_makes_a_collection_of_a_server_model(
    server: ModelServer, engine: BackendName, tmp_path: Path, seed_backend: object
) -> None:
    settings = storage(engine, tmp_path, api_key=KEY, embed_key=SERVER_KEY, embed_cache=tmp_path / "vectors")
    app = create_app(settings, embedder_factory=lambda s: FakeEmbedder())
    with TestClient(app) as client:
        wait_ready(client)
        body = {"embed_api": "openai", "embed_url": server.url("openai"), "embed_model": MODEL}
        made = client.put("/collections/remote", json=body, headers=AUTH)
        assert made.status_code == 201, made.text
        assert made.json()["model"] == f"openai:{MODEL}"
        assert made.json()["embed_url"] == server.url("openai")
        assert made.json()["dimension"] == FakeEmbedder().dimension
        doc = {"text": "The lighthouse keeper climbed the spiral stairs every evening."}
        put = client.put("/collections/remote/documents/lighthouse", json=doc, headers=AUTH)
        assert put.status_code == 200, put.text
        hits = client.get("/collections/remote/search", params={"q": "lighthouse keeper stairs"}).json()["results"]
        assert hits[0]["doc_id"] == "lighthouse"
        assert server.texts > 0
        # Without a URL (and none set for the service) it says what is missing.
        missing = client.put("/collections/r2", json={"embed_api": "tei", "embed_model": MODEL}, headers=AUTH)
        assert missing.status_code == 422 and "embed_url" in missing.json()["detail"]
        nameless = client.put("/collections/r3", json={"embed_api": "tei"}, headers=AUTH)
        assert nameless.status_code == 422 and "embed_model" in nameless.json()["detail"]
        # A server that refuses the key: a clear error at creation, never at the first search.
        server.fault = "401"
        refused = client.put("/collections/r4", json={**body, "embed_model": "other"}, headers=AUTH)
        assert refused.status_code == 503 and "401" in refused.json()["detail"]
        assert SERVER_KEY not in refused.text
        # A document written meanwhile: 503, and nothing written.
        late = client.put("/collections/remote/documents/late", json={"text": "Arrives late."}, headers=AUTH)
        assert late.status_code == 503 and "401" in late.json()["detail"]
        assert client.get("/collections/remote/documents/late").status_code == 404


def test_server_options_come_from_the_settings(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file\n", encoding="utf-8")
    settings = Settings(embed_api=EmbedApi.ollama, embed_model="nomic-embed-text", embed_key_file=key_file)
    assert settings.model == "ollama:nomic-embed-text"
    options = settings.server_options(settings.model, "http://gpu-host:11434")
    assert options == ServerOptions(api=EmbedApi.ollama, url="http://gpu-host:11434", model="nomic-embed-text",
                                    key="from-a-file")  # fmt: skip
    with pytest.raises(ValueError, match="SEEKR_EMBED_MODEL"):
        Settings(embed_api=EmbedApi.tei)
