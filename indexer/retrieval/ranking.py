"""Stages 2 and 3: fuse the candidates into one ranking, then the built-in stages (`UNIT_STAGES`: cut by score,
group per page and per document; `HEAD_STAGES`: document scores, navigation passages below content), asking the
retrievers for more candidates while grouping leaves fewer than k and more could still come."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from indexer.retrieval.candidates import Candidates, retrieve
from indexer.retrieval.fusion import Fusion, dbsf, dbsf_bounds, rrf
from indexer.retrieval.query import QueryContext, Ranked
from indexer.retrieval.results import Group, Mode, Navigation, StageScore
from indexer.retrieval.stages import Stage, apply_stages
from indexer.types import NAVIGATION, Place


def best_first(scores: dict[int, float]) -> Ranked:
    """`scores` ranked: best first, ties by chunk id."""
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def fuse(ctx: QueryContext, candidates: Candidates) -> Ranked:
    """One ranking from the candidate lists: a single mode's own list, or the hybrid fusion of both."""
    request = ctx.request
    if request.mode == Mode.dense:
        return candidates.dense
    if request.mode == Mode.lexical:
        return candidates.lexical
    if request.fusion is Fusion.rrf:
        return best_first(rrf([[c for c, _ in candidates.dense], [c for c, _ in candidates.lexical]], request.rrf_k))
    return _dbsf(ctx, candidates)


def _dbsf(ctx: QueryContext, candidates: Candidates) -> Ranked:
    dense, lexical = candidates.dense, candidates.lexical
    union = list(dict.fromkeys([c for c, _ in dense] + [c for c, _ in lexical]))
    # Each candidate gets both scores: the one a retriever did not return is computed exactly.
    dense_of = dict(dense)
    dense_of.update(ctx.dense_scores([c for c in union if c not in dense_of]))
    lexical_of = ctx.lexical_scores(union)
    # Normalised on a fixed window (the searcher's `candidates`, as Elasticsearch's rank window): a passage's
    # fused score then depends on the query alone, not on how deep a page reads or how far grouping widened the
    # lists, so pages of one query agree with each other and with one longer request.
    window = ctx.window
    bounds = dbsf_bounds([s for _, s in dense[:window]]), dbsf_bounds([s for _, s in lexical[:window]])
    weight = ctx.request.dense_weight
    fused = dbsf(dense_of, lexical_of, *bounds, weight)
    if ctx.request.per_document:
        doc_of = ctx.snapshot.store.doc_ids_of(union)
        unit_of: dict[int, object] = {cid: doc_of[cid] for cid in union}
    elif ctx.request.group is Group.page:
        places = ctx.places(union)
        unit_of = {cid: _page_key(cid, places[cid]) for cid in union}
    else:
        return best_first(fused)
    # Units (documents, pages) fused on their best passage per retriever, so evidence split over two passages
    # is not lost; each unit is shown by its best fused passage.
    unit_dense: dict[object, float] = {}
    unit_lexical: dict[object, float] = {}
    shown: dict[object, int] = {}
    for cid in union:
        unit = unit_of[cid]
        unit_dense[unit] = max(unit_dense.get(unit, -np.inf), dense_of[cid])
        unit_lexical[unit] = max(unit_lexical.get(unit, -np.inf), lexical_of[cid])
        if unit not in shown or (fused[cid], -cid) > (fused[shown[unit]], -shown[unit]):
            shown[unit] = cid
    unit_fused = dbsf(unit_dense, unit_lexical, *bounds, weight)
    return best_first({shown[unit]: score for unit, score in unit_fused.items()})


def _page_key(chunk_id: int, place: Place) -> object:
    """What a passage is grouped by with `group=page`: its document's page, or itself where it has no page."""
    return (place.doc_id, place.page) if place.page is not None else chunk_id


def one_per_page(ctx: QueryContext, ranked: Ranked) -> Ranked:
    """`ranked` keeping the best passage of each page (passages without a page are their own unit), in order."""
    places = ctx.places([cid for cid, _ in ranked])
    seen: set[object] = set()
    kept = []
    for cid, score in ranked:
        key = _page_key(cid, places[cid])
        if key not in seen:
            seen.add(key)
            kept.append((cid, score))
    return kept


DOCUMENT_PASSAGES = 3  # a document's score: the mean of its best this many units (pages, passages)


def with_document_scores(ctx: QueryContext, head: Ranked) -> Ranked:
    """Hierarchical scoring of the first window's units: each unit's score moves toward its document's score, the
    mean of the document's best `DOCUMENT_PASSAGES` units there, as `(own + w * document) / (1 + w)` with w the
    request's `document_weight`. A document matching on several pages then ranks its pages above a stray page of
    another. Scores stay in the mode's scale; a document of one unit, and every document with `max_per_doc=1`,
    keeps its own score."""
    weight = ctx.request.document_weight
    if weight == 0 or not head:
        return head
    places = ctx.places([cid for cid, _ in head])
    best: dict[str, list[float]] = {}
    for cid, score in head:  # best first: each document's first scores are its best
        scores = best.setdefault(places[cid].doc_id, [])
        if len(scores) < DOCUMENT_PASSAGES:
            scores.append(score)
    document = {doc: sum(scores) / len(scores) for doc, scores in best.items()}
    rescored: dict[int, float] = {}
    for cid, score in head:
        doc_score = document[places[cid].doc_id]
        ctx.stage_scores.setdefault(cid, {})[StageScore.document] = doc_score
        rescored[cid] = (score + weight * doc_score) / (1 + weight)
    return best_first(rescored)


