"""Documents like a given one ("more like this"), by its stored vectors: no model call, no query text.

A document is represented by the mean of its passages' vectors, normalised; the passages nearest to it are
grouped by document (each shown by its nearest passage), the document itself left out, and the candidate list
widened until `k` other documents are found or the index (as filtered) is exhausted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer.storage.base import Restriction, Snapshot
from indexer.types import Filter

DEFAULT_CANDIDATES = 100


@dataclass(frozen=True)
class SimilarDocument:
    """A document like the one asked about, shown by its passage nearest to it."""

    rank: int
    doc_id: str
    title: str
    source: str
    score: float  # cosine of that passage with the document's mean vector
    chunk_id: int
    start: int
    end: int
    text: str
    page: int | None


def similar_documents(
    snapshot: Snapshot, doc_id: str, k: int, where: Filter | None = None, candidates: int = DEFAULT_CANDIDATES
) -> list[SimilarDocument] | None:
    """The `k` documents most like `doc_id` (among those passing `where`), best first; None if it is not there."""
    store = snapshot.store
    own = store.chunk_ids_of([doc_id]).get(doc_id)
    if not own:
        return None
    centre = snapshot.vectors.reconstruct_batch(own).mean(axis=0)
    norm = float(np.linalg.norm(centre))
    query = (centre / norm if norm > 0 else centre).astype(np.float32)[None, :]
    allowed: Restriction | None = None
    total = snapshot.vectors.ntotal
    if where is not None and not where.is_empty:
        allowed = store.restrict(where)
        total = allowed.size
    n = min(total, max(candidates, 4 * (k + 1)))
    best: dict[str, tuple[int, float]] = {}
    while n > 0:
        scores, ids = snapshot.vectors.search(query, n, allowed)
        found = [(int(c), float(s)) for c, s in zip(ids[0], scores[0], strict=True) if c >= 0]
        doc_of = store.doc_ids_of([c for c, _ in found])
        best = {}
        for cid, score in found:  # best first: a document's first passage here is its nearest
            doc = doc_of.get(cid)
            if doc is not None and doc != doc_id and doc not in best:
                best[doc] = (cid, score)
        if len(best) >= k or n >= total:
            break
        n = min(total, n * 4)
    top = sorted(best.items(), key=lambda item: (-item[1][1], item[0]))[:k]
    records = store.chunks([cid for _, (cid, _) in top])
    return [
        SimilarDocument(
            rank=rank,
            doc_id=doc,
            title=records[cid].title,
            source=records[cid].source,
            score=score,
            chunk_id=cid,
            start=records[cid].start,
            end=records[cid].end,
            text=records[cid].text,
            page=records[cid].page,
        )
        for rank, (doc, (cid, score)) in enumerate(top, start=1)
    ]
