"""A question longer than the model reads is embedded as its first window (the default), or as the mean of pieces
the model reads whole."""

from __future__ import annotations

import numpy as np

from indexer.embed.base import Prompts
from indexer.embed.prompts import PromptedEmbedder
from indexer.retrieval.query import embed_query
from indexer.retrieval.results import LongQuestions, Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Snapshot
from tests.fakes import FakeEmbedder

WORDS = "one two three four five six seven eight nine ten eleven twelve"


def _normalised_mean(vectors: np.ndarray) -> np.ndarray:
    mean: np.ndarray = vectors.mean(axis=0)
    return mean / float(np.linalg.norm(mean))


def test_a_question_the_model_reads_whole_is_embedded_as_it_is() -> None:
    embedder = FakeEmbedder(max_tokens=12)
    for way in LongQuestions:
        np.testing.assert_array_equal(embed_query(embedder, WORDS, way), embedder.encode_queries([WORDS]))


def test_a_longer_question_is_by_default_what_the_model_reads_of_it() -> None:
    embedder = FakeEmbedder(max_tokens=5)
    first = embedder.encode_queries(["one two three four five"])  # the window the model reads
    np.testing.assert_allclose(embed_query(embedder, WORDS), first, atol=1e-6)


def test_a_longer_question_is_the_mean_of_its_pieces() -> None:
    embedder = FakeEmbedder(max_tokens=5)
    pieces = ["one two three four five", "six seven eight nine ten", "eleven twelve"]
    got = embed_query(embedder, WORDS, LongQuestions.mean)
    assert got.shape == (1, embedder.dimension) and got.dtype == np.float32
    np.testing.assert_allclose(got[0], _normalised_mean(embedder.encode_queries(pieces)), atol=1e-6)
    assert not np.allclose(got, embedder.encode_queries([WORDS]), atol=1e-3)  # not the whole text at once


def test_each_piece_leaves_room_for_the_query_prompt() -> None:
    inner = FakeEmbedder(max_tokens=6)
    prompted = PromptedEmbedder(inner, Prompts(query="q : ", passage=""))  # two tokens: "q", ":"
    pieces = ["one two three four", "five six seven eight", "nine ten eleven twelve"]
    expected = _normalised_mean(inner.encode([f"q : {p}" for p in pieces]))
    np.testing.assert_allclose(embed_query(prompted, WORDS, LongQuestions.mean)[0], expected, atol=1e-6)


def test_the_searcher_reads_the_first_window_unless_told_to_take_the_mean(fake_snapshot: Snapshot) -> None:
    embedder = FakeEmbedder(max_tokens=5)
    question = "tides rise and fall twice a day because of the moon and the sun over the oceans"
    for way, vector in (
        (LongQuestions.first, embedder.encode_queries([question])),
        (LongQuestions.mean, embed_query(embedder, question, LongQuestions.mean)),
    ):
        searcher = Searcher(fake_snapshot, embedder, long_questions=way)
        hit = searcher.search(question, k=1, mode=Mode.dense).hits[0]
        stored = fake_snapshot.vectors.reconstruct_batch(np.asarray([hit.chunk_id], dtype=np.int64))[0]
        assert hit.dense is not None and abs(hit.dense - float(stored @ vector[0])) < 1e-5
