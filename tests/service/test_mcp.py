"""The MCP server, driven by the official SDK's own client: over Streamable HTTP against a real uvicorn process
(the fake embedder), and over stdio as a desktop client starts it (the real command, real model)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import KEY, ROOT, start_fake_server

READ_KEY = "r3ad"
TOOLS = {
    "search",
    "get_document",
    "list_documents",
    "get_context",
    "similar_documents",
    "upsert_document",
    "delete_document",
    "list_collections",
    "get_page",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from indexer.building.builder import build_index
    from tests.conftest import SEEDS
    from tests.fakes import FakeEmbedder

    root = tmp_path_factory.mktemp("mcp")
    build_index(SEEDS, root / "index", FakeEmbedder())
    proc, base = start_fake_server(root / "index", root / "server.log", SEEKR_READ_KEY=READ_KEY)
    try:
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


@asynccontextmanager
async def connect(base: str, key: str | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
    ):
        yield client


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_the_tools_as_a_model_sees_them(server: str) -> None:
    async def go() -> Any:
        async with connect(server, KEY) as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in _run(go())}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and len(tool.description) > 40  # written for a model to read
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None or tool.name == "get_page"  # typed results (get_page: an image)
    assert {"query", "k", "mode", "filters", "max_per_doc", "page"} <= set(tools["search"].input_schema["properties"])


def test_search_over_mcp_equals_search_over_rest(server: str) -> None:
    async def go() -> Any:
        async with connect(server, READ_KEY) as client:
            return await client.call_tool("search", {"query": "Where did Wang Yi meet Lavrov", "k": 3, "page": 2})

    result = _run(go())
    assert not result.is_error
    rest = httpx.get(
        f"{server}/search",
        params={"q": "Where did Wang Yi meet Lavrov", "k": 3, "offset": 3},
        headers={"Authorization": f"Bearer {READ_KEY}"},
    ).json()
    got = result.structured_content
    keys = ("rank", "doc_id", "chunk_id", "source", "start", "end", "page", "text")
    assert [{k: h[k] for k in keys} for h in got["results"]] == [{k: h[k] for k in keys} for h in rest["results"]]
    assert [h["rank"] for h in got["results"]] == [4, 5, 6] and got["offset"] == 3


def test_every_read_tool_and_the_document_resource(server: str) -> None:
    async def go() -> dict[str, Any]:
        async with connect(server, READ_KEY) as client:
            hit = (await client.call_tool("search", {"query": "Lavrov", "k": 1})).structured_content["results"][0]
            doc_id, chunk_id = hit["doc_id"], hit["chunk_id"]
            return {
                "hit": hit,
                "whole": await client.call_tool("get_document", {"doc_id": doc_id}),
                "range": await client.call_tool("get_document", {"doc_id": doc_id, "start": 10, "end": 50}),
                "list": await client.call_tool("list_documents", {"limit": 2}),
                "context": await client.call_tool("get_context", {"doc_id": doc_id, "chunk_id": chunk_id, "n": 1}),
                "similar": await client.call_tool("similar_documents", {"doc_id": doc_id, "k": 2}),
                "resource": await client.read_resource(f"seekr://documents/{doc_id}"),
                "templates": await client.list_resource_templates(),
            }

    out = _run(go())
    whole = out["whole"].structured_content
    assert whole["text"][10:50] == out["range"].structured_content["text"] and whole["total_chars"] == len(
        whole["text"]
    )
    listed = out["list"].structured_content
    assert listed["total"] == 5 and len(listed["documents"]) == 2
    context = out["context"].structured_content
    assert context["passage"]["chunk_id"] == out["hit"]["chunk_id"]
    for p in (*context["before"], *context["after"], context["passage"]):
        assert whole["text"][p["start"] : p["end"]] == p["text"]
    similar = out["similar"].structured_content
    assert len(similar["results"]) == 2 and out["hit"]["doc_id"] not in {r["doc_id"] for r in similar["results"]}
    assert out["resource"].contents[0].text == whole["text"]
    assert [t.uri_template for t in out["templates"].resource_templates] == ["seekr://documents/{doc_id}"]


def test_errors_say_what_to_fix(server: str) -> None:
    async def go() -> list[Any]:
        async with connect(server, READ_KEY) as client:
            return [
                await client.call_tool("get_document", {"doc_id": "no-such-doc"}),
                await client.call_tool("get_context", {"doc_id": "no-such-doc", "chunk_id": 1}),
                await client.call_tool("search", {"query": "x", "k": 0}),
                await client.call_tool("search", {"query": "x", "k": 100, "page": 11}),
                await client.call_tool("search", {"query": "x", "filters": {"where": {"field": "y", "op": "no"}}}),
            ]

    missing, no_passage, bad_k, too_deep, bad_filter = _run(go())
    assert missing.is_error and "list_documents gives the ids" in missing.content[0].text
    assert no_passage.is_error and "doc_id and chunk_id from search" in no_passage.content[0].text
    assert bad_k.is_error and "k" in bad_k.content[0].text
    assert too_deep.is_error and "narrow the query" in too_deep.content[0].text
    assert bad_filter.is_error


def test_a_key_without_write_rights_cannot_write_and_the_write_key_can(server: str) -> None:
    async def go() -> list[Any]:
        async with connect(server, READ_KEY) as reader, connect(server, KEY) as writer:
            return [
                await reader.call_tool("upsert_document", {"doc_id": "puffins", "text": "Puffins nest on cliffs."}),
                await reader.call_tool("delete_document", {"doc_id": "000_27323d1700c7a7d6.txt"}),
                await writer.call_tool("upsert_document", {"doc_id": "puffins", "text": "Puffins nest on cliffs."}),
                await writer.call_tool("search", {"query": "puffins nest", "k": 1, "mode": "lexical"}),
                await writer.call_tool("delete_document", {"doc_id": "puffins"}),
            ]

    refused, refused_delete, written, found, deleted = _run(go())
    assert refused.is_error and "may not write" in refused.content[0].text
    assert refused_delete.is_error and "may not write" in refused_delete.content[0].text
    assert not written.is_error and written.structured_content["documents"] == {"puffins": "created"}
    assert found.structured_content["results"][0]["doc_id"] == "puffins"
    assert deleted.structured_content["documents"] == {"puffins": "deleted"}


def test_no_key_is_a_401_and_calls_are_counted(server: str) -> None:
    r = httpx.post(f"{server}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert r.status_code == 401 and "Authorization" in r.json()["detail"]

    async def calls() -> None:  # this test's own calls: tests of this module may run in other processes
        async with connect(server, KEY) as client:
            await client.call_tool("search", {"query": "Lavrov", "k": 1})
            await client.call_tool("get_document", {"doc_id": "no-such-document"})

    _run(calls())
    metrics = httpx.get(f"{server}/metrics").text
    assert 'seekr_mcp_tool_calls_total{outcome="ok",tool="search"}' in metrics
    assert 'seekr_mcp_tool_calls_total{outcome="error",tool="get_document"}' in metrics


@pytest.mark.slow
def test_stdio_as_a_desktop_client_starts_it(real_seed_index: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "service", "mcp", "--index", str(real_seed_index)],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        cwd=str(ROOT),
    )

    async def go() -> list[Any]:
        async with Client(params) as client:
            return [
                await client.list_tools(),
                await client.call_tool("search", {"query": "Who is Sean Roberts?", "k": 1}),
                await client.call_tool("upsert_document", {"doc_id": "x", "text": "y"}),
            ]

    tools, hit, write = _run(go())
    assert {t.name for t in tools.tools} == TOOLS
    top = hit.structured_content["results"][0]
    assert top["doc_id"] == "000_27323d1700c7a7d6.txt" and top["scores"]["introduces"] == "Sean Roberts"
    assert write.is_error and "SEEKR_API_KEY" in write.content[0].text  # no write key: no writes


def test_tools_take_a_collection_and_keep_to_it(server: str) -> None:
    assert httpx.put(f"{server}/collections/birds", headers={"Authorization": f"Bearer {KEY}"}).status_code in (
        200,
        201,
    )

    async def go() -> list[Any]:
        async with connect(server, KEY) as writer, connect(server, READ_KEY) as reader:
            return [
                await writer.call_tool(
                    "upsert_document",
                    {"doc_id": "tern", "text": "Arctic terns migrate pole to pole.", "collection": "birds"},
                ),
                await reader.call_tool("search", {"query": "arctic terns migrate", "collection": "birds", "k": 1}),
                await reader.call_tool("search", {"query": "arctic terns migrate", "k": 5, "mode": "lexical"}),
                await reader.call_tool("get_document", {"doc_id": "tern", "collection": "birds"}),
                await reader.call_tool("search", {"query": "x", "collection": "no-such"}),
                await reader.call_tool("list_collections", {}),
            ]

    written, in_birds, in_default, document, missing, listed = _run(go())
    assert not written.is_error, written.content
    assert in_birds.structured_content["results"][0]["doc_id"] == "tern"
    assert "tern" not in [h["doc_id"] for h in in_default.structured_content["results"]]
    assert document.structured_content["text"] == "Arctic terns migrate pole to pole."
    assert missing.is_error and "no collection 'no-such'" in missing.content[0].text
    names = {c["name"]: c["rights"] for c in listed.structured_content["collections"]}
    assert names["birds"] == names["default"] == ["read"]