def place_navigation(ctx: QueryContext, ranked: Ranked) -> Ranked:
    """Navigation passages (tables of contents, indexes) below every content passage (`Navigation.below`, the
    default), left out (`exclude`), or ranked as any passage (`include`)."""
    policy = ctx.request.navigation
    if policy is Navigation.include or not ranked:
        return ranked
    places = ctx.places([cid for cid, _ in ranked])
    content = [(cid, s) for cid, s in ranked if places[cid].kind != NAVIGATION]
    if policy is Navigation.exclude or len(content) == len(ranked):
        return content
    return content + [(cid, s) for cid, s in ranked if places[cid].kind == NAVIGATION]


def at_most_per_document(ctx: QueryContext, ranked: Ranked, max_per_doc: int) -> Ranked:
    """`ranked` keeping at most `max_per_doc` passages of each document, in order."""
    doc_of = ctx.snapshot.store.doc_ids_of([cid for cid, _ in ranked])
    taken: dict[str, int] = {}
    kept = []
    for cid, score in ranked:
        doc = doc_of[cid]
        if taken.get(doc, 0) < max_per_doc:
            taken[doc] = taken.get(doc, 0) + 1
            kept.append((cid, score))
    return kept


def more_possible(ctx: QueryContext, candidates: Candidates) -> bool:
    """Whether asking the retrievers for more than `candidates.n` could add a hit."""
    request, n = ctx.request, candidates.n
    if n >= ctx.total:
        return False
    lists = candidates.lists(request.mode)
    if all(len(found) < n for found in lists):
        return False  # every retriever already returned all it has
    if request.options.min_score is None:
        return True
    # Candidates come best first, so anything further scores below the weakest one seen so far.
    if request.mode == Mode.hybrid and request.fusion is Fusion.rrf:
        return 2.0 / (request.rrf_k + n + 1) >= request.options.min_score
    if request.mode == Mode.hybrid:
        return True  # a candidate further down one list can score high on the other: no bound to stop at
    weakest = lists[0][-1][1] if lists[0] else float("-inf")
    return weakest >= request.options.min_score


def cut_by_score(ctx: QueryContext, ranked: Ranked) -> Ranked:
    """`ranked` without the units scoring below the request's `min_score` (all of it without one)."""
    floor = ctx.request.options.min_score
    return ranked if floor is None else [(cid, s) for cid, s in ranked if s >= floor]


def group_pages(ctx: QueryContext, ranked: Ranked) -> Ranked:
    """One unit per page with `group=page` (see `one_per_page`); `ranked` as it is with `group=passage`."""
    return one_per_page(ctx, ranked) if ctx.request.group is Group.page else ranked


def limit_per_document(ctx: QueryContext, ranked: Ranked) -> Ranked:
    """At most the request's `max_per_doc` units per document (see `at_most_per_document`)."""
    limit = ctx.request.options.max_per_doc
    return ranked if limit is None else at_most_per_document(ctx, ranked, limit)


@dataclass(frozen=True)
class BuiltIn:
    """A stage every search runs (`indexer.retrieval.stages.Stage`): `run` reads its options from the request and
    records its scores, if it gives any, itself."""

    name: str
    run: Callable[[QueryContext, Ranked], Ranked]
    records_own_scores: bool = True

    def __call__(self, ctx: QueryContext, ranked: Ranked) -> Ranked:
        return self.run(ctx, ranked)


# The stages every search runs, in order. On the fused candidates, each time they are widened:
UNIT_STAGES: tuple[Stage, ...] = (
    BuiltIn("min_score", cut_by_score),
    BuiltIn("group", group_pages),
    BuiltIn("max_per_doc", limit_per_document),
)
# Then on the head (the units of the first window), before a searcher's own stages (a reranker) see the ranking:
HEAD_STAGES: tuple[Stage, ...] = (
    BuiltIn(StageScore.document, with_document_scores),
    BuiltIn("navigation", place_navigation),
)


def _units(ctx: QueryContext, found: Candidates) -> Ranked:
    """The candidates fused, then through `UNIT_STAGES`: cut by score, one per page (`group=page`) and at most
    `max_per_doc` per document."""
    return apply_stages(ctx, fuse(ctx, found), UNIT_STAGES)


def rank(ctx: QueryContext) -> tuple[Ranked, Candidates]:
    """Candidates, fusion, the score cut and grouping, widened fourfold until the request's depth (offset + k) is
    reached or nothing more can come; the ranking (longer if it can be) and the candidate lists it came from.

    Document scores and navigation placement re-rank the units of the first `window` candidates (the head, as a
    reranker would); units found past them follow in their own order. The head is the same whatever the depth,
    so pages agree with one longer request."""
    request = ctx.request
    first = min(ctx.total, ctx.window)
    n = min(ctx.total, max(ctx.window, request.depth))
    head: Ranked | None = None
    while True:
        found = retrieve(ctx, n)
        ranked = _units(ctx, found)
        if head is None:
            head = ranked if n == first else _units(ctx, retrieve(ctx, first))
        in_head = {cid for cid, _ in head}
        tail = [(cid, s) for cid, s in ranked if cid not in in_head]
        if request.navigation is Navigation.exclude:
            tail = place_navigation(ctx, tail)
        ranked = apply_stages(ctx, head, HEAD_STAGES) + tail
        if len(ranked) >= request.depth or not more_possible(ctx, found):
            return ranked, found
        n = min(ctx.total, n * 4)
