"""HTTP API through TestClient with the fake embedder: responses, readiness, and every bad input."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer.embed.base import Embedder
from indexer.errors import IndexNotFoundError, ManifestMismatchError
from indexer.storage.settings import BackendName
from service.app import create_app
from service.settings import Settings
from tests.conftest import HANG_SECONDS, wait_ready, wait_until
from tests.fakes import FakeEmbedder


def test_get_search_shape(client: TestClient) -> None:
    r = client.get("/search", params={"q": "Where did Wang Yi meet Lavrov", "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {
        "query",
        "mode",
        "fusion",
        "took_ms",
        "index_version",
        "offset",
        "rerank",
        "mode_reason",
        "results",
    }
    assert body["rerank"] is None and body["mode_reason"] is None  # no reranker; the collection's default mode
    assert body["mode"] == "hybrid" and body["query"] == "Where did Wang Yi meet Lavrov"
    assert body["fusion"] == "dbsf"
    assert len(body["results"]) == 3
    hit = body["results"][0]
    assert set(hit) == {
        "rank",
        "highlight",
        "score",
        "doc_id",
        "title",
        "source",
        "chunk_id",
        "text",
        "start",
        "end",
        "page",
        "heading",
        "kind",
        "sheet",
        "rows",
        "ocr",
        "ocr_confidence",
        "scores",
        "context",
    }
    assert hit["page"] is None  # the seeds are text files: no pages
    assert (hit["sheet"], hit["rows"], hit["ocr"], hit["ocr_confidence"]) == (None, None, False, None)
    assert hit["context"] is None  # only with context=N
    assert set(hit["scores"]) == {
        "dense",
        "lexical",
        "dense_rank",
        "lexical_rank",
        "introduces",
        "document",
        "rerank",
        "fused",
    }
    assert hit["scores"]["introduces"] is None
    assert [h["rank"] for h in body["results"]] == [1, 2, 3]


def test_who_is_question_names_the_introducing_passage(client: TestClient) -> None:
    results = client.get("/search", params={"q": "Who is Wang Yi?", "k": 3}).json()["results"]
    top = results[0]
    assert top["scores"]["introduces"] == "Wang Yi" and "Wang Yi" in top["text"]
    assert results[1]["score"] == top["score"]  # the place and score of its document's best passage


def test_post_equals_get(client: TestClient) -> None:
    for mode in ("dense", "lexical", "hybrid"):
        got = client.get("/search", params={"q": "Putin Xi Samarkand", "k": 4, "mode": mode}).json()
        posted = client.post("/search", json={"query": "Putin Xi Samarkand", "k": 4, "mode": mode}).json()
        assert [h["chunk_id"] for h in got["results"]] == [h["chunk_id"] for h in posted["results"]]


def test_query_is_trimmed(client: TestClient) -> None:
    assert client.get("/search", params={"q": "  Putin  "}).json()["query"] == "Putin"


def test_min_score_can_empty_results(client: TestClient) -> None:
    r = client.post("/search", json={"query": "Putin", "mode": "dense", "min_score": 1.5})
    assert r.status_code == 200 and r.json()["results"] == []


@pytest.mark.parametrize(
    ("params", "field", "hint"),
    [
        ({"q": ""}, "q", "non-empty"),
        ({"q": "   \t "}, "q", "non-empty"),
        ({"q": "x" * 1001}, "q", "at most 1000"),
        ({"q": "ok", "k": 0}, "k", "1 to 100"),
        ({"q": "ok", "k": 101}, "k", "1 to 100"),
        ({"q": "ok", "k": "three"}, "k", "1 to 100"),
        ({"q": "ok", "mode": "semantic"}, "mode", "dense, lexical, hybrid"),
        ({"q": "ok", "min_score": "high"}, "min_score", "number"),
        ({}, "q", "required"),
    ],
)
def test_get_bad_input(client: TestClient, params: dict[str, str | int], field: str, hint: str) -> None:
    r = client.get("/search", params=params)
    assert r.status_code == 422
    body = r.json()
    assert hint in body["detail"]
    assert any(e["field"] == field for e in body["errors"])


@pytest.mark.parametrize(
    ("payload", "hint"),
    [
        ({"query": ""}, "non-empty"),
        ({"query": " "}, "non-empty"),
        ({"query": "y" * 16_001}, "at most 16000"),
        ({"query": "ok", "k": -1}, "1 to 100"),
        ({"query": "ok", "k": 1000}, "1 to 100"),
        ({"query": "ok", "mode": "bm25"}, "dense, lexical, hybrid"),
        ({"query": 42}, "non-empty string"),
        ({"q": "ok"}, "unknown field 'q'"),
        ({}, "required"),
    ],
)
def test_post_bad_input(client: TestClient, payload: dict[str, object], hint: str) -> None:
    r = client.post("/search", json=payload)
    assert r.status_code == 422, r.text
    assert hint in r.json()["detail"]


def test_long_input_is_not_echoed_whole(client: TestClient) -> None:
    r = client.post("/search", json={"query": "y" * 20_000})
    assert r.status_code == 422 and len(r.text) < 1000


@pytest.mark.parametrize("raw", ["{bad json", '{"query": "x",}', "", "[1, 2]", '"just a string"'])
def test_malformed_json(client: TestClient, raw: str) -> None:
    r = client.post("/search", content=raw, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert "JSON" in r.json()["detail"] or "required" in r.json()["detail"]


def test_unknown_route_and_method(client: TestClient) -> None:
    assert "see /docs" in client.get("/nope").json()["detail"]
    r = client.delete("/search")
    assert r.status_code == 405 and "not allowed" in r.json()["detail"]


def test_health_ready_stats(client: TestClient, engine: BackendName) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "detail": None}
    assert client.get("/readyz").json()["status"] == "ready"
    stats = client.get("/stats").json()
    assert stats["documents"] == 5 and stats["chunks"] > 5 and stats["model"] == "fake-hash"
    assert stats["index_version"] == 1 and stats["build_seconds"] is not None
    assert stats["backend"] == engine.value
    # Segments are the local engine's; Milvus keeps and compacts its own.
    segments = 1 if engine is BackendName.local else 0
    assert (stats["segments"], stats["ann_segments"], stats["deleted_chunks"]) == (segments, 0, 0)


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/search", "/healthz", "/readyz", "/stats"} <= set(spec["paths"])
    post = spec["paths"]["/search"]["post"]
    assert "examples" in post["requestBody"]["content"]["application/json"]


class _SlowEmbedder(FakeEmbedder):
    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        gate.wait(timeout=HANG_SECONDS)  # the test sets it; the limit only ends a hang


def test_readyz_is_503_until_loaded(fake_seed_index: Path) -> None:
    gate = threading.Event()

    def factory(settings: Settings) -> Embedder:
        return _SlowEmbedder(gate)

    app = create_app(Settings(index_dir=fake_seed_index, model="fake-hash"), embedder_factory=factory)
    with TestClient(app) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        assert c.get("/healthz").status_code == 200
        r = c.get("/search", params={"q": "Putin"})
        assert r.status_code == 503 and "loading" in r.json()["detail"]
        gate.set()
        wait_ready(c)
        assert c.get("/search", params={"q": "Putin"}).status_code == 200


def test_refuses_to_start_on_model_mismatch(fake_seed_index: Path) -> None:
    app = create_app(
        Settings(index_dir=fake_seed_index, model="another-model"), embedder_factory=lambda s: FakeEmbedder()
    )
    with (
        pytest.raises(ManifestMismatchError, match=r"built with model 'fake-hash'.*'another-model'"),
        TestClient(app),
    ):
        pass


def test_refuses_to_start_without_index(tmp_path: Path) -> None:
    app = create_app(
        Settings(index_dir=tmp_path / "none", model="fake-hash"), embedder_factory=lambda s: FakeEmbedder()
    )
    with pytest.raises(IndexNotFoundError, match=r"python -m indexer build"), TestClient(app):
        pass


def test_dimension_mismatch_reported_by_readyz(fake_seed_index: Path) -> None:
    app = create_app(
        Settings(index_dir=fake_seed_index, model="fake-hash"),
        embedder_factory=lambda s: FakeEmbedder(dimension=32),
    )
    with TestClient(app) as c:
        wait_until(lambda: c.get("/readyz").json()["status"] != "loading", "loading to end")
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "failed"
        assert "dimension 64" in r.json()["detail"]
        assert "failed to load" in c.get("/search", params={"q": "x"}).json()["detail"]


def test_spec_documents_every_error_status_with_the_error_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "ErrorBody" in spec["components"]["schemas"] and "HTTPValidationError" not in spec["components"]["schemas"]
    expected = {
        ("/search", "get"): {"401", "422", "429", "503"},
        ("/search", "post"): {"400", "401", "413", "422", "429", "503"},
        ("/documents", "post"): {"400", "401", "403", "413", "422", "429", "503"},
        ("/documents/{doc_id}", "put"): {"400", "401", "403", "413", "422", "429", "503"},
        ("/documents/{doc_id}", "delete"): {"401", "403", "404", "422", "429", "503"},
        ("/documents/{doc_id}", "get"): {"401", "404", "422", "503"},
        ("/documents", "get"): {"401", "422", "503"},
    }
    for (path, method), statuses in expected.items():
        responses = spec["paths"][path][method]["responses"]
        assert statuses <= set(responses), (path, method, set(responses))
        for status in statuses:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method, status)
    assert set(spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}


def test_405_lists_every_method_of_the_path(client: TestClient) -> None:
    r = client.options("/search")
    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) == {"GET", "POST"}
    r = client.patch("/documents/x")
    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) == {"DELETE", "GET", "PUT"}
    assert "use DELETE, GET, PUT" in r.json()["detail"]


def test_fusion_is_a_request_parameter(client: TestClient) -> None:
    q: dict[str, str | int] = {"q": "Putin Xi meeting", "k": 5}
    rrf = client.get("/search", params={**q, "fusion": "rrf"}).json()
    assert rrf["fusion"] == "rrf" and all(h["score"] <= 2 / 61 + 1e-9 for h in rrf["results"])
    posted = client.post("/search", json={"query": q["q"], "k": 5, "fusion": "rrf"}).json()
    assert [h["chunk_id"] for h in posted["results"]] == [h["chunk_id"] for h in rrf["results"]]
    assert client.get("/search", params={**q, "mode": "dense"}).json()["fusion"] is None
    bad = client.get("/search", params={**q, "fusion": "borda"})
    assert bad.status_code == 422 and "fusion" in bad.text


def test_dense_weight_is_a_request_parameter(client: TestClient) -> None:
    q: dict[str, str | int | float] = {"q": "Putin Xi meeting", "k": 5}
    dense = [h["chunk_id"] for h in client.get("/search", params={**q, "mode": "dense"}).json()["results"]]
    all_dense = client.get("/search", params={**q, "dense_weight": 1.0}).json()["results"]
    assert [h["chunk_id"] for h in all_dense] == dense
    posted = client.post("/search", json={"query": q["q"], "k": 5, "dense_weight": 1}).json()["results"]
    assert [h["chunk_id"] for h in posted] == dense
    for bad in (1.5, -0.1, "nan"):
        r = client.get("/search", params={**q, "dense_weight": bad})
        assert r.status_code == 422 and "dense_weight" in r.text


def test_every_bound_reaches_the_spec_as_json_schema(tmp_path: Path) -> None:
    """A pydantic bound placed where it cannot become JSON Schema reaches the spec as "ge"/"le", which no client
    or fuzzer reads: a dense_weight of -5e27 was valid by the spec and refused by the service."""
    spec = create_app(Settings(index_dir=tmp_path, model="fake-hash")).openapi()
    leaks: list[str] = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            leaks.extend(f"{path}/{k}" for k in node if k in ("ge", "gt", "le", "lt", "allow_inf_nan"))
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(spec, "")
    assert leaks == []
    weight = spec["components"]["schemas"]["SearchRequest"]["properties"]["dense_weight"]["anyOf"][0]
    assert (weight["minimum"], weight["maximum"]) == (0, 1)


ARGUMENT = (
    "The Shanghai Cooperation Organization summit showed that Central Asian states want security guarantees "
    "from both Moscow and Beijing, and foreign ministers meeting in Astana discussed a new Eurasian security "
    "framework while trade corridors and energy pipelines were negotiated on the side. "
)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_a_paragraph_is_a_question_up_to_the_limit(client: TestClient, mode: str) -> None:
    # ArguAna-like: a whole argument (here about 4,400 characters, many repeated terms) as the query.
    paragraph = (ARGUMENT * 20).strip()
    assert 4000 < len(paragraph) <= 16_000
    # Ranked by the passages alone: this checks how a long question is embedded, not how documents score.
    r = client.post("/search", json={"query": paragraph, "mode": mode, "k": 3, "document_weight": 0})
    assert r.status_code == 200, r.text
    hits = r.json()["results"]
    assert hits and hits[0]["doc_id"] == "000_27323d1700c7a7d6.txt", [h["doc_id"] for h in hits]
    for hit in hits:  # highlights stay inside their passage
        for span in (hit["highlight"] or {"spans": []})["spans"]:
            assert 0 <= span["start"] < span["end"] <= len(hit["text"])
    too_long = client.post("/search", json={"query": "x" * 16_001})
    assert too_long.status_code == 422 and "at most 16000" in too_long.json()["detail"]
    assert client.get("/search", params={"q": "x" * 1001}).status_code == 422  # a URL stays short
