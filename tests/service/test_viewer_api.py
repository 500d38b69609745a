"""The original file and page images over HTTP, on both engines: ranges, ETags, refusals that say why, and
nothing served from outside the recorded folder."""

from __future__ import annotations

import hashlib
import json
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
from tests.viewer.pdfs import write_pdf

PAGES = [["tide gauge datum keeper"], ["harbour keeper logbook entries"], ["silt surge ferry schedule"]]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "docs"
    (src / "sub").mkdir(parents=True)
    write_pdf(src / "sub" / "handbook.pdf", PAGES)
    (src / "notes.txt").write_text("Notes on the harbour keeper and the tide tables.\n")
    (src / "lines.jsonl").write_text(json.dumps({"id": "line-1", "text": "A line about ferries."}) + "\n")
    outside = tmp_path / "secret.txt"
    outside.write_text("Secret text outside the folder about the harbour keeper.\n")
    (src / "link.txt").symlink_to(outside)
    return src


@pytest.fixture
def client(engine: BackendName, tmp_path: Path, folder: Path) -> Iterator[TestClient]:
    settings = storage(engine, tmp_path)
    backend = open_backend(settings)
    build_index(folder, backend, FakeEmbedder())
    backend.close()
    settings = settings.model_copy(update={"api_key": SecretStr(KEY), "page_cache": tmp_path / "pages"})
    with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as c:
        wait_ready(c)
        yield c


def test_the_file_is_served_whole_and_in_ranges(client: TestClient, folder: Path) -> None:
    data = (folder / "sub" / "handbook.pdf").read_bytes()
    r = client.get("/documents/sub/handbook.pdf/source")
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert r.headers["content-disposition"].startswith("inline") and "last-modified" in r.headers
    assert r.headers["accept-ranges"] == "bytes"
    for asked, part in (("bytes=0-99", data[:100]), ("bytes=100-199", data[100:200]), ("bytes=-50", data[-50:])):
        r = client.get("/documents/sub/handbook.pdf/source", headers={"Range": asked})
        assert r.status_code == 206 and r.content == part, asked
    r = client.get("/documents/sub/handbook.pdf/source", headers={"Range": f"bytes={len(data) + 10}-"})
    assert r.status_code == 416
    r = client.get(
        "/documents/sub/handbook.pdf/source", headers={"If-None-Match": f'"{hashlib.sha256(data).hexdigest()}"'}
    )
    assert r.status_code == 304 and not r.content
    r = client.get("/collections/default/documents/notes.txt/source")
    assert r.status_code == 200 and r.content == (folder / "notes.txt").read_bytes()


@pytest.mark.parametrize(
    ("doc_id", "reason"),
    [
        ("..%2f..%2fsecret.txt", "no document"),
        ("%2e%2e%2fsecret.txt", "no document"),
        ("%2Fetc%2Fpasswd", "no document"),
        ("link.txt", "leading out of the folder"),
        ("line-1", "no file of its own"),
    ],
)
def test_nothing_outside_the_folder_is_served(client: TestClient, doc_id: str, reason: str) -> None:
    r = client.get(f"/documents/{doc_id}/source")
    assert r.status_code == 404 and reason in r.json()["detail"], r.text
    assert "Secret text" not in r.text


def test_a_changed_file_is_409_and_a_deleted_one_404(client: TestClient, folder: Path) -> None:
    (folder / "notes.txt").write_text("Changed since it was indexed.\n")
    r = client.get("/documents/notes.txt/source")
    assert r.status_code == 409 and "re-index" in r.json()["detail"]
    (folder / "notes.txt").unlink()
    r = client.get("/documents/notes.txt/source")
    assert r.status_code == 404 and "no longer in the folder" in r.json()["detail"]


def test_a_document_sent_as_text_has_no_file(client: TestClient) -> None:
    assert client.put("/documents/typed", json={"text": "Typed text about tides."}, headers=AUTH).status_code == 200
    r = client.get("/documents/typed/source")
    assert r.status_code == 404 and "sent as text" in r.json()["detail"]


