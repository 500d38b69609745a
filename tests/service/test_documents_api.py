"""The document API through TestClient with the fake embedder: writes, visibility, auth, limits, bad input."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer.storage.base import Backend
from indexer.storage.factory import open_backend
from indexer.storage.settings import BackendName
from service.app import create_app
from service.settings import Settings
from tests.conftest import storage, wait_ready
from tests.fakes import FakeEmbedder

KEY = "write-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def index(seed_backend: Backend, engine: BackendName, tmp_path: Path) -> Settings:
    """The seeds index, on each engine in turn."""
    return storage(engine, tmp_path)


@contextlib.contextmanager
def _client(index: Settings, **settings: object) -> Iterator[TestClient]:
    config = Settings(**{**index.model_dump(), **settings})
    app = create_app(config, embedder_factory=lambda s: FakeEmbedder())
    with TestClient(app) as client:
        wait_ready(client)
        yield client


@pytest.fixture
def writer(index: Settings) -> Iterator[TestClient]:
    with _client(index, api_key=KEY, max_body_bytes=200_000, max_document_chars=50_000) as c:
        yield c


def _search_ids(client: TestClient, q: str, **extra: str) -> list[str]:
    r = client.get("/search", params={"q": q, "k": 10, **extra})
    assert r.status_code == 200, r.text
    return [h["doc_id"] for h in r.json()["results"]]


def test_upsert_is_visible_at_once_and_replaces_chunks(writer: TestClient) -> None:
    body = {"text": "Zanzibar clove harvests doubled this year.", "title": "Cloves", "metadata": {"lang": "en"}}
    r = writer.put("/documents/cloves", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["documents"] == {"cloves": "created"} and r.json()["embedded_chunks"] == 1
    assert "cloves" in _search_ids(writer, "Zanzibar clove harvests")
    assert _search_ids(writer, "Zanzibar", mode="lexical", meta="lang:en") == ["cloves"]

    again = writer.put("/documents/cloves", json=body, headers=AUTH).json()
    assert again["documents"] == {"cloves": "unchanged"} and again["embedded_chunks"] == 0
    assert again["index_version"] == r.json()["index_version"]  # nothing committed

    changed = writer.put("/documents/cloves", json={"text": "Pemba vanilla prices fell."}, headers=AUTH).json()
    assert changed["documents"] == {"cloves": "updated"}
    assert "cloves" not in _search_ids(writer, "Zanzibar clove harvests", mode="lexical")
    assert _search_ids(writer, "Pemba vanilla", mode="lexical") == ["cloves"]
    doc = writer.get("/documents/cloves").json()
    assert doc["origin"] == "api" and doc["chunks"] == 1 and doc["text"].startswith("Pemba vanilla")


def test_batch_and_delete(writer: TestClient) -> None:
    docs = [{"id": f"b{i}", "text": f"Batch document {i} about the walrus colony number {i}."} for i in range(5)]
    r = writer.post("/documents", json={"documents": docs}, headers=AUTH)
    assert r.status_code == 200 and set(r.json()["documents"].values()) == {"created"}
    listing = writer.get("/documents", params={"offset": 0, "limit": 3}).json()
    assert listing["total"] == 10 and len(listing["documents"]) == 3
    page = writer.get("/documents", params={"offset": 5, "limit": 100}).json()["documents"]
    assert [d["doc_id"] for d in page] == ["b0", "b1", "b2", "b3", "b4"]  # ids sort after the seed file names
    d = writer.delete("/documents/b3", headers=AUTH)
    assert d.status_code == 200 and d.json()["documents"] == {"b3": "deleted"}
    assert "b3" not in _search_ids(writer, "walrus colony number 3", mode="lexical")
    assert writer.get("/documents/b3").status_code == 404
    missing = writer.delete("/documents/b3", headers=AUTH)
    assert missing.status_code == 404 and "no document with id 'b3'" in missing.json()["detail"]
    # Seed documents (ids with '/' are fine to read and delete; only writes refuse them).
    assert writer.get("/documents/000_27323d1700c7a7d6.txt").json()["origin"] == "build"


def test_writes_need_a_configured_key(index: Settings) -> None:
    with _client(index) as c:
        r = c.put("/documents/x", json={"text": "hello there"}, headers=AUTH)
        assert r.status_code == 403 and "SEEKR_API_KEY" in r.json()["detail"]


@pytest.mark.parametrize(
    ("headers", "hint"),
    [({}, "missing"), ({"Authorization": "Bearer nope"}, "wrong"), ({"Authorization": KEY}, "missing")],
)
def test_bad_or_missing_key_is_401(writer: TestClient, headers: dict[str, str], hint: str) -> None:
    r = writer.put("/documents/x", json={"text": "hello there"}, headers=headers)
    assert r.status_code == 401 and hint in r.json()["detail"] and r.headers["WWW-Authenticate"] == "Bearer"
    assert writer.get("/documents/x").status_code == 404  # nothing was written


def test_read_key_protects_search(index: Settings) -> None:
    with _client(index, api_key=KEY, read_key="reader") as c:
        assert c.get("/search", params={"q": "Putin"}).status_code == 401
        assert c.get("/search", params={"q": "Putin"}, headers={"Authorization": "Bearer reader"}).status_code == 200
        assert c.get("/search", params={"q": "Putin"}, headers=AUTH).status_code == 200
        assert c.get("/documents").status_code == 401
        assert c.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("doc_id", "body", "status", "hint"),
    [
        ("x", {"text": ""}, 422, "besides white space"),
        ("x", {"text": "   \n  "}, 422, "besides white space"),
        ("x", {"text": "y" * 50_001}, 413, "limit is 50000"),
        ("bad%01id", {"text": "hello there"}, 422, "control characters"),
        ("a%5Cb", {"text": "hello there"}, 422, "without '/'"),
        ("a%2Fb", {"text": "hello there"}, 422, "without '/'"),
        ("x", {"text": "hello", "colour": "red"}, 422, "unknown field 'colour'"),
        ("x", {"title": "no text"}, 422, "required"),
    ],
)
def test_bad_documents_change_nothing(
    writer: TestClient, doc_id: str, body: dict[str, object], status: int, hint: str
) -> None:
    version = writer.get("/stats").json()["index_version"]
    r = writer.put(f"/documents/{doc_id}", json=body, headers=AUTH)
    assert r.status_code == status and hint in r.json()["detail"], r.text
    assert writer.get("/stats").json()["index_version"] == version


def test_path_separator_in_put_id(writer: TestClient) -> None:
    r = writer.put("/documents/a/b", json={"text": "hello there"}, headers=AUTH)
    assert r.status_code == 422 and "without '/'" in r.json()["detail"]  # API ids travel in paths: no '/'


def test_text_is_kept_whole(writer: TestClient) -> None:
    """Text sent through the API is not a scraped page: short, all-capitals or teaser-like lines all stay."""
    text = "È\n\nADVERTISEMENT\n\nSee also the annex.\n\nTo be continued..."
    r = writer.put("/documents/whole", json={"text": text}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert writer.get("/documents/whole").json()["text"] == text


def test_a_saved_page_is_cleaned_when_asked(writer: TestClient) -> None:
    page = "Harbour news\n\nThe ferry now runs every hour.\n\nAdvertisement\n\nSee also: an unrelated story"
    r = writer.put("/documents/page", json={"text": page, "cleaning": "web"}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert writer.get("/documents/page").json()["text"] == "Harbour news\n\nThe ferry now runs every hour."
    only_ads = writer.put("/documents/ads", json={"text": "Advertisement\n\nShare on Facebook", "cleaning": "web"},
                          headers=AUTH)  # fmt: skip
    assert only_ads.status_code == 200  # kept whole rather than emptied
    assert writer.get("/documents/ads").json()["text"] == "Advertisement\n\nShare on Facebook"
    bad = writer.put("/documents/x", json={"text": "t", "cleaning": "auto"}, headers=AUTH)
    assert bad.status_code == 422 and "cleaning" in bad.text


def test_batch_applies_a_repeated_id_in_order(writer: TestClient) -> None:
    docs = [{"id": "twice", "text": "First text."}, {"id": "twice", "text": "Second text."}]
    r = writer.post("/documents", json={"documents": docs}, headers=AUTH)
    assert r.status_code == 200 and r.json()["documents"] == {"twice": "created"}
    assert writer.get("/documents/twice").json()["text"] == "Second text."


def test_list_past_the_end_is_an_empty_page(writer: TestClient) -> None:
    for offset in (5, 10**30):
        page = writer.get("/documents", params={"offset": offset, "limit": 999}).json()
        assert page["documents"] == [] and page["total"] == 5 and page["offset"] == offset


def test_batch_limits(index: Settings) -> None:
    with _client(index, api_key=KEY, max_batch_documents=3, max_body_bytes=5_000) as c:
        docs = [{"id": f"d{i}", "text": "short text here."} for i in range(4)]
        r = c.post("/documents", json={"documents": docs}, headers=AUTH)
        assert r.status_code == 413 and "limit is 3" in r.json()["detail"]
        big = c.put(
            "/documents/big",
            content=b'{"text": "' + b"z" * 10_000 + b'"}',
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert big.status_code == 413 and "larger than 5000 bytes" in big.json()["detail"]
        bad = c.put("/documents/x", content=b"{nope", headers={**AUTH, "Content-Type": "application/json"})
        assert bad.status_code == 400 and "not valid JSON" in bad.json()["detail"]
        assert c.get("/documents").json()["total"] == 5


def test_streamed_body_over_limit_is_cut(index: Settings) -> None:
    with _client(index, api_key=KEY, max_body_bytes=5_000) as c:

        def chunks() -> Iterator[bytes]:
            yield b'{"text": "'
            for _ in range(100):
                yield b"z" * 1000
            yield b'"}'

        r = c.put("/documents/big", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == 413


def test_api_and_build_share_one_id_space(index: Settings, seeds_copy: Path) -> None:
    with _client(index, api_key=KEY) as c:
        c.put("/documents/note", json={"text": "An API note about puffins."}, headers=AUTH)
    from indexer.building.builder import build_index

    backend = open_backend(index)
    report = build_index(seeds_copy, backend, FakeEmbedder())
    assert report.deleted == 0 and report.embedded_chunks == 0  # the build leaves API documents alone
    assert "note" in backend.open().store.hashes()
    backend.close()
