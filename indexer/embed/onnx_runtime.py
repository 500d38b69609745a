"""The ONNX embedder: onnxruntime + the `tokenizers` fast tokenizer + pooling in numpy. Never imports torch.

It runs a model exported by `indexer.embed.onnx_export` and gives the vectors sentence-transformers would (fp32), or
close to them (int8: cosine about 0.99 to fp32), at a fraction of the cost and memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError
from tokenizers import Encoding, Tokenizer

from indexer.embed.base import (
    BATCH_SIZE,
    NO_PROMPTS,
    RUNTIME_INT8,
    Prompts,
    Spans,
    TokenStates,
    Vectors,
    encode_in_batches,
    encode_spans_in_batches,
)
from indexer.embed.onnx_export import META_FILE, ExportMeta
from indexer.errors import ModelLoadError
from indexer.model_cache import FP32_FILE, INT8_FILE, TOKENIZER_FILE
from indexer.onnx_session import LOAD_ERRORS, cpu_session

RUNTIME_FP32 = "onnx"


class OnnxEmbedder:
    """Embedder over an exported model folder. Thread-safe without locks: nothing mutable is shared."""

    def __init__(self, entry: Path, *, model_id: str, int8: bool, threads: int) -> None:
        try:
            self._meta = ExportMeta.model_validate_json((entry / META_FILE).read_bytes())
            tokenizer_json = (entry / TOKENIZER_FILE).read_text(encoding="utf-8")
        except (OSError, ValidationError) as exc:
            raise ModelLoadError(f"cannot read the ONNX export in {entry} ({exc}); delete it to re-export") from exc
        spans, batch = Tokenizer.from_str(tokenizer_json), Tokenizer.from_str(tokenizer_json)
        self._model_id = model_id
        self._runtime = RUNTIME_INT8 if int8 else RUNTIME_FP32
        # tokenizer.json carries the training-time truncation and fixed padding (128 for MiniLM): replace both
        # with what sentence-transformers does, or vectors differ. Each Tokenizer is configured once here and
        # never changed after, so threads can share them.
        spans.no_truncation()
        spans.no_padding()
        batch.enable_truncation(max_length=self._meta.max_seq_length)
        shipped = batch.padding or {"pad_id": 0, "pad_token": "[PAD]"}
        batch.enable_padding(pad_id=shipped["pad_id"], pad_token=shipped["pad_token"])  # to the batch's longest
        self._spans, self._batch = spans, batch
        post = batch.post_processor
        special = post.num_special_tokens_to_add(False) if post is not None else 0
        self._max_tokens = self._meta.max_seq_length - special

        path = entry / (INT8_FILE if int8 else FP32_FILE)
        try:
            self._session = cpu_session(path, threads, text_batches=True)
        except LOAD_ERRORS as exc:
            raise ModelLoadError(f"cannot load {path} ({exc}); delete {entry} to re-export it") from exc

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def runtime(self) -> str:
        return self._runtime

    @property
    def endpoint(self) -> str | None:
        return None

    @property
    def dimension(self) -> int:
        return self._meta.dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [(int(s), int(e)) for s, e in self._spans.encode(text, add_special_tokens=False).offsets]

    @property
    def prompts(self) -> Prompts:
        return NO_PROMPTS  # prompts are put in front by `PromptedEmbedder`

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> Vectors:
        return self.encode(texts, batch_size=batch_size)

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        return encode_in_batches(texts, self.dimension, batch_size, progress, self._forward)

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, batch_size: int = BATCH_SIZE, progress: bool = False
    ) -> tuple[Vectors, list[Vectors]]:
        return encode_spans_in_batches(texts, spans, self.dimension, batch_size, progress, self._token_states)

    def _token_states(self, texts: list[str]) -> TokenStates:
        encodings, mask, hidden = self._states(texts)
        return self._pool(mask, hidden), [(hidden[j], e.offsets) for j, e in enumerate(encodings)]

    def _forward(self, texts: list[str]) -> Vectors:
        _, mask, hidden = self._states(texts)
        return self._pool(mask, hidden)

    def _states(self, texts: list[str]) -> tuple[list[Encoding], npt.NDArray[np.int64], Vectors]:
        """The encodings of `texts`, their attention mask and the model's last hidden states."""
        encodings = self._batch.encode_batch(texts)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64), "attention_mask": mask}
        if "token_type_ids" in self._meta.input_names:
            feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        hidden: Vectors = self._session.run(["last_hidden_state"], feeds)[0]
        return encodings, mask, hidden

    def _pool(self, mask: npt.NDArray[np.int64], hidden: Vectors) -> Vectors:
        """The model's pooling of its hidden states: as sentence-transformers pools them."""
        if self._meta.pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled = pooled.astype(np.float32, copy=False)
        if self._meta.normalize:
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled
