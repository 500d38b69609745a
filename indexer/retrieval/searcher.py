"""Dense, lexical and hybrid retrieval over one index snapshot, with every score explained.

Hybrid fuses the two retrievers' candidates (see `indexer.retrieval.fusion`: distribution-based score fusion by
default, reciprocal rank fusion on request). When one passage per document is asked for (`max_per_doc=1`),
documents are fused: a document's dense and lexical scores are those of its best passage for each, so
evidence split over two passages of one document is not lost. A "Who is X?" question shows each document
first by the passage that introduces X (`indexer.retrieval.definitions`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from indexer.embed.base import Embedder
from indexer.retrieval.definitions import definition_subject, find_introductions, introductions_first
from indexer.retrieval.fusion import DEFAULT_DENSE_WEIGHT, DEFAULT_FUSION, RRF_K, Fusion, dbsf, dbsf_bounds, rrf
from indexer.retrieval.highlight import Highlight, best_dense, best_lexical
from indexer.storage.base import LexicalScores, Restriction, Snapshot
from indexer.types import ChunkRecord, Filter

DEFAULT_CANDIDATES = 100


class Mode(StrEnum):
    """Retrieval mode."""

    dense = "dense"
    lexical = "lexical"
    hybrid = "hybrid"


@dataclass(frozen=True)
class Hit:
    """One ranked passage with the evidence for its rank.

    `score` is the mode's score: cosine similarity (dense), BM25 (lexical) or the fused score (hybrid: DBSF or
    RRF); a passage that `introduces` the subject of a "Who is X?" question takes its document's best score.
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
    highlight: Highlight | None = None
    introduces: str | None = None  # X, for a "Who is X?" question, if this is its document's first mention of X


@dataclass(frozen=True)
class SearchResult:
    """Hits for one query, best first."""

    query: str
    mode: Mode
    hits: list[Hit]
    took_ms: float
    index_version: int
    fusion: Fusion | None = None


