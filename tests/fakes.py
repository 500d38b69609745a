"""A deterministic embedder implementing the real `Embedder` interface, for the fast test tier.

Vectors are feature-hashed bags of lower-cased word stems (sha256, not Python's salted hash), so equal
texts embed equally in every process and texts sharing words are close: enough for retrieval to behave.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence

import numpy as np

from indexer.embed.base import BATCH_SIZE, NO_PROMPTS, Prompts, Spans, Vectors
from indexer.retrieval.defaults import SearchDefaults

_TOKEN = re.compile(r"\w+|[^\w\s]")


class FakeEmbedder:
    """Deterministic hashing embedder; `delay` seconds per encode call simulates a slow model."""

    def __init__(
        self, dimension: int = 64, max_tokens: int = 254, delay: float = 0.0, model_id: str = "fake-hash"
    ) -> None:
        self._dimension = dimension
        self._max_tokens = max_tokens
        self._delay = delay
        self._model_id = model_id
        self.encoded: int = 0  # texts embedded so far, for tests that count re-embedding

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def runtime(self) -> str:
        return "fake"

    @property
    def endpoint(self) -> str | None:
        return None

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _TOKEN.finditer(text)]

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self._dimension, dtype=np.float32)
        spans = self.token_spans(text)
        if len(spans) > self._max_tokens:  # as a real model does: it reads its window and drops the rest
            text = text[: spans[self._max_tokens - 1][1]]
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.sha256(word[:5].encode()).digest()
            index = int.from_bytes(digest[:4], "little") % self._dimension
            vec[index] += 1.0 if digest[4] & 1 else -1.0
        if not vec.any():
            vec[0] = 1.0
        return vec / np.linalg.norm(vec)

    @property
    def prompts(self) -> Prompts:
        return NO_PROMPTS

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> Vectors:
        return self.encode(texts, batch_size=batch_size)

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        if self._delay:
            for _ in range(0, len(texts), batch_size):
                time.sleep(self._delay)
        self.encoded += len(texts)
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return np.vstack([self._vector(t) for t in texts]).astype(np.float32)

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, batch_size: int = BATCH_SIZE, progress: bool = False
    ) -> tuple[Vectors, list[Vectors]]:
        """`encode(texts)`, and each span's vector as the span's text alone would have (not pooled from token
        states as a model's are, but a vector of what the span says, which is what a highlight asks of it)."""
        pieces = [
            np.array([self._vector(t[s:e]) for s, e in sp], dtype=np.float32).reshape(len(sp), self._dimension)
            for t, sp in zip(texts, spans, strict=True)
        ]
        return self.encode(texts, batch_size=batch_size, progress=progress), pieces


# Searches ranked by the retrievers and fusion alone, without hierarchical document scores: what the brute-force
# references of a retriever compute (document scores have their own brute-force test, tests/retrieval/test_pages).
PASSAGES_ALONE = SearchDefaults(document_weight=0.0)
