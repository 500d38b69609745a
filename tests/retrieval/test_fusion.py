"""Distribution-based score fusion, checked against scores computed by brute force over every chunk."""

from __future__ import annotations

import pytest

from indexer.retrieval.fusion import Fusion, dbsf, dbsf_bounds
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Snapshot
from tests.fakes import PASSAGES_ALONE, FakeEmbedder

QUERIES = ["Shanghai Cooperation Organization summit Samarkand", "Putin Xi meeting", "Lavrov Wang Yi Astana"]


def _brute(snapshot: Snapshot, embedder: FakeEmbedder, query: str) -> tuple[dict[int, float], dict[int, float]]:
    """Cosine and BM25 of every chunk, computed without the searcher."""
    ids = snapshot.store.chunk_ids()
    vectors = snapshot.vectors.reconstruct_batch(ids)
    cosine = vectors @ embedder.encode([query])[0]
    lexical = snapshot.lexical.query(query)
    assert lexical is not None
    return dict(zip(ids, cosine.tolist(), strict=True)), lexical.scores_of(ids)


def _top(scores: dict[int, float], n: int, positive: bool = False) -> list[tuple[int, float]]:
    items = [(c, s) for c, s in scores.items() if s > 0 or not positive]
    return sorted(items, key=lambda kv: (-kv[1], kv[0]))[:n]


@pytest.mark.parametrize("query", QUERIES)
def test_dbsf_matches_brute_force(fake_snapshot: Snapshot, fake_embedder: FakeEmbedder, query: str) -> None:
    n = 10
    searcher = Searcher(fake_snapshot, fake_embedder, candidates=n, defaults=PASSAGES_ALONE)
    cosine, bm25 = _brute(fake_snapshot, fake_embedder, query)
    dense, lexical = _top(cosine, n), _top(bm25, n, positive=True)
    union = {c for c, _ in dense} | {c for c, _ in lexical}
    bounds = dbsf_bounds([s for _, s in dense]), dbsf_bounds([s for _, s in lexical])
    expected = dbsf({c: cosine[c] for c in union}, {c: bm25[c] for c in union}, *bounds)
    # k within the candidate count, so the searcher's candidate lists are the same top-n as here
    hits = searcher.search(query, k=n, mode=Mode.hybrid, highlight=False).hits
    ranked = [c for c, _ in sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))]
    assert [h.chunk_id for h in hits] == ranked[:n]
    for h in hits:
        assert h.score == pytest.approx(expected[h.chunk_id], abs=1e-5)
        # Every hit carries both component scores, filled in exactly where one retriever did not find it.
        assert h.dense == pytest.approx(cosine[h.chunk_id], abs=1e-5)
        assert (h.lexical or 0.0) == pytest.approx(bm25[h.chunk_id], abs=1e-4)
        ranks = (h.dense_rank, h.lexical_rank)
        assert ranks[0] is not None or ranks[1] is not None


@pytest.mark.parametrize("query", QUERIES)
def test_one_passage_per_document_fuses_documents(
    fake_snapshot: Snapshot, fake_embedder: FakeEmbedder, query: str
) -> None:
    n = 10
    searcher = Searcher(fake_snapshot, fake_embedder, candidates=n)
    cosine, bm25 = _brute(fake_snapshot, fake_embedder, query)
    dense, lexical = _top(cosine, n), _top(bm25, n, positive=True)
    union = {c for c, _ in dense} | {c for c, _ in lexical}
    doc_of = fake_snapshot.store.doc_ids_of(list(union))
    bounds = dbsf_bounds([s for _, s in dense]), dbsf_bounds([s for _, s in lexical])
    docs = set(doc_of.values())
    best_dense = {d: max(cosine[c] for c in union if doc_of[c] == d) for d in docs}
    best_lexical = {d: max(bm25[c] for c in union if doc_of[c] == d) for d in docs}
    expected = dbsf(best_dense, best_lexical, *bounds)
    hits = searcher.search(query, k=len(docs), mode=Mode.hybrid, max_per_doc=1, highlight=False).hits
    assert len({h.doc_id for h in hits}) == len(hits) == len(docs)
    assert [h.doc_id for h in hits] == sorted(docs, key=lambda d: -expected[d])
    for h in hits:
        assert h.score == pytest.approx(expected[h.doc_id], abs=1e-5)


def test_a_retriever_that_finds_nothing_leaves_the_other_ranking(
    fake_snapshot: Snapshot, fake_embedder: FakeEmbedder
) -> None:
    searcher = Searcher(fake_snapshot, fake_embedder)
    query = "zzyzx qwxv"  # no term in the index: BM25 has no candidate
    dense = [h.chunk_id for h in searcher.search(query, k=10, mode=Mode.dense).hits]
    hybrid = searcher.search(query, k=10, mode=Mode.hybrid).hits
    assert [h.chunk_id for h in hybrid] == dense
    assert all(h.lexical is None for h in hybrid)


def test_rrf_stays_selectable(fake_snapshot: Snapshot, fake_embedder: FakeEmbedder) -> None:
    searcher = Searcher(fake_snapshot, fake_embedder)
    result = searcher.search("Putin Xi meeting", k=5, fusion=Fusion.rrf)
    assert result.fusion is Fusion.rrf and all(h.score < 2 / 61 + 1e-9 for h in result.hits)
    assert searcher.search("Putin Xi meeting", k=5).fusion is Fusion.dbsf
    assert searcher.search("Putin Xi meeting", k=5, mode=Mode.dense).fusion is None


def test_bounds_of_equal_or_missing_scores_do_not_divide_by_zero() -> None:
    assert dbsf_bounds([]) == (0.0, 1.0)
    assert dbsf_bounds([2.0, 2.0]) == (1.5, 2.5)
    low, high = dbsf_bounds([0.0, 1.0])
    assert (low, high) == pytest.approx((0.5 - 1.5, 0.5 + 1.5))


def test_the_dense_weight_moves_dbsf_between_its_halves(fake_snapshot: Snapshot, fake_embedder: FakeEmbedder) -> None:
    searcher = Searcher(fake_snapshot, fake_embedder, candidates=10, defaults=PASSAGES_ALONE)
    query = QUERIES[0]
    dense = [h.chunk_id for h in searcher.search(query, k=5, mode=Mode.dense).hits]
    lexical = [h.chunk_id for h in searcher.search(query, k=5, mode=Mode.lexical).hits]
    assert [h.chunk_id for h in searcher.search(query, k=5, dense_weight=1.0).hits] == dense
    assert [h.chunk_id for h in searcher.search(query, k=5, dense_weight=0.0).hits] == lexical
    equal = searcher.search(query, k=5).hits
    assert [h.score for h in equal] == [h.score for h in searcher.search(query, k=5, dense_weight=0.5).hits]
    assert dbsf({1: 1.0}, {1: 0.0}, (0.0, 1.0), (0.0, 1.0), dense_weight=0.25) == {1: 0.5}