class Searcher:
    """Answers queries against one immutable snapshot. Thread-safe; holds no mutable state."""

    def __init__(
        self,
        snapshot: Snapshot,
        embedder: Embedder,
        *,
        candidates: int = DEFAULT_CANDIDATES,
        rrf_k: int = RRF_K,
        fusion: Fusion = DEFAULT_FUSION,
        dense_weight: float = DEFAULT_DENSE_WEIGHT,
    ) -> None:
        snapshot.manifest.check_model(embedder.model_id, embedder.dimension)
        self.snapshot = snapshot
        self._embedder = embedder
        self._candidates = candidates
        self._rrf_k = rrf_k
        self.fusion = fusion
        self.dense_weight = dense_weight

    @property
    def runtime(self) -> str:
        """The runtime that embeds this searcher's queries."""
        return self._embedder.runtime

    def _dense(self, query_vec: np.ndarray | None, n: int, allowed: Restriction | None) -> list[tuple[int, float]]:
        if n == 0 or query_vec is None:
            return []
        # The filter is applied inside each segment's search, so top-n is taken among passing chunks only.
        scores, ids = self.snapshot.vectors.search(query_vec, n, allowed)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _dense_scores(self, query_vec: np.ndarray | None, ids: list[int]) -> dict[int, float]:
        if not ids or query_vec is None:
            return {}
        vecs = self.snapshot.vectors.reconstruct_batch(np.asarray(ids, dtype=np.int64))
        return dict(zip(ids, (vecs @ query_vec[0]).tolist(), strict=True))

    def _rank(
        self,
        query_vec: np.ndarray | None,
        lex_scores: LexicalScores | None,
        mode: Mode,
        n: int,
        allowed: Restriction | None,
        fusion: Fusion,
        per_document: bool,
        dense_weight: float,
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]], list[tuple[int, float]]]:
        dense = self._dense(query_vec, n, allowed) if mode != Mode.lexical else []
        lexical = []
        if mode != Mode.dense and lex_scores is not None:
            lexical = lex_scores.top(n, allowed)
        if mode == Mode.dense:
            return dense, dense, lexical
        if mode == Mode.lexical:
            return lexical, dense, lexical
        if fusion is Fusion.rrf:
            fused = rrf([[c for c, _ in dense], [c for c, _ in lexical]], self._rrf_k)
            return _best_first(fused), dense, lexical
        return self._dbsf(query_vec, lex_scores, dense, lexical, per_document, dense_weight), dense, lexical

    @staticmethod
    def _lexical_scores(lex_scores: LexicalScores | None, ids: list[int]) -> dict[int, float]:
        """BM25 score of each chunk in `ids` (0.0 where no query term occurs)."""
        if lex_scores is None or not ids:
            return dict.fromkeys(ids, 0.0)
        return lex_scores.scores_of(ids)

    def _dbsf(
        self,
        query_vec: np.ndarray | None,
        lex_scores: LexicalScores | None,
        dense: list[tuple[int, float]],
        lexical: list[tuple[int, float]],
        per_document: bool,
        dense_weight: float,
    ) -> list[tuple[int, float]]:
        union = list(dict.fromkeys([c for c, _ in dense] + [c for c, _ in lexical]))
        # Each candidate gets both scores: the one a retriever did not return is computed exactly.
        dense_of = dict(dense)
        dense_of.update(self._dense_scores(query_vec, [c for c in union if c not in dense_of]))
        lexical_of = self._lexical_scores(lex_scores, union)
        bounds = dbsf_bounds([s for _, s in dense]), dbsf_bounds([s for _, s in lexical])
        fused = dbsf(dense_of, lexical_of, *bounds, dense_weight)
        if not per_document:
            return _best_first(fused)
        # Documents fused on their best passage per retriever; each is shown by its best fused passage.
        doc_of = self.snapshot.store.doc_ids_of(union)
        doc_dense: dict[str, float] = {}
        doc_lexical: dict[str, float] = {}
        shown: dict[str, int] = {}
        for cid in union:
            doc = doc_of[cid]
            doc_dense[doc] = max(doc_dense.get(doc, -np.inf), dense_of[cid])
            doc_lexical[doc] = max(doc_lexical.get(doc, -np.inf), lexical_of[cid])
            if doc not in shown or (fused[cid], -cid) > (fused[shown[doc]], -shown[doc]):
                shown[doc] = cid
        doc_fused = dbsf(doc_dense, doc_lexical, *bounds, dense_weight)
        return _best_first({shown[doc]: score for doc, score in doc_fused.items()})

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        mode: Mode = Mode.hybrid,
        min_score: float | None = None,
        max_per_doc: int | None = None,
        where: Filter | None = None,
        highlight: bool = True,
        fusion: Fusion | None = None,
        dense_weight: float | None = None,
    ) -> SearchResult:
        """Top `k` passages for `query`.

        Hits scoring below `min_score` (in the mode's score) are dropped; at most `max_per_doc` passages
        come from one document, the rest of `k` filled from other documents; `where` restricts the search
        to matching documents before the top-k cut. `fusion` and `dense_weight` (hybrid
        only; the weight applies to dbsf) default to the searcher's.
        """
        fusion = fusion or self.fusion
        weight = self.dense_weight if dense_weight is None else dense_weight
        per_document = mode == Mode.hybrid and fusion is not Fusion.rrf and max_per_doc == 1
        started = time.perf_counter()
        allowed: Restriction | None = None
        total = self.snapshot.vectors.ntotal
        if where is not None and not where.is_empty:
            allowed = self.snapshot.store.restrict(where)
            total = allowed.size
        # Lexical mode never runs the model: its hits carry no dense score, and it stays fast.
        query_vec = self._embedder.encode([query]) if mode != Mode.lexical else None
        # One pass over the query terms' postings scores the chunks holding them: it ranks (lexical, hybrid)
        # and explains (all modes).
        lex_scores = self.snapshot.lexical.query(query)
        n = min(total, max(self._candidates, k))
        while True:
            ranked, dense, lexical = self._rank(query_vec, lex_scores, mode, n, allowed, fusion, per_document, weight)
            more_possible = self._more_possible(mode, fusion, n, total, dense, lexical, min_score)
            if min_score is not None:
                ranked = [(cid, s) for cid, s in ranked if s >= min_score]
            if max_per_doc is not None:
                ranked = self._per_doc(ranked, max_per_doc)
            # Grouping can leave fewer than k: widen the candidate lists while that can still add hits.
            if len(ranked) >= k or not more_possible:
                break
            n = min(total, n * 4)
        top = ranked[:k]
        introductions: set[int] = set()
        known: dict[int, ChunkRecord] = {}  # passages read already
        subject = definition_subject(query)
        if subject is not None and top:
            top, introductions, known = self._introductions_first(top, subject)
        hits = self._hits(query, query_vec, lex_scores, mode, top, dense, lexical, highlight, known)
        if introductions:
            hits = [replace(h, introduces=subject) if h.chunk_id in introductions else h for h in hits]
        took_ms = (time.perf_counter() - started) * 1000
        return SearchResult(query, mode, hits, took_ms, self.snapshot.version, fusion if mode == Mode.hybrid else None)

    def _more_possible(
        self,
        mode: Mode,
        fusion: Fusion,
        n: int,
        total: int,
        dense: list[tuple[int, float]],
        lexical: list[tuple[int, float]],
        min_score: float | None,
    ) -> bool:
        """Whether asking the retrievers for more than `n` candidates could add a hit."""
        if n >= total:
            return False
        lists = {Mode.dense: [dense], Mode.lexical: [lexical], Mode.hybrid: [dense, lexical]}[mode]
        if all(len(candidates) < n for candidates in lists):
            return False  # every retriever already returned all it has
        if min_score is None:
            return True
        # Candidates come best first, so anything further scores below the weakest one seen so far.
        if mode == Mode.hybrid and fusion is Fusion.rrf:
            return 2.0 / (self._rrf_k + n + 1) >= min_score
        if mode == Mode.hybrid:
            return True  # a candidate further down one list can score high on the other: no bound to stop at
        weakest = lists[0][-1][1] if lists[0] else float("-inf")
        return weakest >= min_score

    def _introductions_first(
        self, top: list[tuple[int, float]], subject: str
    ) -> tuple[list[tuple[int, float]], set[int], dict[int, ChunkRecord]]:
        """`top` with each document shown first by the passage introducing `subject` (see
        `indexer.retrieval.definitions`); also the ids of those passages, and the passages of `top` as read."""
        store = self.snapshot.store
        shown = store.chunks([cid for cid, _ in top])
        introduction = find_introductions(store, shown, subject)
        doc_of = {cid: r.doc_id for cid, r in shown.items()} | {cid: doc for doc, cid in introduction.items()}
        return introductions_first(top, doc_of, introduction), set(introduction.values()), shown

    def _per_doc(self, ranked: list[tuple[int, float]], max_per_doc: int) -> list[tuple[int, float]]:
        doc_of = self.snapshot.store.doc_ids_of([cid for cid, _ in ranked])
        taken: dict[str, int] = {}
        kept = []
        for cid, score in ranked:
            doc = doc_of[cid]
            if taken.get(doc, 0) < max_per_doc:
                taken[doc] = taken.get(doc, 0) + 1
                kept.append((cid, score))
        return kept

    def _hits(
        self,
        query: str,
        query_vec: np.ndarray | None,
        lex_scores: LexicalScores | None,
        mode: Mode,
        top: list[tuple[int, float]],
        dense: list[tuple[int, float]],
        lexical: list[tuple[int, float]],
        highlight: bool,
        known: dict[int, ChunkRecord],
    ) -> list[Hit]:
        ids = [cid for cid, _ in top]
        dense_rank = {cid: r for r, (cid, _) in enumerate(dense, start=1)}
        lexical_rank = {cid: r for r, (cid, _) in enumerate(lexical, start=1)}
        dense_scores = dict(dense)
        dense_scores.update(self._dense_scores(query_vec, [i for i in ids if i not in dense_scores]))
        # a passage without any query term has no lexical score
        lexical_scores = {cid: s for cid, s in self._lexical_scores(lex_scores, ids).items() if s > 0}
        records = known | self.snapshot.store.chunks([i for i in ids if i not in known])
        highlights = (
            self._highlights(query, query_vec, ids, {i: r.text for i, r in records.items()}) if highlight else {}
        )
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
                    highlight=highlights.get(cid),
                )
            )
        return hits

    def _highlights(
        self, query: str, query_vec: np.ndarray | None, ids: list[int], texts: dict[int, str]
    ) -> dict[int, Highlight]:
        # Lexical first in every mode: it needs no model call. Dense only for passages sharing no query term.
        lexical = self.snapshot.lexical
        query_terms = set(lexical.terms(query))
        out: dict[int, Highlight] = {}
        for cid in ids:
            found = best_lexical(texts[cid], lexical.stems(texts[cid]), query_terms)
            if found is not None:
                out[cid] = found
        need = [cid for cid in ids if cid not in out]
        if need and query_vec is not None:
            for cid, found in zip(need, best_dense([texts[c] for c in need], query_vec, self._embedder), strict=True):
                out[cid] = found
        return out


def _best_first(scores: dict[int, float]) -> list[tuple[int, float]]:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
