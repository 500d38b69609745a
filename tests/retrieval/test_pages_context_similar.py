"""Pages, passage context and similar documents, checked against one longer request and brute force over every
chunk, on both engines."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.retrieval.options import MAX_OFFSET
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.retrieval.similar import similar_documents
from indexer.storage.base import Snapshot
from indexer.types import Filter
from tests.fakes import FakeEmbedder

QUERY = "Wang Yi Lavrov security cooperation"


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("max_per_doc", [None, 1, 2])
def test_pages_concatenated_equal_one_longer_request(
    fake_snapshot: Snapshot, mode: Mode, max_per_doc: int | None
) -> None:
    searcher = Searcher(fake_snapshot, FakeEmbedder(), candidates=5)  # few candidates: pages must widen
    whole = searcher.search(QUERY, k=12, mode=mode, max_per_doc=max_per_doc, highlight=False)
    pages = [
        searcher.search(QUERY, k=4, offset=offset, mode=mode, max_per_doc=max_per_doc, highlight=False)
        for offset in (0, 4, 8)
    ]
    assert [p.offset for p in pages] == [0, 4, 8]
    joined = [h for p in pages for h in p.hits]
    assert [(h.rank, h.chunk_id, h.score) for h in joined] == [(h.rank, h.chunk_id, h.score) for h in whole.hits]
    past = searcher.search(QUERY, k=4, offset=MAX_OFFSET, mode=mode, max_per_doc=max_per_doc)
    assert past.hits == []


def test_a_who_is_question_pages_like_one_request(fake_snapshot: Snapshot) -> None:
    searcher = Searcher(fake_snapshot, FakeEmbedder())
    whole = searcher.search("Who is Lavrov?", k=6, highlight=False)
    pages = [searcher.search("Who is Lavrov?", k=2, offset=o, highlight=False) for o in (0, 2, 4)]
    joined = [h for p in pages for h in p.hits]
    assert [(h.chunk_id, h.introduces) for h in joined] == [(h.chunk_id, h.introduces) for h in whole.hits]


@pytest.mark.parametrize("n", [1, 2])
def test_context_is_the_passages_around_each_hit_in_document_order(fake_snapshot: Snapshot, n: int) -> None:
    hits = Searcher(fake_snapshot, FakeEmbedder()).search(QUERY, k=6, context=n).hits
    store = fake_snapshot.store
    order = store.chunk_ids_of(list({h.doc_id for h in hits}))
    records = store.chunks([c for ids in order.values() for c in ids])
    for hit in hits:
        ids = sorted(order[hit.doc_id], key=lambda c: records[c].ordinal)  # document order, by brute force
        at = ids.index(hit.chunk_id)
        assert [p.chunk_id for p in hit.before] == ids[max(at - n, 0) : at]
        assert [p.chunk_id for p in hit.after] == ids[at + 1 : at + 1 + n]
        doc = store.document(hit.doc_id)
        assert doc is not None
        for p in (*hit.before, *hit.after):
            assert doc.text[p.start : p.end] == p.text
    assert all(h.before == () and h.after == () for h in Searcher(fake_snapshot, FakeEmbedder()).search(QUERY).hits)


def _brute_similar(snapshot: Snapshot, doc_id: str, k: int, where: Filter | None = None) -> list[tuple[str, int]]:
    store = snapshot.store
    ids = store.chunk_ids()
    vectors = snapshot.vectors.reconstruct_batch(ids)
    doc_of = store.doc_ids_of(ids)
    mine = [i for i, c in enumerate(ids) if doc_of[c] == doc_id]
    centre = vectors[mine].mean(axis=0)
    centre /= np.linalg.norm(centre)
    allowed = set(store.filtered_chunk_ids(where)) if where is not None else set(ids)
    best: dict[str, tuple[float, int]] = {}
    for row, cid in enumerate(ids):
        doc = doc_of[cid]
        if doc == doc_id or cid not in allowed:
            continue
        score = float(vectors[row] @ centre)
        if doc not in best or (score, -cid) > (best[doc][0], -best[doc][1]):
            best[doc] = (score, cid)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))[:k]
    return [(doc, cid) for doc, (_, cid) in ranked]


@pytest.mark.parametrize("k", [1, 3, 10])
def test_similar_documents_match_brute_force(fake_snapshot: Snapshot, k: int) -> None:
    for doc in sorted(fake_snapshot.store.hashes()):
        found = similar_documents(fake_snapshot, doc, k, candidates=2)  # tiny lists: widening must happen
        assert found is not None
        assert [(d.doc_id, d.chunk_id) for d in found] == _brute_similar(fake_snapshot, doc, k)
        assert doc not in {d.doc_id for d in found}
        assert [d.rank for d in found] == list(range(1, len(found) + 1))


def test_similar_documents_with_a_filter_and_a_missing_one(fake_snapshot: Snapshot) -> None:
    docs = sorted(fake_snapshot.store.hashes())
    where = Filter(doc_ids=tuple(docs[2:4]))
    found = similar_documents(fake_snapshot, docs[0], 5, where)
    assert found is not None and {d.doc_id for d in found} == set(docs[2:4])
    assert [(d.doc_id, d.chunk_id) for d in found] == _brute_similar(fake_snapshot, docs[0], 5, where)
    assert similar_documents(fake_snapshot, "no-such-document", 5) is None
    assert similar_documents(fake_snapshot, docs[0], 5, Filter(doc_ids=("nothing",))) == []
