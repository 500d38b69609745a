"""The context stage: the passages before and after each hit in its document, read in two queries for all hits
(the hits' documents' passage ids, then the passages wanted), whatever the number of hits."""

from __future__ import annotations

from dataclasses import replace

from indexer.retrieval.results import Hit, Passage
from indexer.storage.base import Snapshot


def with_context(snapshot: Snapshot, hits: list[Hit], n: int) -> list[Hit]:
    """`hits` with up to `n` passages before and after each, from the same document, in document order."""
    if n <= 0 or not hits:
        return hits
    # A document's passage ids ascend in document order: the index hands them out in order as it writes one.
    order = snapshot.store.chunk_ids_of(list(dict.fromkeys(h.doc_id for h in hits)))
    around: dict[int, tuple[list[int], list[int]]] = {}
    for hit in hits:
        ids = order.get(hit.doc_id, [])
        at = ids.index(hit.chunk_id) if hit.chunk_id in ids else -1
        around[hit.chunk_id] = (ids[max(at - n, 0) : at], ids[at + 1 : at + 1 + n]) if at >= 0 else ([], [])
    wanted = {cid for before, after in around.values() for cid in (*before, *after)}
    records = snapshot.store.chunks(wanted)

    def passages(ids: list[int]) -> tuple[Passage, ...]:
        return tuple(
            Passage(c, records[c].start, records[c].end, records[c].text, records[c].page) for c in ids if c in records
        )

    return [replace(h, before=passages(around[h.chunk_id][0]), after=passages(around[h.chunk_id][1])) for h in hits]
