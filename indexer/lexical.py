"""The lexical index: BM25 over chunk texts with bm25s, saved beside the vectors in each index version.

Tokens are runs of two or more word characters, lower-cased, English stop words removed and Snowball
(Porter 2) stemmed by PyStemmer; BM25 is bm25s' default Lucene variant (k1 = 1.5, b = 0.75). Scoring a
query yields one score per chunk in a single sparse pass, so ranking, filtering and explaining hits all
come from the same vector.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
import numpy.typing as npt
import Stemmer
from bm25s.tokenization import Tokenizer

from indexer.errors import IndexCorruptError

# bm25s sets its own logger to DEBUG, which floods any application log handler with per-build messages.
logging.getLogger("bm25s").setLevel(logging.WARNING)

STOPWORDS = "en"
IDS_FILE = "chunk_ids.npy"
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _tokenizer() -> Tokenizer:
    return Tokenizer(lower=True, splitter=_TOKEN.pattern, stopwords=STOPWORDS, stemmer=Stemmer.Stemmer("english"))


@dataclass
class LexicalIndex:
    """BM25 over the chunks of one index version; position i scores chunk `ids[i]`."""

    ids: npt.NDArray[np.int64]
    retriever: bm25s.BM25 | None
    tokenizer: Tokenizer

    @classmethod
    def build(cls, ids: Sequence[int], texts: Sequence[str]) -> LexicalIndex:
        """Tokenize and index `texts` (chunk `ids[i]` has text `texts[i]`)."""
        tokenizer = _tokenizer()
        if not texts:
            return cls(np.zeros(0, dtype=np.int64), None, tokenizer)
        tokens = tokenizer.tokenize(list(texts), update_vocab=True, return_as="ids", show_progress=False)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return cls(np.asarray(ids, dtype=np.int64), retriever, tokenizer)

    def save(self, directory: Path) -> None:
        """Write the index into `directory` (created); `load` reads it back."""
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / IDS_FILE, self.ids)
        self.tokenizer.save_vocab(str(directory))
        self.tokenizer.save_stopwords(str(directory))
        if self.retriever is not None:
            self.retriever.save(str(directory))

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        """Read an index written by `save`."""
        try:
            ids = np.load(directory / IDS_FILE)
            tokenizer = _tokenizer()
            tokenizer.load_vocab(str(directory))
            tokenizer.load_stopwords(str(directory))
            retriever = bm25s.BM25.load(str(directory)) if len(ids) else None
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"lexical index in {directory} cannot be read ({exc}); rebuild the index") from exc
        return cls(ids, retriever, tokenizer)

    def query_ids(self, query: str) -> list[int]:
        """Vocabulary ids of the query's terms that occur in the index (unknown terms dropped)."""
        (ids,) = self.tokenizer.tokenize([query], update_vocab=False, return_as="ids", show_progress=False)
        unknown = self.tokenizer.word_to_id.get("", 0)
        return sorted({int(i) for i in ids if i != unknown})

    def scores(self, query: str) -> npt.NDArray[np.float32] | None:
        """BM25 score of every chunk (aligned with `ids`); None when no query term is in the index."""
        terms = self.query_ids(query)
        if self.retriever is None or not terms:
            return None
        return np.asarray(self.retriever.get_scores_from_ids(terms), dtype=np.float32)

    def stems(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, stem) of each indexed term in `text`, stop words left out, as queries see them."""
        stop = set(self.tokenizer.stopwords)
        stem = self.tokenizer.stemmer
        out = []
        for m in _TOKEN.finditer(text):
            word = m.group().lower()
            if word not in stop:
                out.append((m.start(), m.end(), stem(word) if stem else word))
        return out

    def top(
        self, scores: npt.NDArray[np.float32], n: int, allowed: npt.NDArray[np.bool_] | None = None
    ) -> list[tuple[int, float]]:
        """The best `n` (chunk_id, score) with a positive score, among `allowed` positions if given."""
        candidates = np.flatnonzero(scores > 0) if allowed is None else np.flatnonzero((scores > 0) & allowed)
        if len(candidates) > n:
            part = np.argpartition(-scores[candidates], n - 1)[:n]
            candidates = candidates[part]
        order = sorted(candidates.tolist(), key=lambda i: (-float(scores[i]), int(self.ids[i])))
        return [(int(self.ids[i]), float(scores[i])) for i in order]
