"""The optional stage hook: where a reranker or a score boost goes, between ranking and the top-k cut.

A stage receives the ranking (best first, after fusion, the score cut and grouping) and returns it re-scored
and re-ordered. What it returns is the ranking from then on, and its score of each passage is kept by name, so
every hit still explains every score that placed it (`Hit.stage_scores`). What it did, when that needs saying
(the reranker: "reranked 20", "off", "over budget"), it records under its name in `ctx.statuses`, which the
search result carries (`SearchResult.statuses`). Its options are fields of `SearchOptions`, read from
`ctx.request.options`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from indexer.retrieval.query import QueryContext, Ranked


class Stage(Protocol):
    """A step that re-scores a ranking."""

    @property
    def name(self) -> str:
        """The key its scores are explained under (a `StageScore`); what `Searcher.has_stage` asks for."""
        ...

    @property
    def records_own_scores(self) -> bool:
        """True: it records the scores of the units it scored itself (some only); False: every unit of the
        ranking it returns is explained by its score."""
        ...

    def __call__(self, ctx: QueryContext, ranked: Ranked) -> Ranked:
        """`ranked` re-scored, best first."""
        ...


def apply_stages(ctx: QueryContext, ranked: Ranked, stages: Sequence[Stage]) -> Ranked:
    """Run `stages` in order over `ranked`, recording each one's scores in the context."""
    for stage in stages:
        ranked = stage(ctx, ranked)
        if stage.records_own_scores:  # it scored some units only, and said which
            continue
        for cid, score in ranked:
            ctx.stage_scores.setdefault(cid, {})[stage.name] = score
    return ranked
