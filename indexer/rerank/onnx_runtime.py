"""A cross-encoder exported by `indexer.rerank.onnx_export`, run with onnxruntime and the `tokenizers` fast
tokenizer: the scores sentence-transformers gives (fp32), or close to them (int8, kept only within tolerance),
without torch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from indexer.errors import ConfigError
from indexer.model_cache import FP32_FILE, INT8_FILE
from indexer.onnx_session import LOAD_ERRORS, cpu_session
from indexer.rerank.onnx_export import activate, pair_feeds, pair_tokenizer, read_meta

BATCH_SIZE = 16


class OnnxCrossEncoder:
    """Scores (question, passage) pairs with an export. Thread-safe without locks: nothing mutable is shared."""

    def __init__(self, entry: Path, *, folder: Path, int8: bool | None = None, threads: int = 1) -> None:
        """`int8`: None uses int8 where the export kept it (its scores within tolerance), else fp32."""
        self._meta = read_meta(entry)
        self._folder = folder
        self.int8 = self._meta.int8 if int8 is None else int8
        self._tokenizer = pair_tokenizer(entry, self._meta.max_length)
        path = entry / (INT8_FILE if self.int8 else FP32_FILE)
        try:
            self._session = cpu_session(path, threads)
        except LOAD_ERRORS as exc:
            raise ConfigError(f"cannot load {path} ({exc}); delete {entry} to export again") from exc

    @property
    def model_id(self) -> str:
        """The folder, and the precision scoring."""
        return f"{self._folder} (onnx{'-int8' if self.int8 else ''})"

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        """The model's relevance score of each passage for `question`."""
        out: list[float] = []
        for start in range(0, len(passages), BATCH_SIZE):
            feeds = pair_feeds(self._tokenizer, question, passages[start : start + BATCH_SIZE], self._meta.input_names)
            logits = self._session.run(["logits"], feeds)[0][:, 0]
            out.extend(float(s) for s in activate(logits, self._meta.activation))
        return out
