"""`python -m indexer query` takes every search option the HTTP API takes: filters, grouping, context, pages."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from indexer.building.builder import build_index
from indexer.cli import main
from tests.fakes import FakeEmbedder


@pytest.fixture
def index(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "tides.txt").write_text("Harbour tides\n\nThe harbour tide tables list high water at dawn.")
    (src / "ferries.md").write_text("# Harbour ferries\n\nThe harbour ferry leaves at noon in winter.")
    build_index(src, tmp_path / "index", FakeEmbedder())
    return tmp_path / "index"


def _query(index: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with mock.patch("indexer.cli.options.load_embedder", lambda *a, **k: FakeEmbedder()):
        code = main(["query", str(index), "harbour", "--mode", "lexical", *flags])
    out, err = capsys.readouterr()
    return code, out, err


def test_query_filters_as_the_api_does(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _query(index, capsys)
    assert code == 0 and "tides.txt" in out and "ferries.md" in out
    code, out, _ = _query(index, capsys, "--filter", "file_type:eq:md")
    assert code == 0 and "ferries.md" in out and "tides.txt" not in out
    code, out, _ = _query(index, capsys, "--doc-id", "tides.txt")
    assert code == 0 and "tides.txt" in out and "ferries.md" not in out
    code, out, _ = _query(index, capsys, "--meta", "file_type:txt", "--no-highlight", "--max-per-doc", "1")
    assert code == 0 and "1 results" in out and "tides.txt" in out
    code, out, _ = _query(index, capsys, "-k", "1", "--offset", "1")
    assert code == 0 and "1 results" in out


def test_a_malformed_filter_says_the_form(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _query(index, capsys, "--filter", "year:about:2020")
    assert code == 2 and "must be field:op:value" in err
    code, _, err = _query(index, capsys, "--meta", "nocolon")
    assert code == 2 and "must be key:value" in err
