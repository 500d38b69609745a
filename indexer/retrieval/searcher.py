"""Dense, lexical and hybrid retrieval over one index snapshot, with every score explained.

A search is a list of stages, each a small function of its own module:

1. `QueryContext.open`: resolve the filter, embed the query, score its terms (`query`);
2. candidates from each retriever (`candidates`), fused (`fusion`, `ranking`: distribution-based score fusion by
   default, reciprocal rank fusion on request), cut by score and grouped per document, widened while grouping
   leaves fewer than k (`ranking`);
3. the optional stages a searcher is given, a reranker or a boost (`stages`), then the top-k cut;
4. "Who is X?" questions show each document first by the passage introducing X (`definitions`);
5. hydration: passages, component scores and ranks, highlights (`hits`), and with `context=N` the passages
   around each hit (`context`).

When one passage per document is asked for (`max_per_doc=1`), documents are fused: a document's dense and
lexical scores are those of its best passage for each, so evidence split over two passages is not lost.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from indexer.embed.base import Embedder
from indexer.retrieval.context import with_context
from indexer.retrieval.defaults import DEFAULTS, SearchDefaults
from indexer.retrieval.definitions import introduce
from indexer.retrieval.fusion import RRF_K, Fusion
from indexer.retrieval.hits import hydrate
from indexer.retrieval.query import QueryContext, SearchRequest
from indexer.retrieval.ranking import rank
from indexer.retrieval.results import Group, LongQuestions, Mode, Navigation, SearchResult
from indexer.retrieval.stages import Stage, apply_stages
from indexer.storage.base import Snapshot
from indexer.types import Filter

DEFAULT_CANDIDATES = 100


class Searcher:
    """Answers queries against one immutable snapshot. Thread-safe; holds no mutable state."""

    def __init__(
        self,
        snapshot: Snapshot,
        embedder: Embedder,
        *,
        candidates: int = DEFAULT_CANDIDATES,
        rrf_k: int = RRF_K,
        defaults: SearchDefaults = DEFAULTS,
        stages: Sequence[Stage] = (),
        long_questions: LongQuestions = LongQuestions.first,
    ) -> None:
        """`defaults`: the mode, fusion and dense weight of a search that names none. `long_questions`: how a
        question longer than the model reads is embedded (its first window, or the mean of its pieces)."""
        snapshot.manifest.check_model(embedder.model_id, embedder.dimension)
        snapshot.manifest.check_prompts(embedder.prompts.query, embedder.prompts.passage)
        self.snapshot = snapshot
        self._embedder = embedder
        self._candidates = candidates
        self._rrf_k = rrf_k
        self.defaults = defaults
        self.stages = tuple(stages)
        self.long_questions = long_questions

    def has_stage(self, name: str) -> bool:
        """Whether one of this searcher's stages explains its scores under `name` (e.g. `StageScore.rerank`)."""
        return any(stage.name == name for stage in self.stages)

    @property
    def runtime(self) -> str:
        """The runtime that embeds this searcher's queries."""
        return self._embedder.runtime

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        mode: Mode | None = None,
        min_score: float | None = None,
        max_per_doc: int | None = None,
        where: Filter | None = None,
        highlight: bool = True,
        fusion: Fusion | None = None,
        dense_weight: float | None = None,
        offset: int = 0,
        context: int = 0,
        group: Group | None = None,
        navigation: Navigation | None = None,
        document_weight: float | None = None,
        rerank: bool | None = None,
        rerank_candidates: int | None = None,
        rerank_budget_ms: float | None = None,
    ) -> SearchResult:
        """Top `k` passages for `query`, after the first `offset` (a page: pages concatenated are one longer
        ranking).

        Hits scoring below `min_score` (in the mode's score) are dropped; at most `max_per_doc` passages
        come from one document, the rest of `k` filled from other documents; `where` restricts the search
        to matching documents before the top-k cut. `mode`, `fusion` and `dense_weight` (hybrid
        only; the weight applies to dbsf) default to the searcher's `defaults`. `context=N` adds to each hit the N
        passages before and after it in its document. `group=page`: one hit per page (its best passage, its
        score fused from all its passages among the candidates; the default); `navigation`: where tables of
        contents and indexes go (below content by default). `rerank`, `rerank_candidates`, `rerank_budget_ms`:
        whether a reranker stage runs (default: the searcher's `defaults`, yes unless a calibration chose without),
        over how many units, within how long (see `indexer.retrieval.rerank`).
        """
        started = time.perf_counter()
        reason = None
        if mode is None:
            mode, reason = self._default_mode(query)
        request = SearchRequest(
            text=query,
            k=k,
            mode=mode,
            fusion=fusion or self.defaults.fusion,
            dense_weight=self.defaults.dense_weight if dense_weight is None else dense_weight,
            rrf_k=self._rrf_k,
            min_score=min_score,
            max_per_doc=max_per_doc,
            where=where,
            highlight=highlight,
            offset=offset,
            context=context,
            long_questions=self.long_questions,
            group=group or self.defaults.group,
            navigation=navigation or Navigation.below,
            document_weight=self.defaults.document_weight if document_weight is None else document_weight,
            rerank=self.defaults.rerank if rerank is None else rerank,
            rerank_candidates=rerank_candidates,
            rerank_budget_ms=rerank_budget_ms,
        )
        ctx = QueryContext.open(request, self.snapshot, self._embedder, self._candidates)
        ranked, candidates = rank(ctx)
        top = apply_stages(ctx, ranked, self.stages)[: request.depth]
        # Introductions reorder the whole depth, then the page is cut: pages agree with one longer request.
        top, introduced, known = introduce(ctx, top)
        hits = hydrate(ctx, top[offset:], candidates, introduced, known, first_rank=offset + 1)
        hits = with_context(self.snapshot, hits, context)
        took_ms = (time.perf_counter() - started) * 1000
        used = request.fusion if request.mode == Mode.hybrid else None
        return SearchResult(
            query,
            request.mode,
            hits,
            took_ms,
            self.snapshot.version,
            used,
            offset,
            rerank=ctx.rerank_outcome,
            mode_reason=reason,
        )

    def _default_mode(self, query: str) -> tuple[Mode, str | None]:
        """The mode of a search that names none, and why when it is not the defaults' mode.

        A model gives scores without meaning on a language it was not trained on (the bundled English model on
        Chinese text ranks below keyword search, and drags a fusion below it too), so an uncalibrated search of
        a question in such a language ranks by keywords alone. A calibrated collection keeps its measured choice.
        """
        mode = self.defaults.mode
        manifest = self.snapshot.manifest
        if mode == Mode.lexical or manifest.calibration is not None or manifest.model.languages is None:
            return mode, None
        language = self.snapshot.lexical.analyzer.query(query).language
        if manifest.model.reads(language):
            return mode, None
        return Mode.lexical, (
            f"the question is in {language!r}, which model {manifest.model.id} was not trained on "
            f"(it reads {', '.join(manifest.model.languages)}): ranked by keywords. Use a multilingual model, "
            "or calibrate the collection, or ask for mode=hybrid"
        )
