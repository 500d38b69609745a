"""Chunking: token budget respected, offsets exact, sentences intact, overlap as configured."""

from __future__ import annotations

import itertools

import pytest

from indexer.errors import ConfigError
from indexer.ingest.chunking import ChunkingConfig, chunk_text, sentence_spans
from tests.fakes import FakeEmbedder

TEXT = "\n\n".join(
    " ".join(f"Sentence {p}.{s} tells a short story about item {p * 10 + s} in the list." for s in range(6))
    for p in range(5)
)


@pytest.mark.parametrize(("size", "overlap"), [(16, 0), (40, 8), (64, 16), (128, 32)])
def test_chunks_fit_budget_and_offsets_are_exact(size: int, overlap: int) -> None:
    emb = FakeEmbedder()
    chunks = chunk_text(TEXT, emb.token_spans, ChunkingConfig(size, overlap))
    assert chunks
    for c in chunks:
        assert TEXT[c.start : c.end] == c.text
        assert c.n_tokens == len(emb.token_spans(c.text)) <= size
    # Every sentence is covered by some chunk.
    covered: set[int] = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    for s, e in sentence_spans(TEXT):
        assert s in covered and e - 1 in covered


def test_sentences_are_not_cut_when_they_fit() -> None:
    emb = FakeEmbedder()
    spans = sentence_spans(TEXT)
    starts, ends = {s for s, _ in spans}, {e for _, e in spans}
    for c in chunk_text(TEXT, emb.token_spans, ChunkingConfig(40, 8)):
        assert c.start in starts and c.end in ends


def test_overlap_repeats_trailing_sentences() -> None:
    emb = FakeEmbedder()
    chunks = chunk_text(TEXT, emb.token_spans, ChunkingConfig(40, 16))
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end, "consecutive chunks should overlap"
    no_overlap = chunk_text(TEXT, emb.token_spans, ChunkingConfig(40, 0))
    for a, b in itertools.pairwise(no_overlap):
        assert b.start >= a.end


def test_overlong_sentence_is_split_at_token_boundaries() -> None:
    emb = FakeEmbedder()
    text = " ".join(f"word{i}" for i in range(100)) + "."
    chunks = chunk_text(text, emb.token_spans, ChunkingConfig(16, 0))
    assert all(c.n_tokens <= 16 for c in chunks)
    assert " ".join(c.text for c in chunks).replace(" .", ".") == text


def test_line_break_ends_sentence() -> None:
    assert len(sentence_spans("A heading without a stop\nThen a sentence.")) == 2


def test_stray_punctuation_joins_previous_sentence() -> None:
    text = "He met them on Thursday. . Then he left."
    assert [text[s:e] for s, e in sentence_spans(text)] == ["He met them on Thursday. .", "Then he left."]


@pytest.mark.parametrize(
    ("size", "overlap", "message"), [(500, 10, "exceeds"), (4, 0, "too small"), (32, 32, "overlap")]
)
def test_invalid_config(size: int, overlap: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ChunkingConfig(size, overlap).validate(max_tokens=254)
