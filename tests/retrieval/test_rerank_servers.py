"""Reranking servers: a loopback server speaking TEI's `/rerank` and the Cohere-style `/v1/rerank` contracts,
scoring with a tiny cross-encoder, reranks exactly as that cross-encoder does in process; a server that is down,
refuses the key or answers nonsense leaves the fused order, and the search says why (never the key)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.model_servers import KEY, ModelServer
from indexer.rerank.base import RerankerError
from indexer.rerank.cross_encoder import CrossEncoderReranker
from indexer.rerank.server import RerankApi, ServerReranker
from indexer.retrieval.rerank import RerankStage
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Backend
from tests.fakes import FakeEmbedder
from tests.tiny_models import make_tiny_cross_encoder

QUESTION = "Where did Wang Yi meet Lavrov"


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> CrossEncoderReranker:
    return CrossEncoderReranker(make_tiny_cross_encoder(tmp_path_factory.mktemp("ce")))


@pytest.fixture(scope="module")
def server(local: CrossEncoderReranker) -> Iterator[ModelServer]:
    running = ModelServer(reranker=local)
    yield running
    running.stop()


def _remote(server: ModelServer, api: RerankApi) -> ServerReranker:
    base = server.base if api is RerankApi.tei else f"{server.base}/v1"
    return ServerReranker(api, base, model="tiny", key=KEY)


@pytest.mark.parametrize("api", list(RerankApi))
def test_a_server_reranks_exactly_as_the_model_in_process(
    seed_backend: Backend, local: CrossEncoderReranker, server: ModelServer, api: RerankApi
) -> None:
    server.fault = ""
    snapshot = seed_backend.open()
    here = Searcher(snapshot, FakeEmbedder(), stages=[RerankStage(local, 8)]).search(QUESTION, k=10)
    there = Searcher(snapshot, FakeEmbedder(), stages=[RerankStage(_remote(server, api), 8)]).search(QUESTION, k=10)
    assert there.rerank == "reranked 8"
    assert [h.chunk_id for h in there.hits] == [h.chunk_id for h in here.hits]
    for a, b in zip(there.hits, here.hits, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-5)


@pytest.mark.parametrize("fault", ["401", "notjson", "fewer", "down"])
@pytest.mark.parametrize("api", list(RerankApi))
def test_a_failing_server_leaves_the_fused_order_and_says_why(
    seed_backend: Backend, server: ModelServer, api: RerankApi, fault: str
) -> None:
    server.fault = fault
    remote = ServerReranker(api, "http://127.0.0.1:9", key=KEY) if fault == "down" else _remote(server, api)
    try:
        with pytest.raises(RerankerError) as raised:
            remote.score(QUESTION, ["one passage", "another passage"])
        assert "reranking server http://127.0.0.1:" in str(raised.value) and KEY not in str(raised.value)
        snapshot = seed_backend.open()
        got = Searcher(snapshot, FakeEmbedder(), stages=[RerankStage(remote, 8)]).search(QUESTION, k=10)
        plain = Searcher(snapshot, FakeEmbedder()).search(QUESTION, k=10)
        assert got.rerank is not None and got.rerank.startswith("failed (") and got.rerank.endswith("fused order")
        assert KEY not in got.rerank
        assert [h.chunk_id for h in got.hits] == [h.chunk_id for h in plain.hits]
    finally:
        server.fault = ""


def test_the_server_is_named_without_its_key() -> None:
    remote = ServerReranker(RerankApi.cohere, "https://rerank.example/v1/", model="m", key=KEY)
    assert remote.model_id == "cohere:https://rerank.example/v1 m" and KEY not in remote.model_id
