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
from typing import Any

from indexer.embed.base import Embedder
from indexer.retrieval.context import with_context
from indexer.retrieval.defaults import DEFAULTS, SearchDefaults
from indexer.retrieval.definitions import introduce
from indexer.retrieval.fusion import RRF_K
from indexer.retrieval.hits import hydrate
from indexer.retrieval.options import SearchOptions, search_options
from indexer.retrieval.query import QueryContext, SearchRequest
from indexer.retrieval.ranking import HEAD_STAGES, UNIT_STAGES, rank
from indexer.retrieval.results import LongQuestions, Mode, Navigation, SearchResult
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
        """Whether this searcher runs a stage named `name` (e.g. `StageScore.rerank`): a built-in one, or its own."""
        return any(stage.name == name for stage in (*UNIT_STAGES, *HEAD_STAGES, *self.stages))

    @property
    def runtime(self) -> str:
        """The runtime that embeds this searcher's queries."""
        return self._embedder.runtime

    def search(
        self, query: str, options: SearchOptions | None = None, *, where: Filter | None = None, **fields: Any
    ) -> SearchResult:
        """Top `options.k` passages for `query` among the documents `where` admits, after the first
        `options.offset` (a page: pages concatenated are one longer ranking).

        `options` (see `SearchOptions`, which says what each does), with any of its `fields` given here on top:
        `search(q, k=10, mode=Mode.dense)`. A misspelt or out-of-range field is a pydantic ValidationError. Where
        an option is None, the searcher's `defaults` decide (mode, fusion, dense weight, grouping, document
        weight, reranking: a calibration's choices where the collection has one).
        """
        started = time.perf_counter()
        opts = search_options(options, **fields)
        mode, reason = (opts.mode, None) if opts.mode is not None else self._default_mode(query)
        defaults = self.defaults
        request = SearchRequest(
            text=query,
            options=opts,
            mode=mode,
            fusion=opts.fusion or defaults.fusion,
            dense_weight=defaults.dense_weight if opts.dense_weight is None else opts.dense_weight,
            rrf_k=self._rrf_k,
            where=where,
            long_questions=self.long_questions,
            group=opts.group or defaults.group,
            navigation=opts.navigation or Navigation.below,
            document_weight=defaults.document_weight if opts.document_weight is None else opts.document_weight,
            rerank=defaults.rerank if opts.rerank is None else opts.rerank,
        )
        ctx = QueryContext.open(request, self.snapshot, self._embedder, self._candidates)
        ranked, candidates = rank(ctx)
        top = apply_stages(ctx, ranked, self.stages)[: request.depth]
        # Introductions reorder the whole depth, then the page is cut: pages agree with one longer request.
        top, introduced, known = introduce(ctx, top)
        hits = hydrate(ctx, top[opts.offset :], candidates, introduced, known, first_rank=opts.offset + 1)
        hits = with_context(self.snapshot, hits, opts.context)
        took_ms = (time.perf_counter() - started) * 1000
        used = request.fusion if request.mode == Mode.hybrid else None
        return SearchResult(
            query,
            request.mode,
            hits,
            took_ms,
            self.snapshot.version,
            used,
            opts.offset,
            mode_reason=reason,
            statuses=ctx.statuses,
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
