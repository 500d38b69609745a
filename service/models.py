"""The embedding models the service's collections use: each loaded once, however many collections use it.

A collection records its model in its manifest. Collections made with the same model share one loaded
embedder (for writes, already batched) and one query batcher, so concurrent queries to different collections
of that model share forward passes too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from indexer.embed.base import Embedder, canonical_model_id
from indexer.embed.batching import BatchingEmbedder
from indexer.embed.cache import CachedEmbedder, VectorCache
from indexer.embed.runtime import load_server_embedder
from indexer.manifest import RerankerInfo
from indexer.rerank.base import Reranker
from indexer.rerank.factory import load_reranker_of
from service.settings import Settings

EmbedderFactory = Callable[[Settings], Embedder]


class Models:
    """Loaded embedders by model id (on the service's runtime), loaded on first use and kept until `close`."""

    def __init__(
        self, settings: Settings, factory: EmbedderFactory, on_batch: Callable[[int], None] | None = None
    ) -> None:
        self._settings = settings
        self._factory = factory
        self._on_batch = on_batch
        self._loaded: dict[str, tuple[Embedder, BatchingEmbedder]] = {}
        self._guard = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._rerankers: dict[RerankerInfo, Reranker] = {}
        self._cache: VectorCache | None = None

    def get(
        self, model: str, endpoint: str | None = None, dimension: int | None = None
    ) -> tuple[Embedder, BatchingEmbedder]:
        """(the embedder for writes, the query batcher) for `model`, loading it the first time (blocking: call it
        in a thread). Two callers asking for a model not loaded yet load it once. A server model is reached at
        `endpoint` (the caller's choice: its index's, or SEEKR_EMBED_URL), else at SEEKR_EMBED_URL; `dimension` is
        the one its index holds."""
        key = canonical_model_id(model)
        server = self._settings.server_options(model, endpoint)
        if server is not None:
            key = f"{key} at {server.url}"
        with self._guard:
            if key in self._loaded:
                return self._loaded[key]
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._loaded:
                    return self._loaded[key]
            settings = self._settings
            if server is not None:
                remote = load_server_embedder(server, dimension=dimension)
                # Passages go through the vector cache (a folder build that stopped goes on); queries never do.
                embedder: Embedder = CachedEmbedder(remote, self._vector_cache())
                queries: Embedder = remote
            else:
                embedder = queries = self._factory(settings.model_copy(update={"model": model}))
            batching = BatchingEmbedder(
                queries,
                max_batch=settings.query_batch_size,
                window_seconds=settings.query_batch_window_ms / 1000,
                on_batch=self._on_batch,
            )
            with self._guard:
                self._loaded[key] = (embedder, batching)
            return embedder, batching

    def _vector_cache(self) -> VectorCache:
        with self._guard:
            if self._cache is None:
                self._cache = VectorCache(self._settings.embed_cache)
            return self._cache

    def reranker(self, info: RerankerInfo | None = None) -> Reranker | None:
        """The reranker a collection records (`info`), else the one SEEKR_RERANKER (a folder) or SEEKR_RERANK_API
        (a server) names, made the first time (None: none); ConfigError if a folder is not a cross-encoder or
        cannot be exported (blocking: call it in a thread)."""
        settings = self._settings
        if info is None:
            if settings.rerank_api is not None and settings.rerank_url:
                info = RerankerInfo(kind=settings.rerank_api.value, location=settings.rerank_url,
                                    model=settings.rerank_model)  # fmt: skip
            elif settings.reranker is not None:
                info = RerankerInfo(kind="cross-encoder", location=str(settings.reranker))
            else:
                return None
        with self._guard:
            lock = self._loading.setdefault(f"reranker {info.describe()}", threading.Lock())
        with lock:
            with self._guard:
                if info in self._rerankers:
                    return self._rerankers[info]
            reranker = load_reranker_of(
                info,
                runtime=settings.rerank_runtime,
                cache_dir=settings.model_cache,
                threads=settings.inference_threads,
                key=settings.rerank_key_value,
            )
            with self._guard:
                self._rerankers[info] = reranker
            return reranker

    def loaded(self) -> list[str]:
        """The ids of the models loaded so far."""
        with self._guard:
            return sorted(self._loaded)

    def close(self) -> None:
        """Stop every query batcher (searches still running finish)."""
        with self._guard:
            loaded, self._loaded = list(self._loaded.values()), {}
            cache, self._cache = self._cache, None
        for _, batching in loaded:
            batching.close()
        if cache is not None:
            cache.close()
