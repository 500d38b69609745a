"""Each search stage on its own: candidates, fusion, grouping and widening, the stage hook, introductions and
hydration, against brute force over every chunk, on both engines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from indexer.retrieval.candidates import Candidates, retrieve
from indexer.retrieval.definitions import introduce
from indexer.retrieval.fusion import RRF_K, Fusion, rrf
from indexer.retrieval.hits import hydrate
from indexer.retrieval.options import SearchOptions
from indexer.retrieval.query import QueryContext, Ranked, SearchRequest
from indexer.retrieval.ranking import at_most_per_document, best_first, fuse, more_possible, rank
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Snapshot
from indexer.types import Filter
from tests.fakes import PASSAGES_ALONE, FakeEmbedder

QUERY = "Wang Yi Lavrov Astana security"


def _ctx(
    snapshot: Snapshot, embedder: FakeEmbedder, mode: Mode = Mode.hybrid, window: int = 100, **kw: object
) -> QueryContext:
    where = kw.pop("where", None)
    text = str(kw.pop("text", QUERY))
    options = SearchOptions.model_validate({"k": 5, **kw})
    request = SearchRequest(text, options, mode, Fusion.dbsf, 0.5, where=where)  # type: ignore[arg-type]
    return QueryContext.open(request, snapshot, embedder, window)


def _cosines(snapshot: Snapshot, embedder: FakeEmbedder, query: str) -> dict[int, float]:
    ids = snapshot.store.chunk_ids()
    records = snapshot.store.chunks(ids)
    texts = [records[i].matched(snapshot.manifest.chunking.passage_context) for i in ids]
    matrix, q = embedder.encode(texts), embedder.encode([query])[0]
    return dict(zip(ids, (matrix @ q).tolist(), strict=True))


def test_candidates_are_each_retrievers_top_n(fake_snapshot: Snapshot, fake_embedder: FakeEmbedder) -> None:
    ctx = _ctx(fake_snapshot, fake_embedder)
    found = retrieve(ctx, 7)
    cosines = _cosines(fake_snapshot, fake_embedder, QUERY)
    expected = sorted(cosines.items(), key=lambda item: (-item[1], item[0]))[:7]
    np.testing.assert_allclose([s for _, s in found.dense], [s for _, s in expected], rtol=1e-5, atol=1e-6)
    all_bm25 = ctx.lexical_scores(fake_snapshot.store.chunk_ids())
    best = sorted(((c, s) for c, s in all_bm25.items() if s > 0), key=lambda item: (-item[1], item[0]))[:7]
    assert [c for c, _ in found.lexical] == [c for c, _ in best]
    np.testing.assert_allclose([s for _, s in found.lexical], [s for _, s in best], rtol=1e-5)


def test_candidates_of_a_single_mode_leave_the_other_list_empty(
    fake_snapshot: Snapshot, fake_embedder: FakeEmbedder
) -> None:
    dense_only = retrieve(_ctx(fake_snapshot, fake_embedder, Mode.dense), 5)
    lexical_only = retrieve(_ctx(fake_snapshot, fake_embedder, Mode.lexical), 5)
    assert len(dense_only.dense) == 5 and dense_only.lexical == []
    assert lexical_only.dense == [] and len(lexical_only.lexical) == 5


def test_candidates_respect_the_filter(fake_snapshot: Snapshot, fake_embedder: FakeEmbedder) -> None:
    doc = fake_snapshot.store.documents()[0].doc_id
    ctx = _ctx(fake_snapshot, fake_embedder, where=Filter(doc_ids=(doc,)))
    found = retrieve(ctx, 50)
    mine = set(fake_snapshot.store.chunk_ids_of([doc])[doc])
    assert ctx.total == len(mine)
    assert {c for c, _ in found.dense} == mine
    assert {c for c, _ in found.lexical} <= mine


def test_fusion_of_single_modes_is_their_own_list_and_rrf_is_reciprocal_rank(
    fake_snapshot: Snapshot, fake_embedder: FakeEmbedder
) -> None:
    ctx = _ctx(fake_snapshot, fake_embedder)
    found = retrieve(ctx, 10)
    assert fuse(_ctx(fake_snapshot, fake_embedder, Mode.dense), found) == found.dense
    assert fuse(_ctx(fake_snapshot, fake_embedder, Mode.lexical), found) == found.lexical
    rrf_ctx = QueryContext.open(
        SearchRequest(QUERY, SearchOptions(k=5), Mode.hybrid, Fusion.rrf, 0.5),
        fake_snapshot,
        fake_embedder,
        100,
    )
    expected = rrf([[c for c, _ in found.dense], [c for c, _ in found.lexical]], RRF_K)
    assert fuse(rrf_ctx, found) == best_first(expected)


def test_grouping_keeps_order_and_caps_each_document(fake_snapshot: Snapshot, fake_embedder: FakeEmbedder) -> None:
    ctx = _ctx(fake_snapshot, fake_embedder)
    ranked = fuse(ctx, retrieve(ctx, 40))
    grouped = at_most_per_document(ctx, ranked, 2)
    doc_of = fake_snapshot.store.doc_ids_of([c for c, _ in ranked])
    counts: dict[str, int] = {}
    for cid, _ in grouped:
        counts[doc_of[cid]] = counts.get(doc_of[cid], 0) + 1
    assert max(counts.values()) <= 2
    assert grouped == [item for item in ranked if item in grouped]  # a subsequence, order kept
    # what was dropped is exactly each document's third passage and later
    seen: dict[str, int] = {}
    for cid, score in ranked:
        seen[doc_of[cid]] = seen.get(doc_of[cid], 0) + 1
        assert ((cid, score) in grouped) == (seen[doc_of[cid]] <= 2)


def test_more_candidates_are_asked_for_only_while_they_could_add_a_hit(
    fake_snapshot: Snapshot, fake_embedder: FakeEmbedder
) -> None:
    ctx = _ctx(fake_snapshot, fake_embedder, Mode.dense)
    assert more_possible(ctx, retrieve(ctx, 3))
    assert not more_possible(ctx, retrieve(ctx, ctx.total))  # everything is a candidate already
    high = _ctx(fake_snapshot, fake_embedder, Mode.dense, min_score=2.0)  # above any cosine
    assert not more_possible(high, retrieve(high, 3))
    nothing = Candidates(3, [], [])  # every retriever returned less than asked: it has no more
    assert not more_possible(ctx, nothing)


def test_widening_fills_k_documents_from_a_short_candidate_list(
    fake_snapshot: Snapshot, fake_embedder: FakeEmbedder
) -> None:
    ctx = _ctx(fake_snapshot, fake_embedder, Mode.dense, window=1, max_per_doc=1)
    documents = fake_snapshot.store.counts()[0]
    ranked, candidates = rank(ctx)  # one candidate at first: widening must bring the rest
    assert candidates.n > 1
    assert len(ranked) >= min(ctx.request.options.k, documents)
    doc_of = fake_snapshot.store.doc_ids_of([c for c, _ in ranked])
    assert len({doc_of[c] for c, _ in ranked}) == len(ranked)


@dataclass(frozen=True)
class _Boost:
    """A stage that lifts the passages of one document above every other, and says by how much."""

    doc_id: str
    snapshot: Snapshot
    name: str = "boost"
    records_own_scores: bool = False

    def __call__(self, ctx: QueryContext, ranked: Ranked) -> Ranked:
        doc_of = self.snapshot.store.doc_ids_of([c for c, _ in ranked])
        rescored = {cid: score + (10.0 if doc_of[cid] == self.doc_id else 0.0) for cid, score in ranked}
        return best_first(rescored)


def test_a_stage_reorders_the_ranking_and_every_hit_explains_its_score(
    fake_snapshot: Snapshot, fake_embedder: FakeEmbedder
) -> None:
    plain = Searcher(fake_snapshot, fake_embedder, defaults=PASSAGES_ALONE).search(QUERY, k=5)
    last = plain.hits[-1]
    stages = [_Boost(last.doc_id, fake_snapshot)]
    boosted = Searcher(fake_snapshot, fake_embedder, stages=stages, defaults=PASSAGES_ALONE).search(QUERY, k=5)
    assert boosted.hits[0].doc_id == last.doc_id
    for hit in boosted.hits:
        assert hit.stage_scores == {"boost": pytest.approx(hit.score)}
        assert hit.dense is not None  # the retrievers' evidence is still there
    assert all(hit.stage_scores == {} for hit in plain.hits)


def test_introductions_pass_other_queries_through(fake_snapshot: Snapshot, fake_embedder: FakeEmbedder) -> None:
    ctx = _ctx(fake_snapshot, fake_embedder)
    top = fuse(ctx, retrieve(ctx, 5))[:5]
    assert introduce(ctx, top) == (top, {}, {})


def test_hydration_explains_each_hit_from_the_snapshot(fake_snapshot: Snapshot, fake_embedder: FakeEmbedder) -> None:
    ctx = _ctx(fake_snapshot, fake_embedder)
    candidates = retrieve(ctx, 10)
    top = fuse(ctx, candidates)[:5]
    hits = hydrate(ctx, top, candidates, {}, {})
    cosines = _cosines(fake_snapshot, fake_embedder, QUERY)
    dense_rank = {c: r for r, (c, _) in enumerate(candidates.dense, start=1)}
    for rank_no, ((cid, score), hit) in enumerate(zip(top, hits, strict=True), start=1):
        doc = fake_snapshot.store.document(hit.doc_id)
        assert doc is not None and doc.text[hit.start : hit.end] == hit.text
        assert (hit.rank, hit.chunk_id, hit.score) == (rank_no, cid, score)
        assert hit.dense == pytest.approx(cosines[cid], abs=1e-5)
        assert hit.dense_rank == dense_rank.get(cid)
        assert hit.highlight is not None