def test_page_images_mark_the_passage_and_are_cached(client: TestClient) -> None:
    hits = client.get("/search", params={"q": "harbour keeper logbook", "k": 5, "mode": "lexical"}).json()["results"]
    hit = next(h for h in hits if h["doc_id"] == "sub/handbook.pdf")
    url = f"/documents/sub/handbook.pdf/pages/{hit['page']}.png"
    r = client.get(url, params={"width": 400, "mark": f"{hit['start']}-{hit['end']}"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"
    assert (r.headers["x-seekr-marks"], r.headers["x-seekr-pages"], r.headers["x-seekr-cache"]) == (
        "text layer",
        "3",
        "miss",
    )
    again = client.get(url, params={"width": 400, "mark": f"{hit['start']}-{hit['end']}"})
    assert again.headers["x-seekr-cache"] == "hit" and again.content == r.content
    # A kept image answers as the first did: the viewer disables "next" on the last page by its page count.
    assert (again.headers["x-seekr-marks"], again.headers["x-seekr-pages"]) == ("text layer", "3")
    assert (
        client.get(
            url,
            params={"width": 400, "mark": f"{hit['start']}-{hit['end']}"},
            headers={"If-None-Match": r.headers["etag"]},
        ).status_code
        == 304
    )
    plain = client.get(url, params={"width": 400})
    assert plain.status_code == 200 and plain.content != r.content


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("sub/handbook.pdf/pages/0.png", {}, 404, "has 3 pages"),
        ("sub/handbook.pdf/pages/4.png", {}, 404, "has 3 pages"),
        ("sub/handbook.pdf/pages/1.png", {"width": 100}, 422, "width"),
        ("sub/handbook.pdf/pages/1.png", {"width": 5000}, 422, "width"),
        ("sub/handbook.pdf/pages/1.png", {"mark": "abc"}, 422, "START-END"),
        ("sub/handbook.pdf/pages/1.png", {"mark": "9-3"}, 422, "START-END"),
        ("notes.txt/pages/1.png", {}, 404, "no page images"),
    ],
)
def test_bad_page_requests_say_what_to_do(
    client: TestClient, path: str, params: dict[str, str | int], status: int, says: str
) -> None:
    r = client.get(f"/documents/{path}", params=params)
    assert r.status_code == status and says in r.json()["detail"], r.text


def test_writes_to_the_viewer_paths_are_refused(client: TestClient) -> None:
    r = client.put("/documents/notes.txt/source", json={"text": "x"}, headers=AUTH)
    assert r.status_code == 405


def test_an_agent_gets_the_page_as_text_and_image_over_mcp(tmp_path: Path, folder: Path) -> None:
    import asyncio
    import base64
    import signal

    from mcp.types import ImageContent, TextContent

    from tests.conftest import start_fake_server
    from tests.service.test_mcp import connect

    build_index(folder, tmp_path / "index", FakeEmbedder())
    proc, base = start_fake_server(tmp_path / "index", tmp_path / "server.log", SEEKR_PAGE_CACHE=str(tmp_path / "c"))

    async def go() -> list[object]:
        async with connect(base, KEY) as client:
            page = await client.call_tool("get_page", {"doc_id": "sub/handbook.pdf", "page": 2, "mark": "0-5"})
            text = await client.call_tool("get_page", {"doc_id": "notes.txt", "page": 1})
            far = await client.call_tool("get_page", {"doc_id": "sub/handbook.pdf", "page": 9})
            return [page, text, far]

    try:
        page, text, far = asyncio.run(go())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert not page.is_error  # type: ignore[attr-defined]
    said, image = page.content  # type: ignore[attr-defined]
    assert isinstance(said, TextContent) and "harbour keeper logbook entries" in said.text and "of 3" in said.text
    assert isinstance(image, ImageContent) and image.mime_type == "image/png"
    assert base64.b64decode(image.data)[:4] == b"\x89PNG"
    assert text.is_error and "no page images" in text.content[0].text  # type: ignore[attr-defined]
    assert far.is_error and "has 3 pages" in far.content[0].text  # type: ignore[attr-defined]
