"""The torch runtime: an embedder backed by a sentence-transformers model, loaded strictly offline."""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from indexer.embed.base import (
    BATCH_SIZE,
    DEFAULT_MODEL,
    NO_PROMPTS,
    Prompts,
    Spans,
    TokenStates,
    Vectors,
    canonical_model_id,
    encode_in_batches,
    encode_spans_in_batches,
    resolve_model_location,
)
from indexer.errors import ModelLoadError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


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
    def endpoint(self) -> str | None:
        return None

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

    @property
    def prompts(self) -> Prompts:
        return NO_PROMPTS  # prompts are put in front by `PromptedEmbedder`

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> Vectors:
        return self.encode(texts, batch_size=batch_size)

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        # The model (and its tokenizer) runs one batch at a time; a long write is cut into batches, so a
        # search's query waits for at most one batch, not for the whole write.
        return encode_in_batches(texts, self._dimension, batch_size, progress, self._forward)

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, batch_size: int = BATCH_SIZE, progress: bool = False
    ) -> tuple[Vectors, list[Vectors]]:
        return encode_spans_in_batches(texts, spans, self._dimension, batch_size, progress, self._token_states)

    def _token_states(self, batch: list[str]) -> TokenStates:
        with self._model_lock:
            outputs = cast(
                "list[dict[str, Any]]",
                self._model.encode(
                    batch, batch_size=len(batch), output_value=None, normalize_embeddings=True, show_progress_bar=False
                ),
            )
            offsets = self._model.tokenizer(
                batch, return_offsets_mapping=True, truncation=True, max_length=self._model.max_seq_length
            )["offset_mapping"]
        pooled = np.stack([o["sentence_embedding"].float().cpu().numpy() for o in outputs]).astype(np.float32)
        states = [
            o["token_embeddings"].float().cpu().numpy()[: len(off)] for o, off in zip(outputs, offsets, strict=True)
        ]
        return pooled, list(zip(states, offsets, strict=True))

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
