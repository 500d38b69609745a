"""Stage 1, candidates: each retriever's best `n` passages for the query, among those the filter lets through."""

from __future__ import annotations

from dataclasses import dataclass

from indexer.retrieval.query import QueryContext, Ranked
from indexer.retrieval.results import Mode


@dataclass(frozen=True)
class Candidates:
    """The best `n` of each retriever the mode uses, best first (empty: the mode does not use it)."""

    n: int
    dense: Ranked
    lexical: Ranked

    def lists(self, mode: Mode) -> list[Ranked]:
        """The candidate lists `mode` ranks from."""
        return {Mode.dense: [self.dense], Mode.lexical: [self.lexical], Mode.hybrid: [self.dense, self.lexical]}[mode]


def retrieve(ctx: QueryContext, n: int) -> Candidates:
    """Ask each retriever of the mode for its best `n`."""
    mode = ctx.request.mode
    dense: Ranked = []
    if mode != Mode.lexical and ctx.query_vec is not None and n > 0:
        # The filter is applied inside each segment's search, so top-n is taken among passing chunks only.
        scores, ids = ctx.snapshot.vectors.search(ctx.query_vec, n, ctx.allowed)
        dense = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
    lexical: Ranked = []
    if mode != Mode.dense and ctx.lexical is not None:
        lexical = ctx.lexical.top(n, ctx.allowed)
    return Candidates(n, dense, lexical)
