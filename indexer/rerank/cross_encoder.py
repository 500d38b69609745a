"""A sentence-transformers `CrossEncoder` folder, run in process on torch.

A cross-encoder reads the question and a passage together, so it weighs each word of one against the other, which
the bi-encoder's two separate vectors cannot; it is too slow to read a whole collection, so it re-scores the first
candidates of the fused ranking (`indexer.retrieval.rerank`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from indexer.errors import ConfigError

BATCH_SIZE = 32


def check_folder(path: Path) -> None:
    """Raise ConfigError unless `path` holds a sequence-classification model (what a cross-encoder is)."""
    config = path / "config.json"
    if not config.is_file():
        raise ConfigError(f"reranker {path} is not a model folder (no config.json); give a CrossEncoder folder")
    try:
        architectures = json.loads(config.read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, ValueError) as exc:
        raise ConfigError(f"reranker {path}: config.json cannot be read ({exc})") from exc
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        raise ConfigError(
            f"reranker {path} is not a cross-encoder (architectures {architectures or 'not given'}; a cross-encoder "
            "is a *ForSequenceClassification model, e.g. saved with sentence-transformers' CrossEncoder.save)"
        )


class CrossEncoderReranker:
    """A CrossEncoder folder on the CPU; one forward pass at a time (torch uses the cores inside it)."""

    def __init__(self, path: Path) -> None:
        check_folder(path)
        try:
            from sentence_transformers import CrossEncoder
        except ImportError as exc:  # the Docker image and a plain install have no torch
            raise ConfigError(
                f"reranker {path}: a cross-encoder runs on torch here; install seekr[torch] ({exc})"
            ) from exc

        try:
            self._model: Any = CrossEncoder(str(path), device="cpu")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"reranker {path} cannot be loaded ({exc})") from exc
        self._path = path
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """The folder."""
        return str(self._path)

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        """The model's relevance score of each passage for `question`."""
        if not passages:
            return []
        with self._lock:
            scores = self._model.predict(
                [(question, p) for p in passages], batch_size=BATCH_SIZE, show_progress_bar=False
            )
        return [float(s) for s in scores]
