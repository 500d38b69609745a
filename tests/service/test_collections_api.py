"""Collections over HTTP, on both engines: lifecycle, isolation, the default collection's old routes, bad input,
drops under load, concurrent writes, and how many stay open."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from indexer.embed.base import Vectors
from indexer.storage.base import Backend
from indexer.storage.settings import BackendName
from service.app import create_app
from service.settings import Settings
from tests.conftest import AUTH, HANG_SECONDS, KEY, metric, storage, wait_ready, wait_until
from tests.fakes import FakeEmbedder


class HoldingEmbedder(FakeEmbedder):
    """Blocks an encode call whose texts mention HOLD until `release` is set; `holding` is set meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = threading.Event()
        self.release = threading.Event()

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> Vectors:
        if any("HOLD" in t for t in texts):
            self.holding.set()
            assert self.release.wait(timeout=HANG_SECONDS)
        return super().encode(texts, batch_size=batch_size, progress=progress)


@contextlib.contextmanager
def _client(index: Settings, embedder: FakeEmbedder | None = None, **settings: Any) -> Iterator[TestClient]:
    config = Settings(**{**index.model_dump(), "api_key": KEY, **settings})
    shared = embedder or FakeEmbedder()
    with TestClient(create_app(config, embedder_factory=lambda s: shared)) as client:
        wait_ready(client)
        yield client


@pytest.fixture
def index(seed_backend: Backend, engine: BackendName, tmp_path: Path) -> Settings:
    return storage(engine, tmp_path)


@pytest.fixture
def api(index: Settings) -> Iterator[TestClient]:
    with _client(index) as client:
        yield client


def _ids(client: TestClient, path: str, q: str) -> list[str]:
    r = client.get(path, params={"q": q, "k": 10})
    assert r.status_code == 200, r.text
    return [h["doc_id"] for h in r.json()["results"]]


def _names(client: TestClient) -> list[str]:
    r = client.get("/collections")
    assert r.status_code == 200, r.text
    return [c["name"] for c in r.json()["collections"]]


