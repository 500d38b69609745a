"""Metadata filter expressions (ranges, sets, presence, and/or/not) against brute force over every chunk, on both
engines: `indexer.filters.matches` states the semantics, each engine's translation must agree with it."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from indexer.building.builder import build_index
from indexer.filters import matches
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Backend, Snapshot
from indexer.storage.settings import BackendName
from indexer.types import All, Any_, Condition, Expr, Filter, Not
from service.app import create_app
from service.settings import Settings
from tests.conftest import engine_backend, wait_ready
from tests.fakes import FakeEmbedder

LANGS = ["en", "fr", "de"]
EXPR_LANG = {"field": "lang", "op": "in", "value": ["en", "fr"]}
NO_DRAFT = {"field": "draft", "op": "exists", "value": False}
WORDS = ["river", "harbour", "glacier", "meadow", "canyon", "orchard", "reef", "tundra", "estuary", "volcano"]


def _metadata(n: int, rng: random.Random) -> dict[str, object]:
    meta: dict[str, object] = {}
    if n % 7:
        meta["year"] = 2000 + rng.randrange(30)  # numbers
    if n % 5:
        meta["score"] = round(rng.uniform(-1, 1), 3)
    if n % 3:
        meta["lang"] = rng.choice(LANGS)  # text
    if n % 4:
        meta["date"] = f"20{rng.randrange(10, 25)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    if n % 2:
        meta["draft"] = n % 4 == 1  # booleans
    if n % 6 == 0:
        meta["year"] = str(2000 + n % 30)  # the same field holding text: never equal to a number
    if n % 9 == 0:
        meta["tags"] = ["a", "b"]  # a list: no comparison holds, exists says false
    return meta


@pytest.fixture(scope="module", params=[BackendName.local, pytest.param(BackendName.milvus, marks=pytest.mark.milvus)])
def indexed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    root = tmp_path_factory.mktemp(f"filters-{request.param.value}")
    rng = random.Random(7)
    src = root / "src"
    src.mkdir()
    lines = []
    for n in range(60):
        words = " ".join(rng.choice(WORDS) for _ in range(40))
        lines.append(json.dumps({"id": f"d{n:02d}", "text": f"Document {n}. {words}.", "metadata": _metadata(n, rng)}))
    (src / "docs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    backend = engine_backend(request.param, root)
    build_index(src, backend, FakeEmbedder())
    yield backend
    backend.close()


C = Condition
EXPRESSIONS: dict[str, Expr] = {
    "year >= 2010": C("year", "gte", 2010),
    "year > 2010.5 (float against int)": C("year", "gt", 2010.5),
    "score < 0": C("score", "lt", 0),
    "score <= 0.25 and lang = en": All((C("score", "lte", 0.25), C("lang", "eq", "en"))),
    "date range (ISO text)": All((C("date", "gte", "2015-01-01"), C("date", "lt", "2020-06-30"))),
    "lang in (en, fr)": C("lang", "in", ("en", "fr")),
    "lang not in (en)": C("lang", "not_in", ("en",)),
    "year in mixed types": C("year", "in", (2003, "2006", 2011, True)),
    "year not in mixed types": C("year", "not_in", (2003, "2006", True)),
    "draft = true": C("draft", "eq", True),
    "draft != true": C("draft", "ne", True),
    "year = 2012 (number)": C("year", "eq", 2012),
    "year = '2012' (text)": C("year", "eq", "2012"),
    "year ne 2012": C("year", "ne", 2012),
    "lang exists": C("lang", "exists", True),
    "draft missing": C("draft", "exists", False),
    "tags exists (a list: no)": C("tags", "exists", True),
    "not year >= 2010": Not(C("year", "gte", 2010)),
    "not (lang = en or draft)": Not(Any_((C("lang", "eq", "en"), C("draft", "eq", True)))),
    "nested": Any_(
        (
            All((C("year", "lt", 2005), Not(C("lang", "in", ("de",))))),
            All((C("score", "gt", 0.5), C("date", "exists", False))),
        )
    ),
    "not not": Not(Not(C("score", "gte", 0))),
    "matches nothing": C("year", "gt", 3000),
    "matches everything": Any_((C("year", "exists", True), C("year", "exists", False))),
    "a field no document has": C("colour", "eq", "red"),
    "no document lacks nothing": Not(C("colour", "exists", False)),
}


def _expected(snapshot: Snapshot, expr: Expr) -> list[int]:
    docs = {d.doc_id: d.metadata for d in snapshot.store.documents()}
    ids = snapshot.store.chunk_ids()
    doc_of = snapshot.store.doc_ids_of(ids)
    return sorted(c for c in ids if matches(expr, docs[doc_of[c]]))


@pytest.mark.parametrize("name", list(EXPRESSIONS))
def test_filter_expressions_match_brute_force(indexed: Backend, name: str) -> None:
    snapshot = indexed.open()
    expr = EXPRESSIONS[name]
    expected = _expected(snapshot, expr)
    assert snapshot.store.filtered_chunk_ids(Filter(where=expr)) == expected
    assert snapshot.store.restrict(Filter(where=expr)).size == len(expected)
    if name == "matches everything":
        assert expected == snapshot.store.chunk_ids()
    if name in ("matches nothing", "a field no document has"):
        assert expected == []


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("name", ["lang in (en, fr)", "not year >= 2010", "draft missing", "nested"])
def test_a_filtered_search_returns_k_when_k_match(indexed: Backend, mode: Mode, name: str) -> None:
    snapshot = indexed.open()
    expr = EXPRESSIONS[name]
    passing = set(_expected(snapshot, expr))
    hits = (
        Searcher(snapshot, FakeEmbedder(), candidates=5)
        .search("river glacier harbour", k=8, mode=mode, where=Filter(where=expr), highlight=False)
        .hits
    )
    assert {h.chunk_id for h in hits} <= passing
    assert len(hits) == min(8, len(passing)) or mode is Mode.lexical  # lexical: only passages with a term


@pytest.fixture(scope="module")
def filtered_client(indexed: Backend) -> Iterator[tuple[TestClient, Snapshot]]:
    from indexer.storage.local import LocalBackend
    from indexer.storage.milvus import MilvusBackend

    if isinstance(indexed, LocalBackend):
        settings = Settings(index_dir=indexed.index_dir, model="fake-hash")
    else:
        assert isinstance(indexed, MilvusBackend)
        settings = Settings(backend=BackendName.milvus, milvus_uri=indexed.uri, model="fake-hash")
    with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as client:
        wait_ready(client)
        yield client, indexed.open()


def _docs(body: dict[str, object]) -> set[str]:
    return {h["doc_id"] for h in body["results"]}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("get", "post"),
    [
        (["year:gte:2010"], {"field": "year", "op": "gte", "value": 2010}),
        (
            ["lang:in:en,fr", "draft:exists:false"],
            {"and": [EXPR_LANG, {"field": "draft", "op": "exists", "value": False}]},
        ),
        (["date:lt:2015-06-01"], {"field": "date", "op": "lt", "value": "2015-06-01"}),
        (['year:eq:"2012"'], {"field": "year", "op": "eq", "value": "2012"}),
        (["colour:eq:red"], {"field": "colour", "op": "eq", "value": "red"}),
    ],
)
def test_get_and_post_filters_agree_with_brute_force(
    filtered_client: tuple[TestClient, Snapshot], get: list[str], post: dict[str, object]
) -> None:
    client, snapshot = filtered_client
    from service.schemas import SearchRequest

    request = SearchRequest.model_validate({"query": "x", "filters": {"where": post}})
    assert request.filters is not None
    expr = request.filters.to_filter().where
    assert expr is not None
    passing = {d.doc_id for d in snapshot.store.documents() if matches(expr, d.metadata)}
    by_get = client.get("/search", params={"q": "river glacier", "k": 100, "max_per_doc": 1, "filter": get}).json()
    by_post = client.post(
        "/search", json={"query": "river glacier", "k": 100, "max_per_doc": 1, "filters": {"where": post}}
    ).json()
    assert _docs(by_get) == _docs(by_post) == passing


def test_an_or_and_not_filter_over_http(filtered_client: tuple[TestClient, Snapshot]) -> None:
    client, snapshot = filtered_client
    where = {"or": [{"not": EXPR_LANG}, {"field": "score", "op": "gt", "value": 0.5}]}
    body = client.post("/search", json={"query": "reef", "k": 100, "max_per_doc": 1, "filters": {"where": where}})
    expr = Any_((Not(C("lang", "in", ("en", "fr"))), C("score", "gt", 0.5)))
    assert _docs(body.json()) == {d.doc_id for d in snapshot.store.documents() if matches(expr, d.metadata)}


@pytest.mark.parametrize(
    ("params", "where", "points_at"),
    [
        ({"filter": "year:between:1:2"}, None, "filter must be field:op:value"),
        ({"filter": "year:exists:maybe"}, None, "filter must be field:op:value"),
        (
            None,
            {"and": [{"field": "y", "op": "eq", "value": 1}, {"field": "y", "op": "bogus", "value": 1}]},
            "where.and.and.1",
        ),
        (None, {"field": "year", "op": "gt", "value": True}, "where.compares.value"),
        (None, {"field": "year", "op": "in", "value": []}, "where.one_of.value"),
        (None, {"or": []}, "where.or.or"),
    ],
)
def test_a_malformed_filter_is_a_422_that_points_at_the_bad_part(
    filtered_client: tuple[TestClient, Snapshot], params: dict[str, str] | None, where: object, points_at: str
) -> None:
    client, _ = filtered_client
    if params is not None:
        r = client.get("/search", params={"q": "x", **params})
    else:
        r = client.post("/search", json={"query": "x", "filters": {"where": where}})
    assert r.status_code == 422, r.text
    assert points_at in r.text, r.text
