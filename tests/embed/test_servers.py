"""Embedding servers: a loopback server speaking each provider's contract and embedding with the bundled MiniLM
builds an index that ranks exactly as the model in process does, on both engines; every fault stops a build with
the server named and what it answered (never the key), keeping the index as it was; retries ride out a server
that is briefly overloaded; a build that stopped goes on without paying again for what it had embedded."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.model_servers import KEY, MODEL, ModelServer
from indexer.building.builder import build_index
from indexer.embed.base import Embedder
from indexer.embed.cache import CachedEmbedder, VectorCache
from indexer.embed.runtime import Runtime, load_embedder, load_server_embedder
from indexer.embed.server import EmbedApi, ServerEmbedder, ServerOptions, parse_server_model
from indexer.errors import ConfigError, EmbeddingServerError
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.settings import BackendName
from tests.conftest import SEEDS, engine_backend

QUESTIONS = ["Where did Wang Yi meet Lavrov", "storm damage and flooding", "what did the central bank decide"]


@pytest.fixture(scope="module")
def model(model_cache: Path) -> Embedder:
    """The bundled model on fp32 ONNX: int8's activations are quantised per batch, so its vectors depend on which
    texts share a batch, and a server batches otherwise than the model in process."""
    return load_embedder(runtime=Runtime.onnx)


@pytest.fixture(scope="module")
def served(model: Embedder) -> Iterator[ModelServer]:
    running = ModelServer(model)
    yield running
    running.stop()


@pytest.fixture
def server(served: ModelServer) -> ModelServer:
    served.reset()
    return served


def _options(server: ModelServer, api: EmbedApi, **changes: Any) -> ServerOptions:
    options = ServerOptions(api=api, url=server.url(api.value), model=MODEL, key=KEY, backoff=0.01)
    return dataclasses.replace(options, **changes)


def _remote(server: ModelServer, api: EmbedApi, **changes: Any) -> ServerEmbedder:
    return load_server_embedder(_options(server, api, **changes))


@pytest.mark.parametrize("api", list(EmbedApi))
def test_the_server_gives_the_vectors_of_the_model_in_process(
    server: ModelServer, model: Embedder, api: EmbedApi
) -> None:
    texts = [f"passage number {i} about {w}" for i, w in enumerate(["rivers", "taxes", "the moon"] * 30)]
    remote = _remote(server, api, batch_size=7, concurrency=3)
    here, there = model.encode(texts), remote.encode(texts)
    np.testing.assert_allclose(there, here, atol=1e-5)
    assert remote.dimension == model.dimension
    assert remote.model_id == f"{api.value}:{MODEL}" and remote.runtime == f"server:{api.value}"
    assert server.texts == len(texts) + 1  # and one probe of the dimension
    # The chunker counts the bundled tokenizer's tokens, as the model in process does.
    assert remote.token_spans(texts[0]) == model.token_spans(texts[0])
    assert remote.max_tokens == model.max_tokens


@pytest.mark.parametrize("engine", [BackendName.local, pytest.param(BackendName.milvus, marks=pytest.mark.milvus)])
@pytest.mark.parametrize("api", list(EmbedApi))
def test_an_index_built_through_a_server_ranks_as_the_model_in_process(
    server: ModelServer, model: Embedder, api: EmbedApi, engine: BackendName, tmp_path: Path
) -> None:
    here_backend = engine_backend(engine, tmp_path / "here")
    there_backend = engine_backend(engine, tmp_path / "there")
    remote = _remote(server, api)
    build_index(SEEDS, here_backend, model)
    report = build_index(SEEDS, there_backend, remote)
    assert report.embed_seconds > 0 and report.embedded_chunks > 0
    here, there = here_backend.open(), there_backend.open()
    assert there.manifest.model.id == f"{api.value}:{MODEL}"
    assert there.manifest.model.endpoint == server.url(api.value)
    assert there.manifest.counts == here.manifest.counts
    for question in QUESTIONS:
        for mode in (Mode.dense, Mode.hybrid):
            a = Searcher(here, model).search(question, k=8, mode=mode)
            b = Searcher(there, remote).search(question, k=8, mode=mode)
            assert [h.text for h in b.hits] == [h.text for h in a.hits]
            for x, y in zip(b.hits, a.hits, strict=True):
                assert x.score == pytest.approx(y.score, abs=1e-5)
    here_backend.close()
    there_backend.close()


FAULTS = {
    "401": "answered 401",
    "notjson": "not JSON",
    "fewer": "vectors for",
    "nan": "NaN",
    "dim": "dimension",
    "slow": "did not answer (ReadTimeout",
    "fail_after": "answered 500",
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("api", list(EmbedApi))
def test_a_fault_stops_the_build_naming_the_server_and_keeps_the_index(
    server: ModelServer, api: EmbedApi, fault: str, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    index = tmp_path / "index"
    # The dimension is recorded by the first build; later answers are checked against it.
    build_index(docs, index, _remote(server, api))
    before = engine_backend(BackendName.local, tmp_path).open().manifest
    next(docs.iterdir()).write_text("A changed document about lighthouses and their keepers.\n", encoding="utf-8")
    server.fault = fault
    remote = load_server_embedder(_options(server, api, timeout=0.3, retries=1), dimension=before.model.dimension)
    with pytest.raises(EmbeddingServerError) as caught:
        build_index(docs, index, remote)
    message = str(caught.value)
    assert FAULTS[fault] in message
    assert server.url(api.value) in message
    assert KEY not in message
    after = engine_backend(BackendName.local, tmp_path).open().manifest
    assert after.version == before.version and after.counts == before.counts


def test_a_server_that_is_down_is_named(model: Embedder) -> None:
    gone = ModelServer(model)
    url = gone.base
    gone.stop()
    remote = load_server_embedder(ServerOptions(api=EmbedApi.tei, url=url, model=MODEL, retries=2, backoff=0.01))
    with pytest.raises(EmbeddingServerError, match=r"did not answer \(ConnectError.*\(3 attempts\)"):
        remote.encode(["anything"])


def test_retries_ride_out_a_briefly_overloaded_server(server: ModelServer, model: Embedder) -> None:
    server.fault, server.flaky = "flaky", 3
    remote = _remote(server, EmbedApi.openai, retries=3)
    vectors = remote.encode(["a question about rivers"])
    np.testing.assert_allclose(vectors, model.encode(["a question about rivers"]), atol=1e-5)
    assert server.requests == 5  # three 503s, the probe and the batch


def test_a_stopped_build_goes_on_without_embedding_again(server: ModelServer, tmp_path: Path) -> None:
    cache = VectorCache(tmp_path / "cache")
    remote = _remote(server, EmbedApi.tei, batch_size=4, concurrency=1)
    # Fails once 6 requests were answered: the probe, then 5 batches of 4 (two slices of 8 were stored).
    server.fault, server.fail_after = "fail_after", 6
    with pytest.raises(EmbeddingServerError, match="answered 500"):
        build_index(SEEDS, tmp_path / "index", CachedEmbedder(remote, cache, slice_size=8))
    server.reset()
    resumed = CachedEmbedder(remote, cache, slice_size=8)
    report = build_index(SEEDS, tmp_path / "index", resumed)
    assert resumed.hits == 16
    assert server.texts == report.embedded_chunks - 16
    # And the index is the one a build that never stopped makes.
    build_index(SEEDS, tmp_path / "clean" / "index", _remote(server, EmbedApi.tei))
    resumed_index = engine_backend(BackendName.local, tmp_path).open()
    clean_index = engine_backend(BackendName.local, tmp_path / "clean").open()
    assert resumed_index.manifest.counts == clean_index.manifest.counts
    for question in QUESTIONS:
        a = Searcher(resumed_index, remote).search(question, k=8, mode=Mode.dense)
        b = Searcher(clean_index, remote).search(question, k=8, mode=Mode.dense)
        assert [(h.text, round(h.score, 5)) for h in a.hits] == [(h.text, round(h.score, 5)) for h in b.hits]
    cache.close()


def test_server_models_are_named_api_colon_model() -> None:
    assert parse_server_model("openai:text-embedding-3-small") == (EmbedApi.openai, "text-embedding-3-small")
    assert parse_server_model("tei:BAAI/bge-large-en-v1.5") == (EmbedApi.tei, "BAAI/bge-large-en-v1.5")
    assert parse_server_model("sentence-transformers/all-MiniLM-L6-v2") is None
    assert parse_server_model("/models/e5:v2") is None
    with pytest.raises(ConfigError, match="SEEKR_EMBED_URL"):
        load_embedder("ollama:nomic-embed-text")


def test_the_cli_names_a_bad_server_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from indexer.cli import main

    monkeypatch.setenv("SEEKR_EMBED_BATCH_SIZE", "lots")
    assert main(["build", str(SEEDS), "--index", str(tmp_path / "i"), "--quiet", "--model", "tei:m"]) == 2
    assert "SEEKR_EMBED_BATCH_SIZE: Input should be a valid integer" in capsys.readouterr().err
    monkeypatch.delenv("SEEKR_EMBED_BATCH_SIZE")
    monkeypatch.setenv("SEEKR_EMBED_API", "tei")
    assert main(["build", str(SEEDS), "--index", str(tmp_path / "i"), "--quiet"]) == 2
    assert "needs SEEKR_EMBED_MODEL" in capsys.readouterr().err
    monkeypatch.setenv("SEEKR_EMBED_MODEL", "m")
    assert main(["build", str(SEEDS), "--index", str(tmp_path / "i"), "--quiet"]) == 2
    assert "SEEKR_EMBED_URL" in capsys.readouterr().err
