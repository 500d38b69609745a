"""Filters before the top-k cut (including a 1% filter), max_per_doc grouping, and passage highlights."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer.building.builder import build_index
from indexer.ingest.chunking import sentences_of
from indexer.retrieval.highlight import DENSE_RANKS, DENSE_SENTENCES, highlights
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Snapshot
from indexer.storage.factory import open_backend
from indexer.types import ChunkRecord, Filter
from service.settings import Settings
from tests.conftest import ENGINES, fake_client, storage
from tests.fakes import PASSAGES_ALONE, FakeEmbedder

TOPICS = ["rivers", "mountains", "harbours", "deserts", "forests"]


@pytest.fixture(scope="module")
def corpus_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("filters") / "src"
    (src / "reports" / "2024").mkdir(parents=True)
    (src / "notes").mkdir()
    lines = []
    for i in range(400):
        topic = TOPICS[i % len(TOPICS)]
        lines.append(
            json.dumps(
                {
                    "id": f"d{i:03d}",
                    "text": f"Record {i} is about {topic}. The {topic} of region {i} are described here.",
                    "metadata": {"group": i % 100, "lang": "en" if i % 2 else "fr", "flag": i % 3 == 0},
                }
            )
        )
    (src / "reports" / "2024" / "records.jsonl").write_text("\n".join(lines))
    for i in range(20):
        (src / "notes" / f"n{i}.txt").write_text(f"Note {i}\n\nA note about rivers and harbours number {i}.")
    return src


@pytest.fixture(scope="module", params=ENGINES)
def corpus_index(
    request: pytest.FixtureRequest, corpus_source: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """The corpus indexed on each engine in turn; the settings naming it."""
    settings = storage(request.param, tmp_path_factory.mktemp("filters-index"))
    backend = open_backend(settings)
    build_index(corpus_source, backend, FakeEmbedder())
    yield settings
    backend.close()


@pytest.fixture(scope="module")
def snap(corpus_index: Settings) -> Iterator[Snapshot]:
    backend = open_backend(corpus_index)
    yield backend.open()
    backend.close()


@pytest.mark.parametrize("mode", list(Mode))
def test_one_percent_filter_returns_k(snap: Snapshot, mode: Mode) -> None:
    where = Filter(metadata=(("group", 7),))
    matching = snap.store.filtered_chunk_ids(where)
    assert 0 < len(matching) <= 0.01 * snap.vectors.ntotal + 1
    # Few candidates: the matching chunks would never be in an unfiltered top-10.
    searcher = Searcher(snap, FakeEmbedder(), candidates=10)
    hits = searcher.search("record region described", k=len(matching), mode=mode, where=where).hits
    assert sorted(h.chunk_id for h in hits) == sorted(matching)


def test_filter_kinds(snap: Snapshot) -> None:
    searcher = Searcher(snap, FakeEmbedder())
    hits = searcher.search("rivers", k=50, where=Filter(source_prefix="notes/")).hits
    assert len(hits) == 20 and all(h.source.startswith("notes/") for h in hits)
    hits = searcher.search("rivers", k=50, where=Filter(source_prefix="reports/2024/records.jsonl")).hits
    assert len(hits) == 50 and all(h.source.startswith("reports/2024/records.jsonl:") for h in hits)
    hits = searcher.search("rivers", k=100, where=Filter(metadata=(("lang", "fr"), ("flag", True)))).hits
    assert hits and all(int(h.doc_id[1:]) % 2 == 0 and int(h.doc_id[1:]) % 3 == 0 for h in hits)
    assert searcher.search("rivers", k=5, where=Filter(source_prefix="nowhere/")).hits == []
    assert searcher.search("rivers", k=5, where=Filter(metadata=(("missing", "x"),))).hits == []


def test_doc_id_filter_exact(snap: Snapshot) -> None:
    hits = Searcher(snap, FakeEmbedder()).search("rivers", k=10, where=Filter(doc_ids=("d001", "notes/n3.txt"))).hits
    assert {h.doc_id for h in hits} == {"d001", "notes/n3.txt"}


def test_source_prefix_is_case_sensitive(snap: Snapshot) -> None:
    assert Searcher(snap, FakeEmbedder()).search("rivers", k=5, where=Filter(source_prefix="NOTES/")).hits == []


@pytest.mark.parametrize("mode", list(Mode))
def test_max_per_doc_fills_k_from_other_documents(fake_snapshot: Snapshot, mode: Mode) -> None:
    searcher = Searcher(fake_snapshot, FakeEmbedder(), candidates=5)
    plain = searcher.search("Wang Yi Lavrov Astana security framework", k=5, mode=mode).hits
    grouped = searcher.search("Wang Yi Lavrov Astana security framework", k=5, mode=mode, max_per_doc=1).hits
    assert len(grouped) == 5 and len({h.doc_id for h in grouped}) == 5
    assert grouped[0].chunk_id == plain[0].chunk_id
    two = searcher.search("Putin", k=6, mode=mode, max_per_doc=2).hits
    assert len(two) == 6 and max(sum(h.doc_id == d for h in two) for d in {h.doc_id for h in two}) <= 2


def test_lexical_highlight_marks_the_matching_sentence(fake_snapshot: Snapshot) -> None:
    hits = Searcher(fake_snapshot, FakeEmbedder()).search("Temur Umarov", k=1, mode=Mode.lexical).hits
    hl = hits[0].highlight
    assert hl is not None and hl.method == "lexical"
    ((start, end),) = hl.spans
    sentence = hits[0].text[start:end]
    assert "Temur Umarov" in sentence and len(sentence) < len(hits[0].text)


def test_stemmed_terms_highlight(fake_snapshot: Snapshot) -> None:
    hits = Searcher(fake_snapshot, FakeEmbedder()).search("recaptures villages", k=1, mode=Mode.lexical).hits
    hl = hits[0].highlight
    assert hl is not None
    assert "recaptured several towns and villages" in hits[0].text[hl.spans[0][0] : hl.spans[0][1]]


def test_dense_highlight_when_no_query_term_occurs(fake_snapshot: Snapshot) -> None:
    embedder = FakeEmbedder()
    question = embedder.encode_queries(["quixotic zeppelins"])[0]
    hits = Searcher(fake_snapshot, embedder).search("quixotic zeppelins", k=5, mode=Mode.dense).hits
    assert len(hits) == 5
    for hit in hits:  # every hit: its sentences' vectors were stored when it was indexed
        assert hit.highlight is not None and hit.highlight.method == "dense"
        start, end = hit.highlight.spans[0]
        assert 0 <= start < end <= len(hit.text)
        assert hit.text[start:end].strip() == hit.text[start:end]
        sentences = sentences_of(hit.text)
        similarity = embedder.encode([hit.text[s:e] for s, e in sentences]) @ question
        chosen = similarity[sentences.index((start, end))]
        assert chosen >= similarity.max() - 0.02  # the most similar sentence, but for the stored vectors' rounding


def test_dense_highlights_from_stored_vectors_run_no_model(fake_snapshot: Snapshot) -> None:
    embedder = FakeEmbedder()
    searcher = Searcher(fake_snapshot, embedder)
    before = embedder.encoded
    hits = searcher.search("quixotic zeppelins", k=50, mode=Mode.dense).hits
    assert len(hits) > 10 and all(h.highlight is not None for h in hits)
    assert embedder.encoded - before == 1  # the question alone


def _unmarked(records: dict[int, ChunkRecord]) -> dict[int, ChunkRecord]:
    """`records` as an index made before sentences were stored holds them."""
    return {cid: replace(r, sentences=None, sentence_vectors=None) for cid, r in records.items()}


def test_dense_highlights_cost_a_fixed_budget_without_stored_vectors(fake_snapshot: Snapshot) -> None:
    embedder = FakeEmbedder()
    ids = fake_snapshot.store.chunk_ids()[:50]
    records = _unmarked(fake_snapshot.store.chunks(ids))
    query = embedder.encode_queries(["quixotic zeppelins"])
    before = embedder.encoded
    found = highlights(fake_snapshot.lexical, "quixotic zeppelins", query, embedder, records, matching=())
    assert embedder.encoded - before <= DENSE_SENTENCES  # the budget's sentences at most
    assert found and set(found) <= set(ids[:DENSE_RANKS])
    assert all(h.method == "dense" for h in found.values())


QUESTIONS = [
    "Temur Umarov Uzbekistan",
    "recaptures villages",
    "Putin Xi Central Asia security cooperation",
    "Wang Yi Lavrov Astana security framework",
    "rivers of the region",
    "quixotic zeppelins",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_stored_sentence_terms_give_the_highlights_analysis_gives(fake_snapshot: Snapshot, question: str) -> None:
    embedder = FakeEmbedder()
    ids = fake_snapshot.store.chunk_ids()
    records = fake_snapshot.store.chunks(ids)
    assert all(r.sentences for r in records.values())
    stored = highlights(fake_snapshot.lexical, question, None, embedder, records)
    analysed = highlights(fake_snapshot.lexical, question, None, embedder, _unmarked(records))
    assert stored == analysed
    if question != "quixotic zeppelins":
        assert stored  # the comparison covers lexical highlights


@pytest.mark.parametrize("mode", list(Mode))
def test_every_mode_prefers_the_lexical_highlight(fake_snapshot: Snapshot, mode: Mode) -> None:
    for hit in Searcher(fake_snapshot, FakeEmbedder()).search("Temur Umarov Uzbekistan", k=3, mode=mode).hits:
        if hit.lexical is not None:
            assert hit.highlight is not None and hit.highlight.method == "lexical"


def test_lexical_mode_runs_no_model(fake_snapshot: Snapshot) -> None:
    embedder = FakeEmbedder()
    hits = Searcher(fake_snapshot, embedder).search("Temur Umarov", k=3, mode=Mode.lexical).hits
    assert hits and embedder.encoded == 0 and all(h.dense is None for h in hits)


def test_highlight_can_be_turned_off(fake_snapshot: Snapshot) -> None:
    hits = Searcher(fake_snapshot, FakeEmbedder()).search("Putin", k=3, highlight=False).hits
    assert all(h.highlight is None for h in hits)


@pytest.fixture
def client(corpus_index: Settings) -> Iterator[TestClient]:
    with fake_client(corpus_index) as c:
        yield c


def test_api_filters_get_and_post(client: TestClient) -> None:
    got = client.get("/search", params=[("q", "rivers"), ("k", "50"), ("meta", "group:7"), ("meta", "lang:en")]).json()
    assert {h["doc_id"] for h in got["results"]} == {"d007", "d107", "d207", "d307"}
    posted = client.post(
        "/search", json={"query": "rivers", "k": 50, "filters": {"metadata": {"group": 7, "lang": "en"}}}
    ).json()
    assert {h["doc_id"] for h in posted["results"]} == {"d007", "d107", "d207", "d307"}
    got = client.get("/search", params=[("q", "rivers"), ("doc_id", "d001"), ("doc_id", "d002")]).json()
    assert {h["doc_id"] for h in got["results"]} == {"d001", "d002"}
    got = client.get("/search", params={"q": "rivers", "source": "notes/", "k": 3, "max_per_doc": 1}).json()
    assert len(got["results"]) == 3 and all(h["source"].startswith("notes/") for h in got["results"])
    hl = got["results"][0]["highlight"]
    assert hl["method"] in ("lexical", "dense") and hl["spans"][0]["end"] > hl["spans"][0]["start"]


@pytest.mark.parametrize(
    ("params", "status", "hint"),
    [
        ({"q": "x", "meta": "nocolon"}, 422, "key:value"),
        ({"q": "x", "doc_id": ""}, 422, "doc_id"),
        ({"q": "x", "min_score": "nan"}, 422, "min_score"),
        ({"q": "x", "min_score": "-inf"}, 422, "min_score"),
        ({"q": "   "}, 422, "non-empty question"),
        ({"q": "x", "max_per_doc": 0}, 422, "max_per_doc"),
        ({"q": "x", "source": ""}, 422, "source"),
    ],
)
def test_api_filter_errors(client: TestClient, params: dict[str, str | int], status: int, hint: str) -> None:
    r = client.get("/search", params=params)
    assert r.status_code == status and hint in r.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "hint"),
    [
        ({"query": "x", "filters": {"doc_id": []}}, "doc_id"),
        ({"query": "x", "filters": {"metadata": {'bad"key': 1}}}, "metadata"),
        ({"query": "x", "filters": {"metadata": {"": 1}}}, "metadata"),
        ({"query": "x", "filters": {"metadata": {"k": [1, 2]}}}, "metadata"),
        ({"query": "x", "filters": {"colour": "red"}}, "unknown field 'colour'"),
    ],
)
def test_api_post_filter_errors(client: TestClient, payload: dict[str, object], hint: str) -> None:
    r = client.post("/search", json=payload)
    assert r.status_code == 422 and hint in r.json()["detail"], r.text


@pytest.mark.parametrize("mode", [Mode.dense, Mode.lexical])
def test_grouping_with_min_score_matches_brute_force(fake_snapshot: Snapshot, mode: Mode) -> None:
    query = "Putin Xi Central Asia security cooperation"
    # The mode's own scores (min_score cuts them; with one passage per document, document scores change nothing).
    full = Searcher(fake_snapshot, FakeEmbedder(), defaults=PASSAGES_ALONE).search(query, k=100, mode=mode).hits
    cut = full[12].score
    best: dict[str, float] = {}
    for h in full:
        if h.score >= cut:
            best.setdefault(h.doc_id, h.score)
    expected = sorted(best, key=lambda d: -best[d])[:4]
    hits = (
        Searcher(fake_snapshot, FakeEmbedder(), candidates=3)
        .search(query, k=4, mode=mode, max_per_doc=1, min_score=cut, highlight=False)
        .hits
    )
    assert [h.doc_id for h in hits] == expected
    assert all(h.score >= cut for h in hits)
