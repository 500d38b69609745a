"""The reranker stage: a cross-encoder re-scores the first candidates, as brute force scores them, on both engines;
pages stay slices of one ranking; it can be turned off, and a reranker past its budget leaves the fused order."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from indexer.errors import ConfigError
from indexer.rerank.base import RerankRuntime
from indexer.rerank.cross_encoder import CrossEncoderReranker
from indexer.rerank.factory import load_reranker
from indexer.retrieval.rerank import RerankStage
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Backend
from tests.fakes import FakeEmbedder
from tests.tiny_models import make_tiny_cross_encoder, make_tiny_model

QUESTION = "Where did Wang Yi meet Lavrov"


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_cross_encoder(tmp_path_factory.mktemp("ce"))


@pytest.mark.parametrize("runtime", [RerankRuntime.torch, RerankRuntime.onnx])
def test_the_stage_orders_the_first_candidates_as_the_cross_encoder_scores_them(
    seed_backend: Backend, cross_encoder: Path, runtime: RerankRuntime, model_cache: Path
) -> None:
    from sentence_transformers import CrossEncoder

    snapshot = seed_backend.open()
    plain = Searcher(snapshot, FakeEmbedder())
    stage = RerankStage(load_reranker(cross_encoder, runtime, cache_dir=model_cache), candidates=8)
    reranked = Searcher(snapshot, FakeEmbedder(), stages=[stage])
    for mode in Mode:
        fused = plain.search(QUESTION, k=12, mode=mode).hits
        got = reranked.search(QUESTION, k=12, mode=mode)
        assert got.rerank == f"reranked {min(8, len(fused))}"
        head = fused[:8]
        # Brute force: torch's CrossEncoder on each (question, passage as the index matched it) pair.
        context = snapshot.manifest.chunking.passage_context
        records = snapshot.store.chunks([h.chunk_id for h in head])
        pairs = [(QUESTION, records[h.chunk_id].matched(context)) for h in head]
        expected = [float(s) for s in CrossEncoder(str(cross_encoder), device="cpu").predict(pairs)]
        triples = zip(expected, [h.chunk_id for h in head], [h.score for h in head], strict=True)
        want = sorted(triples, key=lambda t: -t[0])
        assert [h.chunk_id for h in got.hits[: len(head)]] == [cid for _, cid, _ in want]
        for hit, (score, _, fused_score) in zip(got.hits, want, strict=False):
            assert hit.score == pytest.approx(score, abs=1e-5)
            assert hit.stage_scores["rerank"] == pytest.approx(score, abs=1e-5)
            assert hit.stage_scores["fused"] == pytest.approx(fused_score, abs=1e-6)
        # Past the candidates, the fused order, with no rerank score.
        assert [h.chunk_id for h in got.hits[8:]] == [h.chunk_id for h in fused[8:]]
        assert all("rerank" not in h.stage_scores for h in got.hits[8:])


def test_pages_are_slices_of_one_reranked_ranking(seed_backend: Backend, cross_encoder: Path) -> None:
    snapshot = seed_backend.open()
    searcher = Searcher(snapshot, FakeEmbedder(), stages=[RerankStage(CrossEncoderReranker(cross_encoder), 6)])
    whole = searcher.search(QUESTION, k=12).hits
    pages = [searcher.search(QUESTION, k=4, offset=o).hits for o in (0, 4, 8)]
    assert [h.chunk_id for page in pages for h in page] == [h.chunk_id for h in whole]


def test_a_request_can_turn_it_off_or_change_its_depth(seed_backend: Backend, cross_encoder: Path) -> None:
    snapshot = seed_backend.open()
    searcher = Searcher(snapshot, FakeEmbedder(), stages=[RerankStage(CrossEncoderReranker(cross_encoder), 8)])
    off = searcher.search(QUESTION, k=10, rerank=False)
    plain = Searcher(snapshot, FakeEmbedder()).search(QUESTION, k=10)
    assert off.rerank == "off" and [h.chunk_id for h in off.hits] == [h.chunk_id for h in plain.hits]
    assert all(h.stage_scores.get("rerank") is None for h in off.hits)
    deeper = searcher.search(QUESTION, k=10, rerank_candidates=3)
    assert deeper.rerank == "reranked 3"
    assert sum("rerank" in h.stage_scores for h in deeper.hits) == 3


class _Held:
    """A reranker that answers only once released: a server that is too slow, without a race on the clock."""

    model_id = "held"

    def __init__(self) -> None:
        self.release = threading.Event()

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        self.release.wait(timeout=60)
        return [float(i) for i in range(len(passages))]


def test_past_its_budget_the_fused_order_stands_and_the_result_says_so(seed_backend: Backend) -> None:
    snapshot = seed_backend.open()
    held = _Held()
    try:
        searcher = Searcher(snapshot, FakeEmbedder(), stages=[RerankStage(held, 8, budget_ms=50)])
        got = searcher.search(QUESTION, k=10)
        plain = Searcher(snapshot, FakeEmbedder()).search(QUESTION, k=10)
        assert got.rerank == "over budget (50 ms): fused order"
        assert [h.chunk_id for h in got.hits] == [h.chunk_id for h in plain.hits]
        assert all("rerank" not in h.stage_scores for h in got.hits)
    finally:
        held.release.set()


def test_a_folder_that_is_not_a_cross_encoder_is_refused_when_loaded(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no config\.json"):
        CrossEncoderReranker(tmp_path)
    embedder = make_tiny_model(tmp_path / "e").parent / "hf"  # a BertModel: an embedder's transformer
    with pytest.raises(ConfigError, match="not a cross-encoder"):
        CrossEncoderReranker(embedder)
