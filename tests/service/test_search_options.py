"""Every search option is asked for the same way everywhere: each option of `Searcher.search` (the one
definition) is a field of the POST /search body, a parameter of GET /search, an argument of the MCP `search`
tool and a flag of `python -m indexer query`; and each POST field is a GET parameter and an MCP argument."""

from __future__ import annotations

import argparse
import asyncio
import inspect
from pathlib import Path

from fastapi.testclient import TestClient

from indexer.building.builder import build_index
from indexer.cli.parser import build_parser
from indexer.retrieval.searcher import Searcher
from service.app import create_app
from service.mcp_server import build_mcp
from service.routes.view import viewer_for
from service.schemas import SearchRequest
from service.settings import Settings
from tests.conftest import SEEDS, wait_ready
from tests.fakes import FakeEmbedder

# How GET spells what the body holds in one structure: the question is `q`, filters are separate parameters.
GET_NAMES = {"query": "q", "filters": "filter"}
# How the body and the CLI spell the searcher's options where the names differ.
BODY_NAMES = {"where": "filters"}
CLI_FLAGS = {"k": "-k", "where": "--filter", "highlight": "--no-highlight", "rerank": "--no-rerank"}


def _options() -> set[str]:
    """The options `Searcher.search` takes besides the question."""
    return {n for n, p in inspect.signature(Searcher.search).parameters.items() if p.kind is p.KEYWORD_ONLY}


def _cli_flags() -> set[str]:
    """The flags `python -m indexer query` takes."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {flag for action in commands.choices["query"]._actions for flag in action.option_strings}


def test_every_searcher_option_is_in_the_body_and_on_the_command_line() -> None:
    options = _options()
    assert len(options) >= 16  # k, mode, ..., rerank_budget_ms: the signature was read
    assert not {BODY_NAMES.get(o, o) for o in options} - set(SearchRequest.model_fields)
    flags = _cli_flags()
    assert not {CLI_FLAGS.get(o, "--" + o.replace("_", "-")) for o in options} - flags


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
