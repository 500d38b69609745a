"""Search: dense checked against brute-force cosine, lexical against FTS5 semantics, hybrid against RRF."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from indexer.retrieval.defaults import SearchDefaults
from indexer.retrieval.fusion import RRF_K, Fusion, rrf
from indexer.retrieval.options import MAX_K
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.local.snapshot import IndexSnapshot
from tests.fakes import PASSAGES_ALONE, FakeEmbedder

QUERIES = [
    "Where did Wang Yi meet Lavrov",
    "Xi Jinping first trip abroad after the pandemic",
    "China-Central Asia summit in Xi'an",
    "Lance Gore offensive partnership",
    "Blinken Brookings China goals",
    "!!!",
]


def _brute_force(snapshot: IndexSnapshot, emb: FakeEmbedder, query: str, k: int) -> list[tuple[int, float]]:
    ids = snapshot.store.chunk_ids()
    records = snapshot.store.chunks(ids)
    # what each passage is matched on: its document's title, then the passage
    context = snapshot.manifest.chunking.passage_context
    matrix = emb.encode([records[i].matched(context) for i in ids])
    q = emb.encode([query])[0]
    sims = matrix @ q / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q))
    order = sorted(range(len(ids)), key=lambda j: (-sims[j], ids[j]))[:k]
    return [(ids[j], float(sims[j])) for j in order]


def _alone(snapshot: IndexSnapshot, embedder: FakeEmbedder) -> Searcher:
    """A searcher ranking by the retrievers alone (the brute-force references here know no document scores)."""
    return Searcher(snapshot, embedder, defaults=PASSAGES_ALONE)


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("k", [1, 5, 20])
def test_dense_matches_brute_force_cosine(
    fake_snapshot: IndexSnapshot, fake_embedder: FakeEmbedder, query: str, k: int
) -> None:
    result = _alone(fake_snapshot, fake_embedder).search(query, k=k, mode=Mode.dense)
    expected = _brute_force(fake_snapshot, fake_embedder, query, k)
    got = [(h.chunk_id, h.score) for h in result.hits]
    assert len(got) == len(expected)
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=1e-5, atol=1e-6)
    # Ids agree except where cosine ties make the order arbitrary.
    for (gid, gs), (eid, es) in zip(got, expected, strict=True):
        assert gid == eid or abs(gs - es) < 1e-6


def test_lexical_hits_contain_query_terms_and_are_sorted(
    fake_snapshot: IndexSnapshot, fake_embedder: FakeEmbedder
) -> None:
    hits = _alone(fake_snapshot, fake_embedder).search("Astana Lavrov", k=10, mode=Mode.lexical).hits
    assert hits
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    for h in hits:
        assert "astana" in h.text.lower() or "lavrov" in h.text.lower()
        assert h.lexical == h.score and h.lexical_rank == h.rank


def test_lexical_scores_equal_bm25s_reference(fake_snapshot: IndexSnapshot, fake_embedder: FakeEmbedder) -> None:
    """Our ids-based scoring equals bm25s used the documented way (token strings) on the same chunks."""
    import bm25s

    ids = fake_snapshot.store.chunk_ids()
    records = sorted(fake_snapshot.store.chunks(ids).values(), key=lambda r: r.chunk_id)
    texts = [r.matched(fake_snapshot.manifest.chunking.passage_context) for r in records]  # BM25 sees the context
    analyzer = fake_snapshot.lexical.analyzer
    reference = bm25s.BM25()
    reference.index([[t for _, _, t in analyzer.passage(text).terms] for text in texts], show_progress=False)
    # A question: its function words are dropped by the query's longer stop list (bm25s' "en_plus").
    query = "What did they do at the Shanghai Cooperation Organization summit in Samarkand?"
    q_tokens = analyzer.terms(query)
    assert "what" not in q_tokens and "did" not in q_tokens and "samarkand" in q_tokens
    expected = reference.get_scores(q_tokens)
    lexical = fake_snapshot.lexical.query(query)
    assert lexical is not None
    scored = lexical.scores_of(ids)
    got = np.asarray([scored[i] for i in ids])
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    matching = {i for i, e in zip(ids, expected, strict=True) if e > 0}
    assert {c for c, _ in lexical.top(len(ids))} == matching  # only matching chunks are candidates
    hits = _alone(fake_snapshot, fake_embedder).search(query, k=5, mode=Mode.lexical).hits
    top = np.argsort(-expected, kind="stable")[:5]
    np.testing.assert_allclose([h.score for h in hits], expected[top], rtol=1e-5)


def test_a_questions_function_words_match_nothing(fake_snapshot: IndexSnapshot, fake_embedder: FakeEmbedder) -> None:
    searcher = _alone(fake_snapshot, fake_embedder)
    bare = searcher.search("Lavrov", k=100, mode=Mode.lexical).hits
    asked = searcher.search("Who is Lavrov?", k=100, mode=Mode.lexical).hits
    assert bare and [(h.chunk_id, h.score) for h in asked] == [(h.chunk_id, h.score) for h in bare]
    who = {h.chunk_id for h in searcher.search("Who", k=100, mode=Mode.lexical).hits}
    assert who - {h.chunk_id for h in bare}  # passages that "who" alone would have matched


def test_a_query_of_function_words_only_is_matched_on_them(
    fake_snapshot: IndexSnapshot, fake_embedder: FakeEmbedder
) -> None:
    hits = _alone(fake_snapshot, fake_embedder).search("The Who", k=5, mode=Mode.lexical).hits
    assert hits and all(re.search(r"\bwho\b", h.title + " " + h.text, re.IGNORECASE) for h in hits)


def test_lexical_with_no_terms_is_empty(fake_snapshot: IndexSnapshot, fake_embedder: FakeEmbedder) -> None:
    assert _alone(fake_snapshot, fake_embedder).search("?!", k=5, mode=Mode.lexical).hits == []
    assert _alone(fake_snapshot, fake_embedder).search("zzyzx qwertyuiop", k=5, mode=Mode.lexical).hits == []


@pytest.mark.parametrize("query", ['NEAR(a b) OR "x', "title:foo AND -bar*", "c'est l'été"])
def test_fts_syntax_in_queries_is_inert(fake_snapshot: IndexSnapshot, fake_embedder: FakeEmbedder, query: str) -> None:
    hits = _alone(fake_snapshot, fake_embedder).search(query, k=5, mode=Mode.lexical).hits
    assert all(h.lexical is not None and h.lexical > 0 for h in hits)


def test_hybrid_rrf_is_rrf_of_dense_and_lexical(fake_snapshot: IndexSnapshot, fake_embedder: FakeEmbedder) -> None:
    searcher = Searcher(fake_snapshot, fake_embedder, defaults=SearchDefaults(fusion=Fusion.rrf, document_weight=0.0))
    query = "Shanghai Cooperation Organization summit Samarkand"
    n = fake_snapshot.vectors.ntotal
    dense = [h.chunk_id for h in searcher.search(query, k=n, mode=Mode.dense).hits][:100]
    lexical = [h.chunk_id for h in searcher.search(query, k=n, mode=Mode.lexical).hits][:100]
    fused = rrf([dense, lexical])
    expected = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    hits = searcher.search(query, k=10, mode=Mode.hybrid).hits
    assert [(h.chunk_id, pytest.approx(h.score)) for h in hits] == [(c, pytest.approx(s)) for c, s in expected]
    for h in hits:
        parts = [1 / (RRF_K + r) for r in (h.dense_rank, h.lexical_rank) if r is not None]
        assert h.score == pytest.approx(sum(parts))
        assert h.dense is not None  # component scores are filled in for every hit


def test_every_hit_has_provenance(fake_snapshot: IndexSnapshot, fake_embedder: FakeEmbedder) -> None:
    docs = {d.doc_id: d.text for d in fake_snapshot.store.documents()}
    for mode in Mode:
        for h in _alone(fake_snapshot, fake_embedder).search("Putin Xi meeting", k=10, mode=mode).hits:
            assert docs[h.doc_id][h.start : h.end] == h.text
            assert h.title and h.source == h.doc_id


def test_min_score_drops_low_hits(fake_snapshot: IndexSnapshot, fake_embedder: FakeEmbedder) -> None:
    searcher = _alone(fake_snapshot, fake_embedder)
    all_hits = searcher.search("Putin", k=20, mode=Mode.dense).hits
    cut = all_hits[5].score
    kept = searcher.search("Putin", k=20, mode=Mode.dense, min_score=cut).hits
    assert kept and all(h.score >= cut for h in kept) and len(kept) < len(all_hits)
    assert searcher.search("Putin", k=5, mode=Mode.dense, min_score=2.0).hits == []


def test_k_larger_than_index(fake_snapshot: IndexSnapshot, fake_embedder: FakeEmbedder) -> None:
    n = fake_snapshot.vectors.ntotal
    assert n < MAX_K
    hits = _alone(fake_snapshot, fake_embedder).search("China", k=MAX_K, mode=Mode.dense).hits
    assert len(hits) == n and len({h.chunk_id for h in hits}) == n


def test_searcher_refuses_other_model(fake_snapshot: IndexSnapshot) -> None:
    from indexer.errors import ManifestMismatchError

    with pytest.raises(ManifestMismatchError):
        Searcher(fake_snapshot, FakeEmbedder(model_id="something-else"))


def test_snapshot_keeps_working_after_its_directory_is_pruned(fake_seed_index: Path) -> None:
    import shutil

    from indexer.storage.local.versions import open_index

    snapshot = open_index(fake_seed_index)
    shutil.rmtree(snapshot.path)  # what pruning does to an old version while a search may still hold it
    hits = Searcher(snapshot, FakeEmbedder()).search("Putin Xi summit", k=3).hits
    assert len(hits) == 3 and all(h.text for h in hits)
