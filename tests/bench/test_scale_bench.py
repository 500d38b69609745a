"""The scale benchmark's synthetic collection and its figures, at a size a test can afford."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import synthetic
from bench.scale import run
from indexer.storage.local import segment

KEYS = {"chunks", "build_s", "upsert_p50_ms", "delete_p50_ms", "search_p50_ms", "recall_at_10", "peak_rss_mb",
        "disk_mb"}  # fmt: skip


def test_the_synthetic_collection_is_deterministic_and_clustered() -> None:
    a, b = synthetic.documents(200), synthetic.documents(200)
    assert a == b and len({d.doc_id for d in a}) == 200
    assert synthetic.documents(3, start=200)[0].doc_id == "syn-200"
    embedder = synthetic.ClusterEmbedder()
    vectors = embedder.encode([d.text for d in a])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors, synthetic.ClusterEmbedder().encode([d.text for d in a]))
    # texts of one topic are nearer each other than texts of different topics
    same = embedder.encode([synthetic.queries(1, seed=5)[0]] * 2)
    assert float(same[0] @ same[1]) > 0.999
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, 0)
    assert sims.max(axis=1).mean() > 2 * np.abs(sims).mean()


def test_long_questions_are_paragraphs_of_one_topic() -> None:
    long = synthetic.queries(3, seed=17, chars=4000)
    assert all(3900 <= len(q) <= 4000 for q in long) and len(set(long)) == 3
    assert synthetic.queries(3, seed=17, chars=4000) == long
    assert synthetic.queries(2) == synthetic.queries(2)  # the short questions are unchanged by the option
    assert all(len(q.split()) == 6 for q in synthetic.queries(5))


def test_scale_run_reports_every_figure(tmp_path: Path) -> None:
    result = run(300, tmp_path / "index", n_queries=5, n_writes=2)
    assert set(result) >= KEYS
    assert result["chunks"] == 300  # the upserted documents were deleted again
    assert set(result["search_p50_ms"]) == set(result["search_long_p50_ms"]) == {"dense", "lexical", "hybrid"}
    assert result["recall_at_10"] == 1.0  # a collection this small is searched exactly (flat)
    assert result["segments"] == [{"chunks": 300, "hnsw": False}]
    assert result["disk_mb"] > 0 and result["peak_rss_mb"] > 0 and result["build_s"] > 0


def test_scale_run_with_an_hnsw_segment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same run with the graph index switched on at this size: recall is measured, and high."""
    monkeypatch.setattr(segment, "ANN_MIN_CHUNKS", 1000)
    result = run(3000, tmp_path / "index", n_queries=20, n_writes=2)
    assert result["segments"] == [{"chunks": 3000, "hnsw": True}]
    assert 0.95 <= result["recall_at_10"] <= 1.0
