"""The reranker stage: a cross-encoder re-scores the first candidates of the fused ranking.

It reads the first `candidates` units of the ranking (after fusion, grouping, document scores and navigation),
scores each passage with the question (as the index matched it: with its document's name and heading in front),
and orders them by that score; the units past them follow in their fused order, so a page of results is the same
slice of one ranking however deep a request reads. Each re-scored hit keeps its fused score (`fused`) beside its
`rerank` score. With a budget, a reranker slower than it is abandoned and the fused order stands; the search
says so (`SearchResult.rerank`).
"""

from __future__ import annotations

import concurrent.futures
import logging
from dataclasses import dataclass

from indexer.rerank.base import Reranker, RerankerError
from indexer.rerank.settings import DEFAULT_RERANK_CANDIDATES
from indexer.retrieval.query import QueryContext, Ranked
from indexer.retrieval.results import StageScore

log = logging.getLogger(__name__)
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="seekr-rerank")


@dataclass(frozen=True)
class RerankStage:
    """Re-scores the first `candidates` units with `reranker`; `budget_ms`: give up past it (None: never)."""

    reranker: Reranker
    candidates: int = DEFAULT_RERANK_CANDIDATES
    budget_ms: float | None = None
    name: str = StageScore.rerank
    records_own_scores: bool = True  # only the re-scored units get a rerank score (see `apply_stages`)

    def __call__(self, ctx: QueryContext, ranked: Ranked) -> Ranked:
        request = ctx.request
        if not request.rerank:
            ctx.statuses[self.name] = "off"
            return ranked
        depth = request.options.rerank_candidates or self.candidates
        head, tail = ranked[:depth], ranked[depth:]
        if not head:
            return ranked
        records = ctx.records([cid for cid, _ in head])
        context = ctx.snapshot.manifest.chunking.passage_context
        texts = [records[cid].matched(context) for cid, _ in head]
        budget = request.options.rerank_budget_ms if request.options.rerank_budget_ms is not None else self.budget_ms
        try:
            if budget is None:  # nothing to give up on: score in this thread
                scores = self.reranker.score(request.text, texts)
            else:
                future = _POOL.submit(self.reranker.score, request.text, texts)
                scores = future.result(timeout=budget / 1000)
        except concurrent.futures.TimeoutError:
            future.cancel()  # a call already running finishes in its thread; its answer is not waited for
            ctx.statuses[self.name] = f"over budget ({budget:g} ms): fused order"
            return ranked
        except RerankerError as exc:  # a server down or answering nonsense: an answer in fused order beats none
            log.warning("reranker %s failed: %s", self.reranker.model_id, exc)
            ctx.statuses[self.name] = f"failed ({exc}): fused order"
            return ranked
        ctx.statuses[self.name] = f"reranked {len(head)}"
        for (cid, fused), score in zip(head, scores, strict=True):
            ctx.stage_scores.setdefault(cid, {}).update({StageScore.fused: fused, self.name: score})
        order = sorted(range(len(head)), key=lambda i: -scores[i])
        return [(head[i][0], scores[i]) for i in order] + tail
