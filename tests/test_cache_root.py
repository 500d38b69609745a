"""Every cache seekr keeps lies under one root, `$XDG_CACHE_HOME/seekr` (`~/.cache/seekr`), computed in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.embed.settings import default_vector_cache
from indexer.ingest.ocr.base import default_cache_dir as ocr_cache
from indexer.model_cache import cache_root
from indexer.model_cache import default_cache_dir as model_cache
from service.settings import Settings


def test_every_cache_is_under_one_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SEEKR_MODEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    root = tmp_path / "seekr"
    assert cache_root() == root
    assert (model_cache(), ocr_cache(), default_vector_cache()) == (root / "models", root / "ocr", root / "embeddings")
    assert Settings().page_cache == root / "pages"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "seekr"
    monkeypatch.setenv("SEEKR_MODEL_CACHE", str(tmp_path / "models-here"))
    assert model_cache() == tmp_path / "models-here"
