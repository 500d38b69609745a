"""MaxScore top-n equals ranking every matching chunk, on a collection big enough for it to stop early."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import synthetic
from indexer.building.builder import sync_index
from indexer.building.writer import IndexWriter
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.folder import FolderReport
from indexer.storage.local import bm25
from indexer.storage.local.snapshot import IndexSnapshot
from indexer.storage.local.versions import open_index


@pytest.fixture(scope="module")
def synthetic_snapshot(tmp_path_factory: pytest.TempPathFactory) -> IndexSnapshot:
    index_dir: Path = tmp_path_factory.mktemp("bm25") / "index"
    embedder = synthetic.ClusterEmbedder()
    sync_index(FolderReport(synthetic.documents(3000)), index_dir, embedder, ChunkingConfig())
    writer = IndexWriter(index_dir, embedder)
    writer.apply(synthetic.documents(40, start=3000))  # a second segment
    writer.apply(deletes=[f"syn-{i}" for i in range(0, 3000, 7)])  # tombstones in the first
    return open_index(index_dir)


@pytest.fixture(autouse=True, params=["maxscore", "score all", "as configured"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs with MaxScore forced through every round, with every match scored in one pass, and with
    the engine's own choice between them."""
    if request.param == "maxscore":
        monkeypatch.setattr(bm25, "_SCORE_ALL_MAX", 0)
        monkeypatch.setattr(bm25, "_LOOKUPS_PER_POSTING", 0.0)  # never give up on the rounds
    elif request.param == "score all":
        monkeypatch.setattr(bm25, "_SCORE_ALL_MAX", 10**9)


def _ranking(scores: dict[int, float], n: int) -> list[int]:
    return sorted(scores, key=lambda c: (-scores[c], c))[:n]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [1, 10, 100])
def test_top_n_equals_full_ranking(synthetic_snapshot: IndexSnapshot, seed: int, n: int) -> None:
    # Short questions, and paragraphs (hundreds of terms, where the engine sums every posting at once).
    for query in [*synthetic.queries(10, seed=seed), *synthetic.queries(2, seed=seed, chars=2000)]:
        scored = synthetic_snapshot.lexical.query(query)
        assert scored is not None
        full = scored.as_dict()
        top = scored.top(n)
        assert [c for c, _ in top] == _ranking(full, n)
        assert [s for _, s in top] == pytest.approx([full[c] for c, _ in top])
        assert scored.scores_of([c for c, _ in top]) == pytest.approx(dict(top))


def test_top_n_with_a_filter(synthetic_snapshot: IndexSnapshot) -> None:
    rng = np.random.default_rng(3)
    allowed = bm25.Allowed(
        (s.name, np.sort(rng.choice(s.live_ids, size=len(s.live_ids) // 10, replace=False)))
        for s in synthetic_snapshot.segments
    )
    permitted = {int(i) for ids in allowed.values() for i in ids}
    for query in synthetic.queries(10, seed=9):
        scored = synthetic_snapshot.lexical.query(query)
        assert scored is not None
        full = {c: s for c, s in scored.as_dict().items() if c in permitted}
        assert [c for c, _ in scored.top(20, allowed)] == _ranking(full, 20)


def test_deleted_chunks_are_neither_scored_nor_counted(synthetic_snapshot: IndexSnapshot) -> None:
    deleted = {int(i) for s in synthetic_snapshot.segments for i in s.tombstones.chunk_ids}
    assert deleted
    for query in synthetic.queries(5, seed=4):
        scored = synthetic_snapshot.lexical.query(query)
        assert scored is not None
        assert not deleted & set(scored.as_dict())
        assert set(scored.scores_of(sorted(deleted)[:50]).values()) == {0.0}
