"""Slow tier: `python -m bench collections` runs end to end on a small setting and reports every figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main

pytestmark = pytest.mark.slow


def test_collections_bench_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "collections.json"
    assert main(["collections", "--corpus", "seeds", "--collections", "3", "--queries", "12", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["collections"] == 3 and figures["open_collections_at_end"] == 4
    assert figures["chunks_per_collection"] > 0
    assert figures["rss_mb_all_open"] >= figures["rss_mb_default_only"] > 0
    assert figures["cold_search_p50_ms"] > 0 and figures["warm_search_p50_ms"] > 0
