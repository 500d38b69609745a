"""The context stage: the passages before and after each hit in its document, read in two queries for all hits
(the hits' documents' passage ids, then the passages wanted), whatever the number of hits."""

from __future__ import annotations

from dataclasses import replace

from indexer.retrieval.results import Hit, Passage
from indexer.storage.base import Snapshot
from indexer.types import ChunkRecord


def _around(ids: list[int], chunk_id: int, n: int) -> tuple[list[int], list[int]]:
    """The up to `n` ids before and after `chunk_id` in `ids` (a document's passages in order)."""
    if chunk_id not in ids:
        return [], []
    at = ids.index(chunk_id)
    return ids[max(at - n, 0) : at], ids[at + 1 : at + 1 + n]


def _passages(records: dict[int, ChunkRecord], ids: list[int]) -> tuple[Passage, ...]:
    return tuple(
        Passage(c, records[c].start, records[c].end, records[c].text, records[c].page) for c in ids if c in records
    )


def passages_around(
    snapshot: Snapshot, doc_id: str, chunk_id: int, n: int
) -> tuple[tuple[Passage, ...], Passage, tuple[Passage, ...]] | None:
    """(before, the passage, after) for passage `chunk_id` of document `doc_id`; None if it has no such passage."""
    ids = snapshot.store.chunk_ids_of([doc_id]).get(doc_id, [])
    if chunk_id not in ids:
        return None
    before, after = _around(ids, chunk_id, n)
    records = snapshot.store.chunks([*before, chunk_id, *after])
    return _passages(records, before), _passages(records, [chunk_id])[0], _passages(records, after)


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
