"""Shared fixtures: the fake embedder, small corpora, built indexes, and the real model (slow tier)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.builder import build_index
from indexer.embedding import Embedder
from indexer.index import IndexSnapshot, open_index
from tests.fakes import FakeEmbedder

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "docs"
    shutil.copytree(SEEDS, dst)
    return dst


@pytest.fixture
def fake_seed_index(tmp_path: Path, seeds_copy: Path, fake_embedder: FakeEmbedder) -> Path:
    index_dir = tmp_path / "index"
    build_index(seeds_copy, index_dir, fake_embedder)
    return index_dir


@pytest.fixture
def fake_snapshot(fake_seed_index: Path) -> IndexSnapshot:
    return open_index(fake_seed_index)


@pytest.fixture(scope="session")
def real_embedder() -> Iterator[Embedder]:
    from indexer.embedding import SentenceTransformerEmbedder

    yield SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def real_seed_index(tmp_path_factory: pytest.TempPathFactory, real_embedder: Embedder) -> Path:
    index_dir = tmp_path_factory.mktemp("real") / "index"
    build_index(SEEDS, index_dir, real_embedder)
    return index_dir
