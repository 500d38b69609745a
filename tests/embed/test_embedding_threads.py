"""The torch embedder under threads: chunking never changes the tokenizer state a search's encode relies on."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.embed.base import Embedder
from indexer.embed.torch_runtime import SentenceTransformerEmbedder

pytestmark = pytest.mark.slow


def test_token_spans_leave_the_models_tokenizer_alone(torch_embedder: Embedder) -> None:
    # Fast tokenizers keep padding and truncation as state that every call resets; a chunking call from a
    # write's thread used to switch both off under a search's encode, which then failed (seen in a soak run).
    assert isinstance(torch_embedder, SentenceTransformerEmbedder)
    backend = torch_embedder._model.tokenizer.backend_tokenizer
    torch_embedder.encode(["short", "a somewhat longer text that needs padding"])
    before = (backend.truncation, backend.padding)
    assert before[0] is not None and before[1] is not None
    torch_embedder.token_spans("a long text without truncation " * 50)
    assert (backend.truncation, backend.padding) == before


def test_batched_encode_keeps_the_input_order(torch_embedder: Embedder) -> None:
    assert isinstance(torch_embedder, SentenceTransformerEmbedder)
    texts = [("word " * n).strip() + f" {n}" for n in (3, 90, 1, 40, 7, 200, 15)]
    ours = torch_embedder.encode(texts, batch_size=2)
    plain = torch_embedder._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(ours, plain, atol=1e-5)
