"""The choice of reranker: what a setting names, loaded."""

from __future__ import annotations

from pathlib import Path

from indexer.rerank.base import Reranker
from indexer.rerank.server import RerankApi, ServerReranker


def load_reranker(path: Path) -> Reranker:
    """The cross-encoder in folder `path` (ConfigError if it is not one)."""
    from indexer.rerank.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(path)


def server_reranker(api: RerankApi, url: str, model: str | None = None, key: str | None = None) -> Reranker:
    """A reranking server speaking `api` at `url` (the part before `/rerank`)."""
    return ServerReranker(api, url, model, key)
