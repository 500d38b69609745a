"""Prometheus metrics: HTTP counts and latencies per route and status (prometheus-fastapi-instrumentator),
search latency per mode, index size and build info. One registry per app, so apps in tests do not collide.
With several workers each process keeps its own figures.
"""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_fastapi_instrumentator import Instrumentator

from indexer import __version__
from indexer.collections import DEFAULT_COLLECTION
from indexer.retrieval.results import Mode
from indexer.storage.base import Snapshot

LABELS = ["kind", "collection"]
SEARCH_BUCKETS = (0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The service's own metrics beside the instrumentator's HTTP ones."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.search_seconds = Histogram(
            "seekr_search_seconds", "Search time inside the service, by collection and mode", ["collection", "mode"],
            buckets=SEARCH_BUCKETS, registry=registry,
        )  # fmt: skip
        self.documents = Gauge(
            "seekr_index_documents", "Documents in the served index, by collection", ["collection"], registry=registry
        )
        self.chunks = Gauge(
            "seekr_index_chunks", "Chunks in the served index, by collection", ["collection"], registry=registry
        )
        self.version = Gauge(
            "seekr_index_version", "Version number of the served index, by collection", ["collection"],
            registry=registry,
        )  # fmt: skip
        self.open_collections = Gauge("seekr_open_collections", "Collections open in this process", registry=registry)
        self.build = Info("seekr_build", "Package version and embedding model", registry=registry)
        self.shed = Counter(
            "seekr_shed_requests",
            "Requests answered 429 by admission control, by kind and collection",
            LABELS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "seekr_in_flight", "Requests holding an admission slot, by kind and collection", LABELS, registry=registry
        )
        self.queued = Gauge(
            "seekr_queued", "Requests waiting for an admission slot, by kind and collection", LABELS, registry=registry
        )
        self.query_batch = Histogram(
            "seekr_query_batch_size", "Queries encoded together in one forward pass", buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=registry,
        )  # fmt: skip
        self.mcp_calls = Counter(
            "seekr_mcp_tool_calls", "MCP tool calls, by tool and outcome (ok or error)", ["tool", "outcome"],
            registry=registry,
        )  # fmt: skip
        self.build.info({"version": __version__, "model": "", "runtime": ""})

    @classmethod
    def create(cls) -> Metrics:
        """The metrics in a registry of their own (one per app, so apps in tests do not collide)."""
        return cls(CollectorRegistry())

    def observe_index(self, collection: str, snapshot: Snapshot) -> None:
        """Record the size and identity of the index now being served in `collection`."""
        m = snapshot.manifest
        self.documents.labels(collection=collection).set(m.counts.documents)
        self.chunks.labels(collection=collection).set(m.counts.chunks)
        self.version.labels(collection=collection).set(m.version)
        if collection == DEFAULT_COLLECTION:
            self.build.info({"version": __version__, "model": m.model.id, "runtime": m.model.runtime})

    def forget(self, collection: str) -> None:
        """Remove a dropped collection's series."""
        for gauge in (self.documents, self.chunks, self.version):
            with contextlib.suppress(KeyError):
                gauge.remove(collection)
        for series in (self.shed, self.in_flight, self.queued):
            for kind in ("search", "write"):
                with contextlib.suppress(KeyError):
                    series.remove(kind, collection)
        for mode in Mode:
            with contextlib.suppress(KeyError):
                self.search_seconds.remove(collection, mode.value)


def install_metrics(app: FastAPI, metrics: Metrics) -> None:
    """Instrument every route into `metrics`' registry; GET /metrics (in `service.routes.health`) serves it."""
    Instrumentator(registry=metrics.registry, excluded_handlers=["/metrics"]).instrument(app)
