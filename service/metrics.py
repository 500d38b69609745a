"""Prometheus metrics: HTTP counts and latencies per route and status (prometheus-fastapi-instrumentator),
search latency per mode, index size and build info. One registry per app, so apps in tests do not collide.
With several workers each process keeps its own figures.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_fastapi_instrumentator import Instrumentator

from indexer import __version__
from indexer.storage.base import Snapshot

SEARCH_BUCKETS = (0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The service's own metrics beside the instrumentator's HTTP ones."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.search_seconds = Histogram(
            "seekr_search_seconds", "Search time inside the service, by mode", ["mode"],
            buckets=SEARCH_BUCKETS, registry=registry,
        )  # fmt: skip
        self.documents = Gauge("seekr_index_documents", "Documents in the served index", registry=registry)
        self.chunks = Gauge("seekr_index_chunks", "Chunks in the served index", registry=registry)
        self.version = Gauge("seekr_index_version", "Version number of the served index", registry=registry)
        self.build = Info("seekr_build", "Package version and embedding model", registry=registry)
        self.shed = Counter(
            "seekr_shed_requests", "Requests answered 429 by admission control, by kind", ["kind"], registry=registry
        )
        self.in_flight = Gauge(
            "seekr_in_flight", "Requests holding an admission slot, by kind", ["kind"], registry=registry
        )
        self.queued = Gauge(
            "seekr_queued", "Requests waiting for an admission slot, by kind", ["kind"], registry=registry
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

    def observe_index(self, snapshot: Snapshot) -> None:
        """Record the size and identity of the index now being served."""
        m = snapshot.manifest
        self.documents.set(m.counts.documents)
        self.chunks.set(m.counts.chunks)
        self.version.set(m.version)
        self.build.info({"version": __version__, "model": m.model.id, "runtime": m.model.runtime})


def install_metrics(app: FastAPI) -> Metrics:
    """Instrument every route; GET /metrics (in `service.routes.health`) serves the registry."""
    registry = CollectorRegistry()
    Instrumentator(registry=registry, excluded_handlers=["/metrics"]).instrument(app)
    return Metrics(registry)
