"""The MCP client configurations and the Python example of docs/mcp.md, run as written with the SDK's client."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import ROOT, SEEDS, start_fake_server

PAGE = (ROOT / "docs" / "mcp.md").read_text(encoding="utf-8")
CONFIGS = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", PAGE, re.DOTALL)]
PYTHON = re.findall(r"```python\n(.*?)```", PAGE, re.DOTALL)


def _server(kind: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c["mcpServers"]["seekr"] for c in CONFIGS if kind in c["mcpServers"]["seekr"]]
    assert len(found) == 1, f"docs/mcp.md should show one configuration with {kind!r}"
    return found[0]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from indexer.building.builder import build_index
    from tests.fakes import FakeEmbedder

    root = tmp_path_factory.mktemp("mcp-docs")
    build_index(SEEDS, root / "index", FakeEmbedder())
    key = _server("url")["headers"]["Authorization"].removeprefix("Bearer ")
    proc, base = start_fake_server(root / "index", root / "server.log", SEEKR_API_KEY=key)
    try:
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_the_http_configuration(served: str) -> None:
    config = _server("url")
    url = config["url"].replace("http://127.0.0.1:8000", served)

    async def go() -> Any:
        async with (
            httpx2.AsyncClient(headers=config["headers"]) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            written = await client.call_tool("upsert_document", {"doc_id": "docs-note", "text": "A note from docs."})
            return written, await client.list_tools()

    written, tools = asyncio.run(go())
    assert not written.is_error and len(tools.tools) == 9


def test_the_python_example(served: str, capsys: pytest.CaptureFixture[str]) -> None:
    (code,) = PYTHON
    code = code.replace("http://127.0.0.1:8000", served)
    namespace: dict[str, Any] = {}
    exec("async def main():\n" + textwrap.indent(code, "    "), namespace)
    asyncio.run(namespace["main"]())
    assert capsys.readouterr().out.strip() == "000_27323d1700c7a7d6.txt"


@pytest.mark.slow
def test_the_desktop_configuration(real_seed_index: Path, tmp_path: Path) -> None:
    config = _server("command")
    command = sys.executable if config["command"] == "python" else config["command"]
    (tmp_path / "index").symlink_to(real_seed_index)  # "index" relative to where the client starts it
    params = StdioServerParameters(
        command=command, args=config["args"], env={**os.environ, **config["env"]}, cwd=str(tmp_path)
    )

    async def go() -> Any:
        async with Client(params) as client:
            return await client.call_tool("search", {"query": "Where did Wang Yi meet Lavrov", "k": 1})

    result = asyncio.run(go())
    assert result.structured_content["results"][0]["doc_id"] == "000_27323d1700c7a7d6.txt"
