"""Concurrent one-text query encodes share forward passes, keep their own results, and see the inner errors."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from indexer.embed.base import BATCH_SIZE, DEFAULT_MODEL, RUNTIME_INT8, Vectors
from indexer.embed.batching import BatchingEmbedder
from indexer.embed.runtime import load_embedder
from tests.conftest import wait_until
from tests.fakes import FakeEmbedder


class _HeldEmbedder(FakeEmbedder):
    """Records each forward pass; the first one waits until the test releases it."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.started = threading.Event()
        self.calls: list[list[str]] = []
        self.fail = False

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        self.calls.append(list(texts))
        self.started.set()
        self.release.wait()
        if self.fail:
            raise RuntimeError("model broke")
        return super().encode(texts, batch_size=batch_size, progress=progress)


def test_queries_waiting_for_the_model_share_one_forward_pass() -> None:
    inner = _HeldEmbedder()
    batcher = BatchingEmbedder(inner, max_batch=32)
    texts = [f"question number {i} about rivers" for i in range(9)]
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(batcher.encode_queries, [texts[0]])
        inner.started.wait()
        rest = [pool.submit(batcher.encode_queries, [t]) for t in texts[1:]]
        wait_until(lambda: batcher._queue.qsize() == 8, "eight queries queued behind the first")
        inner.release.set()
        results = [first.result(), *(f.result() for f in rest)]
    assert [len(c) for c in inner.calls] == [1, 8]
    expected = FakeEmbedder().encode(texts)
    for got, want in zip(results, expected, strict=True):
        assert got.shape == (1, 64)
        np.testing.assert_array_equal(got[0], want)
    batcher.close()


def test_batches_are_bounded() -> None:
    inner = _HeldEmbedder()
    batcher = BatchingEmbedder(inner, max_batch=3)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher.encode_queries, ["q0"])
        inner.started.wait()
        rest = [pool.submit(batcher.encode_queries, [f"q{i}"]) for i in range(1, 8)]
        wait_until(lambda: batcher._queue.qsize() == 7, "seven queries queued")
        inner.release.set()
        for f in [first, *rest]:
            f.result()
    assert sorted(len(c) for c in inner.calls) == [1, 1, 3, 3]
    batcher.close()


def test_an_inner_error_reaches_every_caller_and_the_batcher_survives() -> None:
    inner = _HeldEmbedder()
    inner.fail = True
    batcher = BatchingEmbedder(inner)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(batcher.encode_queries, [f"q{i}"]) for i in range(4)]
        inner.release.set()
        for f in futures:
            with pytest.raises(RuntimeError, match="model broke"):
                f.result()
    inner.fail = False
    np.testing.assert_array_equal(batcher.encode_queries(["again"]), FakeEmbedder().encode(["again"]))
    batcher.close()


def test_bulk_encodes_passages_and_encodes_after_close_go_straight_through() -> None:
    inner = _HeldEmbedder()
    inner.release.set()
    batcher = BatchingEmbedder(inner)
    texts = ["one", "two", "three"]
    np.testing.assert_array_equal(batcher.encode_queries(texts), FakeEmbedder().encode(texts))
    np.testing.assert_array_equal(batcher.encode(["a passage"]), FakeEmbedder().encode(["a passage"]))
    batcher.close()
    np.testing.assert_array_equal(batcher.encode_queries(["four"]), FakeEmbedder().encode(["four"]))
    assert batcher.batches == 0 and inner.calls == [texts, ["a passage"], ["four"]]
    assert (batcher.model_id, batcher.runtime, batcher.dimension) == ("fake-hash", "fake", 64)


class _BatchDependent(_HeldEmbedder):
    """As int8 ONNX is: a text's vector depends on the batch it is encoded in."""

    @property
    def runtime(self) -> str:
        return RUNTIME_INT8

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        vectors = super().encode(texts, batch_size=batch_size, progress=progress)
        return (vectors + np.float32(0.001 * len(texts))).astype(np.float32)


def test_on_a_batch_variant_runtime_a_question_gets_its_own_vector_however_many_arrive() -> None:
    inner = _BatchDependent()
    batcher = BatchingEmbedder(inner, max_batch=32)
    assert not batcher.batching
    texts = [f"question number {i} about rivers" for i in range(9)]
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(batcher.encode_queries, [texts[0]])
        inner.started.wait()
        rest = [pool.submit(batcher.encode_queries, [t]) for t in texts[1:]]
        # Every other question is waiting: in its own forward pass, or queued for a shared one.
        wait_until(lambda: len(inner.calls) + batcher._queue.qsize() == 9, "nine questions under way")
        inner.release.set()
        results = [first.result(), *(f.result() for f in rest)]
    assert [len(c) for c in inner.calls] == [1] * 9
    for got, text in zip(results, texts, strict=True):
        np.testing.assert_array_equal(got, inner.encode_queries([text]))  # bit for bit, as alone
    batcher.close()


@pytest.mark.slow
def test_the_bundled_int8_model_gives_a_question_the_same_vector_alone_and_among_others(model_cache: Path) -> None:
    inner = load_embedder(DEFAULT_MODEL, "onnx-int8")
    assert inner.runtime == RUNTIME_INT8
    texts = ["where is the harbour", "who kept the lighthouse until 1962", "ferry timetable in winter storms", "x"]
    batched = inner.encode_queries(texts)
    alone = [inner.encode_queries([t]) for t in texts]
    assert not all(np.array_equal(a[0], b) for a, b in zip(alone, batched, strict=True))  # why it matters
    batcher = BatchingEmbedder(inner, max_batch=32, window_seconds=0.05)
    barrier = threading.Barrier(len(texts) * 4)

    def ask(text: str) -> Vectors:
        barrier.wait()
        return batcher.encode_queries([text])

    with ThreadPoolExecutor(len(texts) * 4) as pool:
        asked = list(pool.map(ask, texts * 4))
    for got, want in zip(asked, alone * 4, strict=True):
        np.testing.assert_array_equal(got, want)
    batcher.close()
