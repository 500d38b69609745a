"""Every search option is asked for the same way everywhere: each field of `SearchOptions` (the one definition)
is a field of the POST /search body, a parameter of GET /search, an argument of the MCP `search` tool and a flag
of `python -m indexer query`, with the same bounds; and each POST field is a GET parameter and an MCP argument."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from indexer.building.builder import build_index
from indexer.cli.options import option_flag, search_from_args
from indexer.cli.parser import build_parser
from indexer.errors import ConfigError
from indexer.retrieval.options import MAX_K, SearchOptions, option_type
from service.app import create_app
from service.mcp_server import build_mcp
from service.routes.view import viewer_for
from service.schemas import SearchRequest
from service.settings import Settings
from tests.conftest import SEEDS, wait_ready
from tests.fakes import FakeEmbedder

# How GET spells what the body holds in one structure: the question is `q`, filters are separate parameters.
GET_NAMES = {"query": "q", "filters": "filter"}


def _query_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    query: argparse.ArgumentParser = commands.choices["query"]
    return query


def _surfaces(tmp_path: Path) -> tuple[dict[str, Any], set[str], dict[str, Any]]:
    """The OpenAPI spec, the CLI query flags, and the MCP search tool's input schema."""
    build_index(SEEDS, tmp_path / "index", FakeEmbedder())
    settings = Settings(index_dir=tmp_path / "index", model="fake-hash", page_cache=tmp_path / "pages")
    with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as client:
        wait_ready(client)
        spec = client.get("/openapi.json").json()
        collections = client.app.state.collections  # type: ignore[attr-defined]
        mcp = build_mcp(collections, settings, viewer_for(settings))
        tools = {t.name: t for t in asyncio.run(mcp.list_tools())}
    flags = {flag for action in _query_parser()._actions for flag in action.option_strings}
    return spec, flags, tools["search"].input_schema


def _bounds(schema: dict[str, Any]) -> dict[str, Any]:
    """The bounds a JSON schema (or its non-null branch) sets on a value."""
    branches = [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]
    keys = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum", "type")
    return {k: v for b in branches for k, v in b.items() if k in keys}


def test_every_option_is_on_every_surface_with_its_bounds(tmp_path: Path) -> None:
    options = set(SearchOptions.model_fields)
    assert len(options) >= 15  # k, mode, ..., rerank_budget_ms: the model was read
    spec, flags, mcp = _surfaces(tmp_path)
    body = spec["components"]["schemas"]["SearchRequest"]["properties"]
    get = {p["name"]: p["schema"] for p in spec["paths"]["/search"]["get"]["parameters"]}
    assert not options - set(body)
    assert not options - set(get)
    assert not options - set(mcp["properties"])
    assert not {option_flag(o) for o in options} - flags
    own = SearchOptions.model_json_schema()
    for name in options:
        expected = _bounds(own["properties"][name]) if "$ref" not in str(own["properties"][name]) else None
        if expected is None:
            continue  # an enum: its values are compared below
        assert _bounds(body[name]) == expected, name
        assert _bounds(get[name]) == expected, name
        assert _bounds(mcp["properties"][name]) == expected, name
    # every POST field (options, question, filters, version) is a GET parameter and an MCP argument
    fields = set(body)
    assert not {GET_NAMES.get(f, f) for f in fields} - set(get)
    assert not fields - set(mcp["properties"])


def test_the_command_line_checks_options_as_the_api_does() -> None:
    parser = _query_parser()
    options, where = search_from_args(parser.parse_args(["q", "-k", "7", "--no-highlight", "--mode", "dense"]))
    assert (options.k, options.highlight, options.mode) == (7, False, "dense")
    assert options.model_fields_set == {"k", "highlight", "mode"} and where is None
    with pytest.raises(ConfigError, match=f"-k: Input should be less than or equal to {MAX_K}"):
        search_from_args(parser.parse_args(["q", "-k", str(MAX_K + 1)]))
    with pytest.raises(ConfigError, match="--dense-weight"):
        search_from_args(parser.parse_args(["q", "--dense-weight", "2"]))


def test_the_post_body_takes_numbers_and_flags_as_json_types_only() -> None:
    wrong = {bool: (0, 1, "true"), int: ("5", True), float: ("0.5", False)}
    right = {bool: False, int: 1, float: 0.5}
    checked = [name for name in SearchOptions.model_fields if option_type(name) in wrong]
    assert {"k", "highlight", "rerank", "dense_weight"} <= set(checked)
    for name in checked:
        kind = option_type(name)
        SearchRequest.model_validate({"query": "q", name: right[kind]})
        for value in wrong[kind]:
            with pytest.raises(ValidationError, match=f"must be a JSON {'boolean' if kind is bool else 'number'}"):
                SearchRequest.model_validate({"query": "q", name: value})
