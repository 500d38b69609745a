"""Pages over HTTP (pinned to the version the first page came from), passage context, similar documents, and
their limits, on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from indexer.building.builder import build_index
from indexer.storage.factory import open_backend
from indexer.storage.settings import BackendName
from service.app import create_app
from tests.conftest import AUTH, KEY, storage, wait_ready
from tests.fakes import FakeEmbedder

Q = "Wang Yi Lavrov security cooperation"


@pytest.fixture
def writer(engine: BackendName, tmp_path: Path, seeds_copy: Path) -> Iterator[TestClient]:
    settings = storage(engine, tmp_path)
    backend = open_backend(settings)
    build_index(seeds_copy, backend, FakeEmbedder())
    backend.close()
    app = create_app(settings.model_copy(update={"api_key": SecretStr(KEY)}), embedder_factory=lambda s: FakeEmbedder())
    with TestClient(app) as client:
        wait_ready(client)
        yield client


def _ids(body: dict[str, object]) -> list[tuple[int, int]]:
    return [(h["rank"], h["chunk_id"]) for h in body["results"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_pages_pinned_to_their_version_do_not_shift_under_writes(
    writer: TestClient, engine: BackendName, mode: str
) -> None:
    first = writer.get("/search", params={"q": Q, "k": 3, "mode": mode}).json()
    version = first["index_version"]
    whole = writer.get("/search", params={"q": Q, "k": 9, "mode": mode}).json()
    # A write lands between pages: a document that matches the question well.
    text = "Wang Yi and Lavrov agreed on security cooperation. " * 3
    assert writer.put("/documents/intruder", json={"text": text}, headers=AUTH).status_code == 200
    pages = [first] + [
        writer.get("/search", params={"q": Q, "k": 3, "offset": o, "version": version, "mode": mode}).json()
        for o in (3, 6)
    ]
    assert all(p["index_version"] == version for p in pages) and [p["offset"] for p in pages] == [0, 3, 6]
    assert "intruder" not in {h["doc_id"] for p in pages for h in p["results"]}
    if mode == "dense" or engine is BackendName.local:
        assert [x for p in pages for x in _ids(p)] == _ids(whole)
    # Milvus computes BM25 statistics over every row not yet removed, older versions' searches included (see
    # docs/milvus.md): lexical scores of a pinned version move slightly with later writes, so only its
    # documents, not their exact order, are pinned there.
    now = writer.post("/search", json={"query": Q, "k": 9}).json()
    assert now["index_version"] == version + 1 and "intruder" in {h["doc_id"] for h in now["results"]}
    gone = writer.get("/search", params={"q": Q, "version": 999}).json()
    assert "not kept" in gone["detail"]
    assert writer.get("/search", params={"q": Q, "version": 999}).status_code == 404


@pytest.mark.parametrize(
    ("params", "hint"),
    [({"offset": 901}, "at most 900"), ({"context": 11}, "from 0 to 10"), ({"version": 0}, "1 or more")],
)
def test_page_limits_are_clear_422s(writer: TestClient, params: dict[str, int], hint: str) -> None:
    r = writer.get("/search", params={"q": Q, **params})
    assert r.status_code == 422 and hint in r.json()["detail"], r.text
    r = writer.post("/search", json={"query": Q, **params})
    assert r.status_code == 422 and hint in r.json()["detail"], r.text


def test_context_comes_with_each_hit(writer: TestClient) -> None:
    body = writer.get("/search", params={"q": Q, "k": 3, "context": 1}).json()
    for hit in body["results"]:
        context = hit["context"]
        assert set(context) == {"before", "after"} and len(context["before"]) <= 1 and len(context["after"]) <= 1
        doc = writer.get(f"/documents/{hit['doc_id']}").json()
        for p in context["before"] + context["after"]:
            assert doc["text"][p["start"] : p["end"]] == p["text"]
            assert p["chunk_id"] != hit["chunk_id"]
    assert any(h["context"]["before"] or h["context"]["after"] for h in body["results"])


def test_similar_documents_over_http(writer: TestClient) -> None:
    docs = [d["doc_id"] for d in writer.get("/documents").json()["documents"]]
    body = writer.get(f"/documents/{docs[0]}/similar", params={"k": 3}).json()
    assert body["doc_id"] == docs[0] and len(body["results"]) == 3
    assert docs[0] not in {r["doc_id"] for r in body["results"]}
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    only = writer.get(f"/documents/{docs[0]}/similar", params={"source": docs[1]}).json()
    assert [r["doc_id"] for r in only["results"]] == [docs[1]]
    missing = writer.get("/documents/no-such-doc/similar")
    assert missing.status_code == 404 and "GET /documents lists them" in missing.json()["detail"]
