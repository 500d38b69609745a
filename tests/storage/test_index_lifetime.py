"""A dropped snapshot releases its files at once, not whenever the cyclic garbage collector next runs.

A server swaps snapshots on every write; before this, each pruned version's SQLite store stayed open (a file
descriptor and its page cache) until a GC pass, and a soak saw dozens of deleted stores held open.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.retrieval.searcher import Searcher
from indexer.storage.local.versions import open_index
from tests.fakes import FakeEmbedder

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to list open files")


def _open_stores(index_dir: Path) -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in os.listdir(fds) if str(index_dir) in os.path.realpath(fds / fd))


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("no_gc")
def test_dropped_snapshot_and_searcher_close_their_store(fake_seed_index: Path) -> None:
    assert _open_stores(fake_seed_index) == 0
    snapshot = open_index(fake_seed_index)
    searcher = Searcher(snapshot, FakeEmbedder())
    searcher.search("Putin summit", k=3)
    assert _open_stores(fake_seed_index) == 1
    del snapshot, searcher
    assert _open_stores(fake_seed_index) == 0
