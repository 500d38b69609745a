"""Admission control: a bounded number of requests of a kind in flight, a bounded queue, and 429 past it.

Without it, a burst queues without bound in the thread pool and every client waits longer and longer. With it,
at most `limit` searches (or writes) run at once, at most `queue` wait for a slot, and the next one is answered
429 with `Retry-After` at once, without touching the model or the index. Shed requests are counted in /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from prometheus_client import Counter, Gauge

from service.errors import OverloadedError
from service.metrics import Metrics
from service.settings import Settings


class Gate:
    """At most `limit` holders at once and `queue` waiters; beyond that `admit` raises OverloadedError."""

    def __init__(
        self,
        kind: str,
        limit: int,
        queue: int,
        retry_after: int,
        shed: Counter,
        in_flight: Gauge,
        queued: Gauge,
        collection: str,
    ) -> None:
        self.kind = kind
        self.collection = collection
        self.limit = limit
        self.queue = queue
        self._retry_after = retry_after
        self._slots = asyncio.Semaphore(limit)
        self._waiting = 0
        self._shed = shed.labels(kind=kind, collection=collection)
        self._in_flight = in_flight.labels(kind=kind, collection=collection)
        self._queued = queued.labels(kind=kind, collection=collection)

    @contextlib.asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold a slot for the body of the `async with`; OverloadedError when the queue is full."""
        if self._slots.locked() and self._waiting >= self.queue:
            self._shed.inc()
            raise OverloadedError(
                f"too many {self.kind} requests in collection {self.collection!r}: {self.limit} running and "
                f"{self.queue} waiting; "
                f"retry after {self._retry_after} s (see the Retry-After header)",
                retry_after=self._retry_after,
            )
        self._waiting += 1
        self._queued.inc()
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
            self._queued.dec()
        self._in_flight.inc()
        try:
            yield
        finally:
            self._in_flight.dec()
            self._slots.release()


class Admission:
    """One gate for searches and one for document writes (of one collection: a busy one sheds its own load)."""

    def __init__(self, search: Gate, write: Gate) -> None:
        self.search = search
        self.write = write


def admission_for(settings: Settings, metrics: Metrics) -> Callable[[str], Admission]:
    """What makes a collection's gates: the limits of `settings`, counted in `metrics` by collection."""
    gauges = (metrics.shed, metrics.in_flight, metrics.queued)
    retry = settings.retry_after_seconds

    def make(collection: str) -> Admission:
        search = Gate(
            "search", settings.max_concurrent_searches, settings.max_queued_searches, retry, *gauges, collection
        )
        write = Gate("write", settings.max_concurrent_writes, settings.max_queued_writes, retry, *gauges, collection)
        return Admission(search, write)

    return make
