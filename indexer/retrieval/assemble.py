"""The one way a searcher is put together, for the service and the CLI alike: its stages from the reranker it
is given and the reranker settings, over a snapshot with its defaults."""

from __future__ import annotations

from indexer.embed.base import Embedder
from indexer.rerank.base import Reranker
from indexer.rerank.settings import RerankOptions
from indexer.retrieval.defaults import DEFAULTS, SearchDefaults
from indexer.retrieval.rerank import RerankStage
from indexer.retrieval.results import LongQuestions
from indexer.retrieval.searcher import DEFAULT_CANDIDATES, Searcher
from indexer.retrieval.stages import Stage
from indexer.storage.base import Snapshot


def open_searcher(
    snapshot: Snapshot,
    embedder: Embedder,
    reranker: Reranker | None = None,
    rerank: RerankOptions | None = None,
    *,
    candidates: int = DEFAULT_CANDIDATES,
    defaults: SearchDefaults = DEFAULTS,
    long_questions: LongQuestions = LongQuestions.first,
) -> Searcher:
    """A searcher over `snapshot`; with a reranker stage when `reranker` is given, as deep and within the budget
    `rerank` says (None: the settings' defaults, read from SEEKR_RERANK_*)."""
    stages: list[Stage] = []
    if reranker is not None:
        options = rerank if rerank is not None else RerankOptions()
        stages.append(RerankStage(reranker, options.rerank_candidates, options.rerank_budget_ms))
    return Searcher(
        snapshot, embedder, candidates=candidates, defaults=defaults, stages=stages, long_questions=long_questions
    )
