"""The choice of reranker: what a setting names, loaded."""

from __future__ import annotations

from pathlib import Path

from indexer.rerank.base import Reranker


def load_reranker(path: Path) -> Reranker:
    """The cross-encoder in folder `path` (ConfigError if it is not one)."""
    from indexer.rerank.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(path)
