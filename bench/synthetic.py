"""A synthetic collection for the scale benchmark: generated text and a fast deterministic embedder.

Each document is about one of `TOPICS` topics: its words are drawn (Zipf-like) from that topic's own slice of
a fixed vocabulary plus words shared by every topic. A text's vector is the normalised mean of fixed random
word vectors, so documents of one topic cluster together and share neighbours the way real embeddings of
similar texts do, at a tiny fraction of a model's cost. Everything is seeded: the same N gives the same
collection on every machine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from indexer.embed.base import BATCH_SIZE, NO_PROMPTS, Prompts, Vectors
from indexer.types import Document

TOPICS = 512
TOPIC_WORDS = 60
SHARED_WORDS = 400
DIMENSION = 384
_WORD = re.compile(r"[a-z]+")


def _word(i: int) -> str:
    """A pronounceable, unique word for vocabulary index i."""
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    out = []
    i += 1
    while i:
        i, r = divmod(i, len(consonants) * len(vowels))
        out.append(consonants[r % len(consonants)] + vowels[r // len(consonants)])
    return "".join(out)


VOCABULARY = [_word(i) for i in range(SHARED_WORDS + TOPICS * TOPIC_WORDS)]


class ClusterEmbedder:
    """Deterministic 384-d embedder: the normalised mean of seeded random word vectors."""

    def __init__(self, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self._vectors = rng.standard_normal((len(VOCABULARY), DIMENSION)).astype(np.float32)
        self._index = {w: i for i, w in enumerate(VOCABULARY)}

    @property
    def model_id(self) -> str:
        return "bench-cluster-embedder"

    @property
    def runtime(self) -> str:
        return "bench"

    @property
    def endpoint(self) -> str | None:
        return None

    @property
    def dimension(self) -> int:
        return DIMENSION

    @property
    def max_tokens(self) -> int:
        return 254

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in re.finditer(r"\S+", text)]

    @property
    def prompts(self) -> Prompts:
        return NO_PROMPTS

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> Vectors:
        return self.encode(texts, batch_size=batch_size)

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = [self._index[w] for w in _WORD.findall(text.lower()) if w in self._index]
            out[row] = self._vectors[ids].mean(axis=0) if ids else self._vectors[0]
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


def _words(rng: np.random.Generator, topic: int, n: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.3, n) - 1, TOPIC_WORDS - 1)
    own = SHARED_WORDS + topic * TOPIC_WORDS + ranks
    shared = rng.integers(0, SHARED_WORDS, n)
    picks = np.where(rng.random(n) < 0.6, own, shared)
    return [VOCABULARY[i] for i in picks]


def documents(n: int, *, seed: int = 11, start: int = 0) -> list[Document]:
    """`n` one-passage documents (ids `syn-<start + i>`), each about one topic."""
    rng = np.random.default_rng(seed + start)
    docs = []
    for i in range(start, start + n):
        topic = int(rng.integers(0, TOPICS))
        title = " ".join(_words(rng, topic, 3)).capitalize()
        body = " ".join(_words(rng, topic, int(rng.integers(30, 60)))).capitalize() + "."
        docs.append(Document(doc_id=f"syn-{i}", title=title, text=f"{title}\n\n{body}", source=f"synthetic:{i}"))
    return docs


def queries(n: int, *, seed: int = 13, chars: int = 0) -> list[str]:
    """`n` questions, each in one topic's words: six words, or (`chars` > 0) a paragraph of about that many
    characters, cut at a word."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        topic = int(rng.integers(0, TOPICS))
        if not chars:
            out.append(" ".join(_words(rng, topic, 6)))
            continue
        text = ""
        while len(text) < chars:
            text = f"{text} {' '.join(_words(rng, topic, 50))}".strip()
        out.append(text[:chars].rsplit(" ", 1)[0])
    return out
