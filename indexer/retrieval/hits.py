"""The last stage, hydration: the ranked passages' text and offsets, every component score and rank that
explains their place, and highlights."""

from __future__ import annotations

from indexer.retrieval.candidates import Candidates
from indexer.retrieval.highlight import highlights
from indexer.retrieval.query import QueryContext, Ranked
from indexer.retrieval.results import Hit
from indexer.types import ChunkRecord


def hydrate(
    ctx: QueryContext,
    top: Ranked,
    candidates: Candidates,
    introduced: dict[int, str],
    known: dict[int, ChunkRecord],
    first_rank: int = 1,
) -> list[Hit]:
    """One Hit per passage of `top`, in order, ranked from `first_rank`; `known` holds passages read already by
    an earlier stage."""
    ids = [cid for cid, _ in top]
    dense_rank = {cid: r for r, (cid, _) in enumerate(candidates.dense, start=1)}
    lexical_rank = {cid: r for r, (cid, _) in enumerate(candidates.lexical, start=1)}
    dense_scores = dict(candidates.dense)
    dense_scores.update(ctx.dense_scores([i for i in ids if i not in dense_scores]))
    # a passage without any query term has no lexical score
    lexical_scores = {cid: s for cid, s in ctx.lexical_scores(ids).items() if s > 0}
    records = known | ctx.records([i for i in ids if i not in known])
    marked = (
        highlights(
            ctx.snapshot.lexical,
            ctx.request.text,
            ctx.query_vec,
            ctx.embedder,
            {i: records[i] for i in ids},
            matching=lexical_scores,
            reads=ctx.snapshot.manifest.model.reads,
        )
        if ctx.request.options.highlight
        else {}
    )
    hits = []
    for rank, (cid, score) in enumerate(top, start=first_rank):
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
                highlight=marked.get(cid),
                page=rec.page,
                heading=rec.heading,
                kind=rec.kind,
                sheet=rec.sheet,
                rows=(rec.row_first, rec.row_last) if rec.row_first is not None and rec.row_last is not None else None,
                ocr_confidence=rec.ocr_confidence,
                introduces=introduced.get(cid),
                stage_scores=dict(ctx.stage_scores.get(cid, {})),
            )
        )
    return hits
