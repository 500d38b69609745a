"""Dense, lexical and hybrid retrieval over one index snapshot, with every score explained.

Hybrid uses reciprocal rank fusion (Cormack, Clarke & Buettcher, SIGIR 2009): score = sum over the two
retrievers of 1 / (rrf_k + rank). Cosine similarities and BM25 scores live on unrelated scales (BM25 is
unbounded and depends on the corpus and query length), so any weighted sum of raw scores needs weights
tuned per collection. Ranks are comparable across retrievers without tuning, and rrf_k = 60 is the value
from the original paper, not fitted here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from indexer.embedding import Embedder
from indexer.index import IndexSnapshot

RRF_K = 60
DEFAULT_CANDIDATES = 100


class Mode(StrEnum):
    """Retrieval mode."""

    dense = "dense"
    lexical = "lexical"
    hybrid = "hybrid"


@dataclass(frozen=True)
class Hit:
    """One ranked passage with the evidence for its rank.

    `score` is the mode's score: cosine similarity (dense), BM25 (lexical) or the RRF sum (hybrid).
    `dense`/`lexical` are the component scores (None: lexical when no query term occurs in the passage);
    `dense_rank`/`lexical_rank` are 1-based ranks among each retriever's candidates (None: not among them).
    """

    rank: int
    score: float
    chunk_id: int
    doc_id: str
    title: str
    source: str
    text: str
    start: int
    end: int
    dense: float | None
    lexical: float | None
    dense_rank: int | None
    lexical_rank: int | None


@dataclass(frozen=True)
class SearchResult:
    """Hits for one query, best first."""

    query: str
    mode: Mode
    hits: list[Hit]
    took_ms: float
    index_version: int


def rrf(rankings: list[list[int]], k: int = RRF_K) -> dict[int, float]:
    """Reciprocal rank fusion of ranked id lists (best first)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


class Searcher:
    """Answers queries against one immutable snapshot. Thread-safe; holds no mutable state."""

    def __init__(
        self,
        snapshot: IndexSnapshot,
        embedder: Embedder,
        *,
        candidates: int = DEFAULT_CANDIDATES,
        rrf_k: int = RRF_K,
    ) -> None:
        snapshot.manifest.check_model(embedder.model_id, embedder.dimension)
        self.snapshot = snapshot
        self._embedder = embedder
        self._candidates = candidates
        self._rrf_k = rrf_k

    def _dense(self, query_vec: np.ndarray, n: int) -> list[tuple[int, float]]:
        if n == 0:
            return []
        scores, ids = self.snapshot.vectors.search(query_vec, n)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _dense_scores(self, query_vec: np.ndarray, ids: list[int]) -> dict[int, float]:
        if not ids:
            return {}
        vecs = np.vstack([self.snapshot.vectors.reconstruct(i) for i in ids])
        return dict(zip(ids, (vecs @ query_vec[0]).tolist(), strict=True))

    def search(
        self, query: str, *, k: int = 5, mode: Mode = Mode.hybrid, min_score: float | None = None
    ) -> SearchResult:
        """Top `k` passages for `query`; hits scoring below `min_score` (in the mode's score) are dropped."""
        started = time.perf_counter()
        total = self.snapshot.vectors.ntotal
        n = min(total, max(self._candidates, k))
        query_vec = self._embedder.encode([query])
        dense = self._dense(query_vec, n) if mode != Mode.lexical else []
        lexical = self.snapshot.store.lexical(query, n) if mode != Mode.dense else []
        dense_rank = {cid: r for r, (cid, _) in enumerate(dense, start=1)}
        lexical_rank = {cid: r for r, (cid, _) in enumerate(lexical, start=1)}

        if mode == Mode.dense:
            ranked = dense
        elif mode == Mode.lexical:
            ranked = lexical
        else:
            fused = rrf([[c for c, _ in dense], [c for c, _ in lexical]], self._rrf_k)
            ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
        if min_score is not None:
            ranked = [(cid, s) for cid, s in ranked if s >= min_score]
        top = ranked[:k]
        ids = [cid for cid, _ in top]

        dense_scores = dict(dense)
        dense_scores.update(self._dense_scores(query_vec, [i for i in ids if i not in dense_scores]))
        lexical_scores = dict(lexical)
        lexical_scores.update(self.snapshot.store.lexical_scores(query, [i for i in ids if i not in lexical_scores]))
        records = self.snapshot.store.chunks(ids)
        hits = []
        for rank, (cid, score) in enumerate(top, start=1):
            rec = records[cid]
            hits.append(
                Hit(
                    rank=rank,
                    score=score,
                    chunk_id=cid,
                    doc_id=rec.doc_id,
                    title=rec.title,
                    source=rec.source,
                    text=rec.text,
                    start=rec.start,
                    end=rec.end,
                    dense=dense_scores.get(cid),
                    lexical=lexical_scores.get(cid),
                    dense_rank=dense_rank.get(cid),
                    lexical_rank=lexical_rank.get(cid),
                )
            )
        took_ms = (time.perf_counter() - started) * 1000
        return SearchResult(query, mode, hits, took_ms, self.snapshot.version)
