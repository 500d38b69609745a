"""Every search option is asked for the same way everywhere: each field of the POST /search body is a
parameter of GET /search and of the MCP `search` tool (the CLI is not checked yet)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi.testclient import TestClient

from indexer.building.builder import build_index
from service.app import create_app
from service.mcp_server import build_mcp
from service.routes.view import viewer_for
from service.schemas import SearchRequest
from service.settings import Settings
from tests.conftest import SEEDS, wait_ready
from tests.fakes import FakeEmbedder

# How GET spells what the body holds in one structure: the question is `q`, filters are separate parameters.
GET_NAMES = {"query": "q", "filters": "filter"}


def test_every_post_field_is_a_get_parameter_and_an_mcp_argument(tmp_path: Path) -> None:
    build_index(SEEDS, tmp_path / "index", FakeEmbedder())
    settings = Settings(index_dir=tmp_path / "index", model="fake-hash", page_cache=tmp_path / "pages")
    with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as client:
        wait_ready(client)
        spec = client.get("/openapi.json").json()
        collections = client.app.state.collections  # type: ignore[attr-defined]
        get = {p["name"] for p in spec["paths"]["/search"]["get"]["parameters"]}
        mcp = build_mcp(collections, settings, viewer_for(settings))
        tools = {t.name: t for t in asyncio.run(mcp.list_tools())}
    fields = set(SearchRequest.model_fields)
    assert not {GET_NAMES.get(f, f) for f in fields} - get
    assert not fields - set(tools["search"].input_schema["properties"])
