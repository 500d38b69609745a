"""Concurrent search queries (single-text `encode_queries` calls) run as one forward pass.

A forward pass over 8 short queries costs little more than over one, so under concurrent load the queries that
wait for the model are encoded together instead of queueing one by one. A lone query is never delayed: the
collection window is used only while queries are arriving together (the previous pass held more than one).

On a runtime whose vectors depend on the batch (`BATCH_VARIANT_RUNTIMES`: int8 ONNX) each query runs alone in
its caller's thread, so a question gets the same vector, bit for bit, however many others arrive with it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from indexer.embed.base import BATCH_SIZE, BATCH_VARIANT_RUNTIMES, Embedder, Vectors, WrappedEmbedder


@dataclass
class _Request:
    text: str
    result: Future[Vectors] = field(default_factory=Future)


class BatchingEmbedder(WrappedEmbedder):
    """An `Embedder` that batches concurrent one-text `encode_queries` calls; other calls go straight through."""

    def __init__(
        self,
        inner: Embedder,
        *,
        max_batch: int = 32,
        window_seconds: float = 0.001,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(inner)
        self._max_batch = max_batch
        self._window = window_seconds
        self._on_batch = on_batch  # told each forward pass's size (the service feeds a metric with it)
        self.batching = inner.runtime not in BATCH_VARIANT_RUNTIMES
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._last_batch = 1
        self._closed = False
        self._close_lock = threading.Lock()
        self.batches = 0  # forward passes run, for metrics and tests
        self.batched_texts = 0
        self._thread = threading.Thread(target=self._run, name="query-batcher", daemon=True)
        if self.batching:  # on a batch-variant runtime nothing is ever queued: no thread waits for it
            self._thread.start()

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> Vectors:
        if len(texts) != 1:
            return self._inner.encode_queries(texts, batch_size=batch_size)
        if not self.batching:
            vectors = self._inner.encode_queries(texts, batch_size=1)
            if self._on_batch is not None:
                self._on_batch(1)
            return vectors
        request = _Request(texts[0])
        with self._close_lock:
            if self._closed:
                return self._inner.encode_queries(texts, batch_size=batch_size)
            self._queue.put(request)  # before the stop marker, so it is answered
        return request.result.result()

    def close(self) -> None:
        """Stop the batching thread after the queries already queued (later calls encode directly)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        if self.batching:
            self._thread.join()

    def _collect(self, first: _Request) -> list[_Request]:
        batch = [first]
        deadline = time.monotonic() + (self._window if self._last_batch > 1 else 0.0)
        while len(batch) < self._max_batch:
            try:
                timeout = deadline - time.monotonic()
                item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(item)
        return batch

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = self._collect(first)
            self._last_batch = len(batch)
            try:
                vectors = self._inner.encode_queries([r.text for r in batch], batch_size=len(batch))
            except Exception as exc:  # noqa: BLE001 - not swallowed: every waiting caller re-raises it
                for request in batch:
                    request.result.set_exception(exc)
                continue
            self.batches += 1
            self.batched_texts += len(batch)
            if self._on_batch is not None:
                self._on_batch(len(batch))
            for row, request in zip(np.asarray(vectors), batch, strict=True):
                request.result.set_result(row[None, :])
