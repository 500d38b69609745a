"""Files sent over HTTP to a collection that keeps originals, on both engines: served byte for byte and as page
images, replaced and removed with their documents, counted in /stats, refused with the reason elsewhere."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from indexer.building import writer as writer_module
from indexer.building.builder import build_index
from indexer.errors import ConfigError
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.documents import read_upload
from indexer.storage.factory import open_backend
from indexer.storage.originals import Original, Originals, originals_at
from indexer.storage.settings import BackendName, milvus_originals
from service.app import create_app
from service.settings import Settings
from tests.conftest import AUTH, KEY, storage, wait_ready
from tests.fakes import FakeEmbedder
from tests.viewer.pdfs import write_pdf


def _pdf(tmp_path: Path, name: str, pages: list[list[str]]) -> bytes:
    path = tmp_path / name
    write_pdf(path, pages)
    return path.read_bytes()


@pytest.fixture
def settings(engine: BackendName, tmp_path: Path) -> Settings:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("Notes on the harbour keeper and the tide tables.\n")
    base = storage(engine, tmp_path)
    backend = open_backend(base)
    build_index(folder, backend, FakeEmbedder())
    backend.close()
    return base.model_copy(update={"api_key": SecretStr(KEY), "page_cache": tmp_path / "pages"})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as c:
        wait_ready(c)
        yield c


def _stats(client: TestClient) -> dict[str, object]:
    r = client.get("/collections/kept/stats", headers=AUTH)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_a_collection_keeps_the_files_sent_to_it(client: TestClient, tmp_path: Path) -> None:
    r = client.put("/collections/kept", json={"keep_originals": True}, headers=AUTH)
    assert r.status_code == 201 and r.json()["keep_originals"] is True, r.text
    first = _pdf(tmp_path, "a.pdf", [["tide gauge datum keeper"], ["harbour keeper logbook entries"]])
    r = client.put(
        "/collections/kept/documents/report",
        files={"file": ("Report.PDF", first, "application/pdf")},
        headers=AUTH,
    )
    assert r.status_code == 200 and r.json()["documents"] == {"report": "created"}, r.text
    source = client.get("/collections/kept/documents/report/source", headers=AUTH)
    assert source.status_code == 200 and source.content == first
    assert source.headers["etag"] == f'"{hashlib.sha256(first).hexdigest()}"'
    assert source.headers["content-type"] == "application/pdf" and "Report.PDF" in source.headers["content-disposition"]
    ranged = client.get("/collections/kept/documents/report/source", headers=AUTH | {"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.content == first[:10]
    hit = client.get("/collections/kept/search", params={"q": "harbour logbook", "k": 1}, headers=AUTH).json()
    hit = hit["results"][0]
    page = client.get(
        f"/collections/kept/documents/report/pages/{hit['page']}.png",
        params={"width": 400, "mark": f"{hit['start']}-{hit['end']}"},
        headers=AUTH,
    )
    assert page.status_code == 200 and page.content.startswith(b"\x89PNG")
    assert (page.headers["x-seekr-pages"], page.headers["x-seekr-marks"]) == ("2", "text layer")
    stats = _stats(client)
    assert (stats["keep_originals"], stats["original_files"], stats["original_bytes"]) == (True, 1, len(first))

    # Replaced (as base64 JSON): the new file is served, the old one is gone.
    second = _pdf(tmp_path, "b.pdf", [["silt surge ferry schedule"]])
    body = {"file_base64": base64.b64encode(second).decode(), "filename": "report.pdf"}
    r = client.put("/collections/kept/documents/report", json=body, headers=AUTH)
    assert r.json()["documents"] == {"report": "updated"}, r.text
    assert client.get("/collections/kept/documents/report/source", headers=AUTH).content == second
    assert _stats(client)["original_files"] == 1 and _stats(client)["original_bytes"] == len(second)
    assert client.put("/collections/kept/documents/report", json=body, headers=AUTH).json()["documents"] == {
        "report": "unchanged"
    }
    assert _stats(client)["original_files"] == 1

    # Replaced by text: no file any more.
    r = client.put("/collections/kept/documents/report", json={"text": "Plain words now."}, headers=AUTH)
    assert r.json()["documents"] == {"report": "updated"}
    gone = client.get("/collections/kept/documents/report/source", headers=AUTH)
    assert gone.status_code == 404 and "sent as text" in gone.json()["detail"]
    assert _stats(client)["original_files"] == 0

    # Deleted: its file goes with it.
    client.put("/collections/kept/documents/other", json=body, headers=AUTH)
    assert _stats(client)["original_files"] == 1
    assert client.delete("/collections/kept/documents/other", headers=AUTH).status_code == 200
    assert _stats(client)["original_files"] == 0 and _stats(client)["original_bytes"] == 0

    conflict = client.put("/collections/kept", json={}, headers=AUTH)
    assert conflict.status_code == 409 and "keep_originals True (asked: False)" in conflict.json()["detail"]


def test_a_collection_that_keeps_none_says_how_to_keep_them(client: TestClient, tmp_path: Path) -> None:
    data = _pdf(tmp_path, "a.pdf", [["tide gauge datum keeper"]])
    r = client.put("/documents/upload", files={"file": ("a.pdf", data, "application/pdf")}, headers=AUTH)
    assert r.status_code == 200, r.text
    refused = client.get("/documents/upload/source", headers=AUTH)
    assert refused.status_code == 404 and "keep_originals" in refused.json()["detail"]
    page = client.get("/documents/upload/pages/1.png", headers=AUTH)
    assert page.status_code == 404 and "keep_originals" in page.json()["detail"]
    stats = client.get("/stats", headers=AUTH).json()
    assert stats["keep_originals"] is False and stats["original_files"] is None


def test_dropping_a_collection_removes_its_files(client: TestClient, engine: BackendName, tmp_path: Path) -> None:
    client.put("/collections/gone", json={"keep_originals": True}, headers=AUTH)
    data = _pdf(tmp_path, "a.pdf", [["tide gauge datum keeper"]])
    client.put("/collections/gone/documents/d", files={"file": ("a.pdf", data, "application/pdf")}, headers=AUTH)
    files = [p for p in tmp_path.rglob("*.pdf") if p.read_bytes() == data and p.parent != tmp_path]
    assert len(files) == 1  # the kept copy
    assert client.delete("/collections/gone", headers=AUTH).status_code == 200
    assert not files[0].exists()


def test_the_build_records_the_setting_and_a_rebuild_keeps_it(engine: BackendName, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Harbour keeper notes.\n")
    backend = open_backend(storage(engine, tmp_path))
    try:
        build_index(folder, backend, FakeEmbedder(), keep_originals=True)
        assert backend.read_manifest().keep_originals
        report = build_index(folder, backend, FakeEmbedder(), ChunkingConfig(chunk_tokens=64))  # a full rebuild
        assert report.rebuild_reason is not None and backend.read_manifest().keep_originals
        build_index(folder, backend, FakeEmbedder(), ChunkingConfig(chunk_tokens=64), keep_originals=False)
        assert not backend.read_manifest().keep_originals
    finally:
        backend.close()


def test_a_write_that_fails_leaves_no_file(
    engine: BackendName, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Harbour keeper notes.\n")
    backend = open_backend(storage(engine, tmp_path))
    try:
        build_index(folder, backend, FakeEmbedder(), keep_originals=True)
        writer = writer_module.IndexWriter(backend, FakeEmbedder())
        data = _pdf(tmp_path, "a.pdf", [["tide gauge datum keeper"]])
        read = read_upload("d", "a.pdf", data, source="api:d")
        assert isinstance(read, tuple)

        def broken(*_args: object, **_kwargs: object) -> object:
            raise RuntimeError("embedding failed")

        monkeypatch.setattr(writer_module, "prepare_updates", broken)
        with pytest.raises(RuntimeError):
            writer.apply([read[0]], originals={"d": Original(data, ".pdf")})
        root = backend.originals_root
        assert root is not None and Originals(root).kept().files == 0
        monkeypatch.undo()
        writer.apply([read[0]], originals={"d": Original(data, ".pdf")})
        assert Originals(root).kept().files == 1
    finally:
        backend.close()


def test_an_engine_without_a_folder_for_files_says_what_to_set() -> None:
    assert milvus_originals("http://127.0.0.1:19530", None) is None
    assert milvus_originals("http://127.0.0.1:19530", Path("/srv/kept")) == Path("/srv/kept")
    assert milvus_originals("/data/milvus.db", None) == Path("/data/milvus.db.originals")
    with pytest.raises(ConfigError, match="SEEKR_ORIGINALS_DIR"):
        originals_at(None)
