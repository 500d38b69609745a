"""Files through the document API (multipart and base64 JSON), what /stats says a build skipped, and the search
page's page numbers and file links."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bench.samples import make_docx, make_pdf, make_scanned_pdf, pdf_bytes
from indexer.building.builder import build_index
from indexer.storage.settings import BackendName
from service.app import create_app
from service.settings import Settings
from tests.conftest import AUTH, KEY, storage, wait_ready, wait_until
from tests.fakes import FakeEmbedder


@pytest.fixture
def writer(engine: BackendName, tmp_path: Path, seeds_copy: Path) -> Iterator[TestClient]:
    settings = storage(engine, tmp_path)
    backend_settings = settings.model_copy(update={"api_key": SecretStr(KEY)})
    from indexer.storage.factory import open_backend

    backend = open_backend(settings)
    build_index(seeds_copy, backend, FakeEmbedder())
    backend.close()
    app = create_app(backend_settings, embedder_factory=lambda s: FakeEmbedder())
    with TestClient(app) as client:
        wait_ready(client)
        yield client


def test_a_pdf_uploaded_as_multipart_is_searchable_by_page(writer: TestClient) -> None:
    files = {"file": ("field-notes.pdf", pdf_bytes(pages=3), "application/pdf")}
    data = {"title": "Field notes", "metadata": json.dumps({"team": "coast"})}
    r = writer.put("/documents/notes", files=files, data=data, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["documents"] == {"notes": "created"}
    doc = writer.get("/documents/notes", headers=AUTH).json()
    assert doc["title"] == "Field notes" and doc["source"] == "api:notes"
    assert doc["metadata"] | {"team": "coast", "filename": "field-notes.pdf", "file_type": "pdf"} == doc["metadata"]
    assert "file_modified" not in doc["metadata"]
    hits = writer.get("/search", params={"q": "glacier keeper report", "k": 1, "mode": "lexical"}).json()["results"]
    assert hits[0]["doc_id"] == "notes" and hits[0]["page"] == 2  # the glacier is page 2's word


def test_a_docx_sent_as_base64_json_is_read_like_a_file(writer: TestClient, tmp_path: Path) -> None:
    content = base64.b64encode(make_docx(tmp_path / "h.docx").read_bytes()).decode()
    body = {"file_base64": content, "filename": "handbook.docx", "metadata": {"shelf": 3}}
    r = writer.put("/documents/handbook", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    doc = writer.get("/documents/handbook", headers=AUTH).json()
    assert doc["title"] == "Orchard handbook" and "Conference | September" in doc["text"]
    assert doc["metadata"]["shelf"] == 3
    again = writer.put("/documents/handbook", json=body, headers=AUTH).json()
    assert again["documents"] == {"handbook": "unchanged"} and again["embedded_chunks"] == 0


@pytest.mark.parametrize(
    ("name", "kind"),
    [("scan.pdf", "no_text"), ("locked.pdf", "encrypted"), ("photo.jpg", "corrupt"), ("notes.xyz", "unsupported")],
)
def test_a_file_that_cannot_be_read_is_a_422_that_says_why(
    writer: TestClient, tmp_path: Path, name: str, kind: str
) -> None:
    path = tmp_path / name
    if name == "scan.pdf":
        make_scanned_pdf(path)
    elif name == "locked.pdf":
        make_pdf(path, password="secret")
    else:  # a truncated JPEG; a file of an unknown type
        path.write_bytes(b"\xff\xd8\xff\xe0")
    version = writer.get("/stats").json()["index_version"]
    r = writer.put("/documents/x", files={"file": (name, path.read_bytes())}, headers=AUTH)
    assert r.status_code == 422 and kind in r.json()["detail"], r.text
    assert writer.get("/stats").json()["index_version"] == version  # nothing was written


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        ({"text": "both", "file_base64": "aGk=", "filename": "a.txt"}, "not both"),
        ({"title": "neither"}, '"text" is required'),
        ({"file_base64": "aGk="}, "filename"),
        ({"file_base64": "%%%", "filename": "a.txt"}, "base64"),
    ],
)
def test_bad_upload_bodies_are_422_and_change_nothing(writer: TestClient, body: dict[str, object], hint: str) -> None:
    r = writer.put("/documents/x", json=body, headers=AUTH)
    assert r.status_code == 422 and hint in r.json()["detail"], r.text


def test_a_body_of_another_media_type_is_415(writer: TestClient) -> None:
    r = writer.put("/documents/x", content=b"hello", headers={**AUTH, "Content-Type": "text/plain"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["detail"]


def test_stats_say_what_the_last_build_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_pdf(folder / "good.pdf")
    make_scanned_pdf(folder / "scan.pdf")
    (folder / "notes.xyz").write_text("?", encoding="utf-8")
    build_index(folder, tmp_path / "index", FakeEmbedder())
    app = create_app(
        Settings(index_dir=tmp_path / "index", model="fake-hash"), embedder_factory=lambda s: FakeEmbedder()
    )
    with TestClient(app) as client:
        wait_ready(client)
        stats = client.get("/stats").json()
    assert (stats["source_files"], stats["source_pages"]) == (3, 3)
    # The scan's blank pages were recognised, and OCR found no text on them.
    assert stats["skipped"] == {"no_text": 1, "unsupported": 1}


def test_the_page_links_hits_to_their_files_when_told_where_they_are(fake_seed_index: Path) -> None:
    base = 'https://files.example.org/docs/?a="b"&c'
    settings = Settings(index_dir=fake_seed_index, model="fake-hash", source_base_url=base)
    with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as client:
        page = client.get("/").text
    assert 'content="https://files.example.org/docs/?a=&quot;b&quot;&amp;c"' in page  # escaped, not injected
    assert "#page=" in page and "sourceOf(hit)" in page
    plain = Settings(index_dir=fake_seed_index, model="fake-hash")
    with TestClient(create_app(plain, embedder_factory=lambda s: FakeEmbedder())) as client:
        assert 'name="seekr-source-base-url" content=""' in client.get("/").text


def test_a_watching_service_serves_a_new_file_within_seconds(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "first.txt").write_text("Puffins nest on the northern cliffs.", encoding="utf-8")
    build_index(folder, tmp_path / "index", FakeEmbedder())
    settings = Settings(
        index_dir=tmp_path / "index", model="fake-hash", source_dir=folder, watch=True, watch_settle_ms=100
    )
    with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as client:
        wait_ready(client)
        make_pdf(folder / "report.pdf", pages=2)

        def served() -> bool:
            hits = client.get("/search", params={"q": "glacier keeper", "k": 1, "mode": "lexical"}).json()
            return bool(hits["results"]) and hits["results"][0]["doc_id"] == "report.pdf"

        wait_until(served, "the new file to be searchable")
        hit = client.get("/search", params={"q": "glacier keeper", "k": 1, "mode": "lexical"}).json()["results"][0]
        assert hit["page"] == 2
        (folder / "first.txt").unlink()
        wait_until(lambda: client.get("/stats").json()["documents"] == 1, "the deleted file to leave the index")
