"""The reranker interface: a score for each (question, passage) pair, higher is more relevant."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from indexer.errors import IndexerError


class RerankRuntime(StrEnum):
    """What runs a cross-encoder folder (`SEEKR_RERANK_RUNTIME`)."""

    auto = "auto"  # ONNX: int8 where the export kept the scores within tolerance, else fp32
    onnx = "onnx"  # ONNX fp32
    onnx_int8 = "onnx-int8"  # ONNX int8 even where it moved the scores
    torch = "torch"  # sentence-transformers on torch (the `torch` extra)


class RerankerError(IndexerError):
    """A reranker could not score a request (the search goes on in the fused order, and says so)."""


class Reranker(Protocol):
    """Scores passages against a question. Safe to call from several threads at once."""

    @property
    def model_id(self) -> str:
        """What scores: the model's name or folder."""
        ...

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        """One score per passage, in order; only their order is meaningful."""
        ...
