"""The stored form of a passage's sentences, terms and sentence vectors (`indexer.sentences`)."""

from __future__ import annotations

import numpy as np

from indexer.sentences import MAX_STORED, SentenceTerms, dump_vectors, load_vectors


def test_sentence_terms_read_back_as_written() -> None:
    terms = SentenceTerms("unicode-1:auto", "zh", ((0, 12), (13, 30)), (("锣鼓", "鼓经", "经"), ()))
    assert SentenceTerms.load(terms.dump()) == terms
    assert SentenceTerms.load(None) is None and SentenceTerms.load("") is None
    assert SentenceTerms.load('{"f": 99}') is None  # another format: worked out again at search time


def test_sentence_terms_too_long_to_store_are_not_stored() -> None:
    many = SentenceTerms("unicode-1:auto", "en", ((0, 1),), (("word",) * (MAX_STORED // 4),))
    assert many.dump() is None


def test_sentence_vectors_keep_their_order_of_similarity() -> None:
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(12, 384)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    rows[3] = 0.0  # a sentence holding no token
    back = load_vectors(dump_vectors(rows), 384)
    assert back is not None and back.shape == rows.shape
    assert np.abs(back - rows).max() <= np.abs(rows).max(axis=1).max() / 127 / 2 + 1e-6
    question = rng.normal(size=384).astype(np.float32)
    exact, rounded = rows @ question, back @ question
    assert np.abs(exact - rounded).max() < 0.02
    assert load_vectors(dump_vectors(rows), 383) is None  # another model's dimension: not read as vectors
    assert load_vectors("not base64!", 384) is None and load_vectors(None, 384) is None