def test_a_new_collection_records_the_prompts_asked_for(api: TestClient) -> None:
    body = {"query_prompt": "query: ", "passage_prompt": "passage: "}
    r = api.put("/collections/prompted", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    assert (r.json()["query_prompt"], r.json()["passage_prompt"]) == ("query: ", "passage: ")
    assert api.put("/collections/prompted", json=body, headers=AUTH).status_code == 200
    conflict = api.put("/collections/prompted", json={"query_prompt": "search: "}, headers=AUTH)
    assert conflict.status_code == 409 and "query_prompt 'query: ' (asked: 'search: ')" in conflict.json()["detail"]
    # Its documents are written and searched with them: the fake model's vectors of the prompted texts.
    put = api.put("/collections/prompted/documents/d", json={"text": "Gannets dive for mackerel."}, headers=AUTH)
    assert put.status_code == 200, put.text
    hit = api.get("/collections/prompted/search", params={"q": "gannets", "mode": "dense"}).json()["results"][0]
    fake = FakeEmbedder()
    expected = float(fake.encode(["query: gannets"])[0] @ fake.encode(["passage: Gannets dive for mackerel."])[0])
    assert hit["scores"]["dense"] == pytest.approx(expected, abs=1e-5)
    assert api.get("/collections/default").json()["query_prompt"] == ""


def test_create_write_search_drop(api: TestClient) -> None:
    assert _names(api) == ["default"]
    r = api.put("/collections/notes", json={"chunk_tokens": 64, "overlap_tokens": 8}, headers=AUTH)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "notes" and created["documents"] == 0 and created["version"] == 1
    assert created["chunk_tokens"] == 64 and created["model"] == "fake-hash"
    assert (
        api.put("/collections/notes", json={"chunk_tokens": 64, "overlap_tokens": 8}, headers=AUTH).status_code == 200
    )
    conflict = api.put("/collections/notes", headers=AUTH)  # the service's defaults: chunk_tokens 128
    assert conflict.status_code == 409 and "chunk_tokens 64 (asked: 128)" in conflict.json()["detail"]
    assert _names(api) == ["default", "notes"]

    # The same id in two collections is two documents; each search sees its own collection only.
    put = api.put("/collections/notes/documents/shared", json={"text": "Gannets dive for mackerel."}, headers=AUTH)
    assert put.status_code == 200 and put.json()["index_version"] == 2, put.text
    assert api.put("/documents/shared", json={"text": "Lavrov met Wang Yi in Astana."}, headers=AUTH).status_code == 200
    assert _ids(api, "/collections/notes/search", "gannets mackerel") == ["shared"]
    assert "shared" not in _ids(api, "/collections/notes/search", "Lavrov Astana")[1:]
    assert set(_ids(api, "/search", "gannets mackerel")) <= {"shared", *_seed_ids(api)}
    assert api.get("/collections/notes/documents/shared").json()["text"] == "Gannets dive for mackerel."
    assert api.get("/documents/shared").json()["text"] == "Lavrov met Wang Yi in Astana."
    assert api.get("/collections/notes/stats").json()["documents"] == 1
    assert api.get("/collections/notes").json()["documents"] == 1

    # A write to one never moves the other's version.
    before = api.get("/stats").json()["index_version"]
    api.delete("/collections/notes/documents/shared", headers=AUTH)
    assert api.get("/stats").json()["index_version"] == before
    assert api.get("/documents/shared").status_code == 200

    dropped = api.delete("/collections/notes", headers=AUTH)
    assert dropped.status_code == 200 and dropped.json() == {"name": "notes", "dropped": True}
    for path in ("/collections/notes", "/collections/notes/search?q=x", "/collections/notes/documents"):
        r = api.get(path)
        assert r.status_code == 404 and "no collection 'notes'" in r.json()["detail"], path
    assert _names(api) == ["default"]


def _seed_ids(client: TestClient) -> set[str]:
    return {d["doc_id"] for d in client.get("/documents", params={"limit": 1000}).json()["documents"]}


def test_the_unprefixed_routes_are_the_default_collection(api: TestClient) -> None:
    for q in ("Where did Wang Yi meet Lavrov", "Shanghai Cooperation Organization"):
        old = api.get("/search", params={"q": q}).json()
        new = api.get("/collections/default/search", params={"q": q}).json()
        assert [h["chunk_id"] for h in old["results"]] == [h["chunk_id"] for h in new["results"]]
        assert old["index_version"] == new["index_version"]
    assert api.get("/stats").json()["collection"] == "default"
    assert api.get("/documents").json() == api.get("/collections/default/documents").json()


def test_bad_names_missing_collections_and_the_last_one(api: TestClient) -> None:
    for bad in ("-x", "a.b", "x" * 65, "caf%C3%A9"):
        r = api.put(f"/collections/{bad}", headers=AUTH)
        assert r.status_code == 422, (bad, r.text)
        assert "collection" in r.json()["detail"] or "pattern" in r.json()["detail"], r.text
    r = api.get("/collections/ghost/search", params={"q": "x"})
    assert r.status_code == 404 and "GET /collections lists" in r.json()["detail"]
    assert api.delete("/collections/ghost", headers=AUTH).status_code == 404
    r = api.delete("/collections/default", headers=AUTH)
    assert r.status_code == 409 and "only one left" in r.json()["detail"]
    r = api.put("/collections/big", json={"chunk_tokens": 5000}, headers=AUTH)
    assert r.status_code == 422 and "exceeds the model's limit" in r.json()["detail"]
    r = api.put("/collections/odd", json={"shards": 3}, headers=AUTH)
    assert r.status_code == 422 and "unknown field" in r.json()["detail"]
    assert _names(api) == ["default"]  # nothing was half-made


def test_a_drop_waits_for_searches_in_flight_and_turns_new_ones_away(index: Settings) -> None:
    embedder = HoldingEmbedder()
    with _client(index, embedder) as api, ThreadPoolExecutor(2) as pool:
        api.put("/collections/notes", headers=AUTH)
        api.put("/collections/notes/documents/d", json={"text": "Terns eat fish."}, headers=AUTH)
        searching = pool.submit(api.get, "/collections/notes/search", params={"q": "HOLD terns", "mode": "dense"})
        wait_until(embedder.holding.is_set, "the search to be embedding its query")
        dropping = pool.submit(api.delete, "/collections/notes", headers=AUTH)
        # The drop has begun: new requests are turned away while the search in flight still runs.
        wait_until(lambda: api.get("/collections/notes/stats").status_code == 404, "the drop to turn requests away")
        assert not searching.done() and not dropping.done()
        embedder.release.set()
        found = searching.result(timeout=HANG_SECONDS)
        assert found.status_code == 200 and [h["doc_id"] for h in found.json()["results"]] == ["d"]
        assert dropping.result(timeout=HANG_SECONDS).status_code == 200
        assert _names(api) == ["default"]


def test_writes_to_two_collections_never_wait_for_each_other(index: Settings) -> None:
    embedder = HoldingEmbedder()
    with _client(index, embedder) as api, ThreadPoolExecutor(1) as pool:
        for name in ("a", "b"):
            assert api.put(f"/collections/{name}", headers=AUTH).status_code == 201
        held = pool.submit(api.put, "/collections/a/documents/x", json={"text": "HOLD this write."}, headers=AUTH)
        wait_until(embedder.holding.is_set, "the write to a to be embedding")
        # a's writer is busy (its lock is held); b's write goes through meanwhile.
        r = api.put("/collections/b/documents/y", json={"text": "Puffins nest in burrows."}, headers=AUTH)
        assert r.status_code == 200 and not held.done()
        embedder.release.set()
        assert held.result(timeout=HANG_SECONDS).status_code == 200
        assert _ids(api, "/collections/a/search", "write") == ["x"]


def test_at_most_max_open_collections_stay_open(index: Settings) -> None:
    with _client(index, max_open_collections=2) as api:
        for name in ("c1", "c2", "c3"):
            api.put(f"/collections/{name}", headers=AUTH)
            api.put(f"/collections/{name}/documents/d", json={"text": f"Document of {name}."}, headers=AUTH)
        opened = {c["name"]: c["open"] for c in api.get("/collections").json()["collections"]}
        assert opened == {"default": True, "c1": False, "c2": False, "c3": True}, opened
        assert _ids(api, "/collections/c1/search", "document") == ["d"]  # a closed one opens again on use
        opened = {c["name"]: c["open"] for c in api.get("/collections").json()["collections"]}
        assert opened == {"default": True, "c1": True, "c2": False, "c3": False}, opened
        assert metric(api, "seekr_open_collections", {}) == 2


def test_metrics_are_per_collection(api: TestClient) -> None:
    api.put("/collections/notes", headers=AUTH)
    api.put("/collections/notes/documents/d", json={"text": "One note."}, headers=AUTH)
    api.get("/collections/notes/search", params={"q": "note", "mode": "lexical"})
    assert metric(api, "seekr_index_documents", {"collection": "notes"}) == 1
    assert metric(api, "seekr_index_documents", {"collection": "default"}) == 5
    assert metric(api, "seekr_search_seconds_count", {"collection": "notes", "mode": "lexical"}) == 1
    assert metric(api, "seekr_in_flight", {"kind": "search", "collection": "notes"}) == 0
    api.delete("/collections/notes", headers=AUTH)
    assert metric(api, "seekr_index_documents", {"collection": "notes"}) is None


def test_a_service_without_a_default_collection(index: Settings) -> None:
    with _client(index) as api:
        api.put("/collections/notes", headers=AUTH)
        assert api.delete("/collections/default", headers=AUTH).status_code == 200
        assert api.get("/readyz").status_code == 200
        r = api.get("/search", params={"q": "x"})
        assert r.status_code == 404 and "no collection 'default'" in r.json()["detail"]
    with _client(index) as api:  # and it starts again so
        assert _names(api) == ["notes"]


def test_a_model_name_too_long_for_a_path_is_not_a_server_error(api: TestClient) -> None:
    # Found by schemathesis: a 300-character model name made the path check raise (ENAMETOOLONG), a 500.
    r = api.put("/collections/long-model", json={"model": "0" * 300}, headers=AUTH)
    assert r.status_code in (201, 422), r.text


class WarmupHoldingEmbedder(HoldingEmbedder):
    """Holds the warm-up query of a collection being opened, once `armed` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = threading.Event()

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> Vectors:
        if self.armed.is_set() and any("warm-up" in t for t in texts):
            self.holding.set()
            assert self.release.wait(timeout=HANG_SECONDS)
        return FakeEmbedder.encode(self, texts, batch_size=batch_size, progress=progress)


def test_a_drop_during_an_open_leaves_nothing_open(index: Settings) -> None:
    embedder = WarmupHoldingEmbedder()
    with _client(index, embedder, max_open_collections=1) as api, ThreadPoolExecutor(2) as pool:
        for name in ("a", "b"):
            api.put(f"/collections/{name}", headers=AUTH)
            api.put(f"/collections/{name}/documents/d", json={"text": f"Note in {name}."}, headers=AUTH)
        assert not {c["name"]: c["open"] for c in api.get("/collections").json()["collections"]}["a"]
        embedder.armed.set()
        opening = pool.submit(api.get, "/collections/a/search", params={"q": "note"})
        wait_until(embedder.holding.is_set, "collection a to be opening")
        dropping = pool.submit(api.delete, "/collections/a", headers=AUTH)
        # (Asked through the list: a request to `a` itself would wait for the open, as requests do.)
        wait_until(lambda: "a" not in _names(api), "the drop to begin")
        assert api.get("/collections/a/stats").status_code == 404  # turned away at once, open or not
        assert not dropping.done()  # it waits for the open under way
        embedder.release.set()
        assert opening.result(timeout=HANG_SECONDS).status_code == 404
        assert dropping.result(timeout=HANG_SECONDS).status_code == 200
        assert _names(api) == ["b", "default"]
        assert api.get("/collections/a/search", params={"q": "note"}).status_code == 404
        assert metric(api, "seekr_open_collections", {}) == 1  # the default; nothing of `a` was left open


def test_a_collection_in_a_language(api: TestClient) -> None:
    r = api.put("/collections/zh-notes", json={"language": "klingon"}, headers=AUTH)
    assert r.status_code == 422 and "unknown language 'klingon'; supported: auto, " in r.json()["detail"], r.text
    assert "zh" in r.json()["detail"] and "zh-notes" not in _names(api)  # nothing was half-made
    r = api.put("/collections/zh-notes", json={"language": "zh"}, headers=AUTH)
    assert r.status_code == 201 and r.json()["language"] == "zh", r.text
    conflict = api.put("/collections/zh-notes", headers=AUTH)  # the default: auto
    assert conflict.status_code == 409 and "language zh (asked: auto)" in conflict.json()["detail"]
    text = "锣鼓经是中国传统戏曲中打击乐器演奏的节奏型的总称。"
    assert api.put("/collections/zh-notes/documents/d", json={"text": text}, headers=AUTH).status_code == 200
    found = api.get("/collections/zh-notes/search", params={"q": "锣鼓经是什么", "mode": "lexical"}).json()
    assert [h["doc_id"] for h in found["results"]] == ["d"]
    highlight = found["results"][0]["highlight"]
    assert highlight["method"] == "lexical" and highlight["spans"][0]["start"] == 0
    stats = api.get("/collections/zh-notes/stats").json()
    assert (stats["analyzer"], stats["language"], stats["languages"]) == ("unicode-1", "zh", {"zh": 1})
    assert stats["language_warning"] is None  # the fake model's card is unknown: it is taken to read every language
    assert api.get("/stats").json()["language"] == "auto"
