"""One segment's term postings: term frequencies in compressed-column form (scoring: `bm25`).

For term t, the chunks holding it are `rows[starts[t]:starts[t + 1]]`, ascending, with their frequencies in
`tfs`, and each chunk's length in tokens: plain numpy arrays saved with `np.save`. Scores are computed at query
time from the statistics of the whole live collection (`indexer.storage.local.bm25`), not baked in per
segment: that is why bm25s' own BM25 class, which precomputes scores with one index's document frequencies, is
not used for scoring.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from indexer.analysis import Analyzer
from indexer.errors import IndexCorruptError

_ARRAYS = ("ids", "lengths", "starts", "rows", "tfs")
_VOCAB = "vocab.json"


def find_sorted(
    haystack: npt.NDArray[Any], wanted: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """For each of `wanted`: its position in the ascending `haystack`, and whether it is there at all."""
    if not len(haystack):
        return np.zeros(len(wanted), dtype=np.intp), np.zeros(len(wanted), dtype=bool)
    pos = np.minimum(np.searchsorted(haystack, wanted), len(haystack) - 1)
    return pos, haystack[pos] == wanted


@dataclass(frozen=True)
class Postings:
    """Term frequencies of one segment's chunks: row i is chunk `ids[i]` (ids ascending)."""

    ids: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int32]
    starts: npt.NDArray[np.int64]  # term t's postings are [starts[t], starts[t + 1])
    rows: npt.NDArray[np.int32]  # chunk rows, ascending within each term
    tfs: npt.NDArray[np.float32]  # term frequencies
    vocab: dict[str, int]  # term -> t

    @classmethod
    def build(cls, ids: Sequence[int], texts: Sequence[str], analyzer: Analyzer, batch: int = 20_000) -> Postings:
        """Analyse `texts` (chunk `ids[i]` has text `texts[i]`; ids ascending)."""
        postings, _ = cls.build_batches(
            ((list(ids[i : i + batch]), list(texts[i : i + batch])) for i in range(0, len(ids), batch)), analyzer
        )
        return postings

    @classmethod
    def build_batches(
        cls, batches: Iterable[tuple[list[int], list[str]]], analyzer: Analyzer
    ) -> tuple[Postings, dict[str, int]]:
        """`build` from (ids, texts) batches, ids ascending across them: only one batch of text is in memory.
        Also how many chunks each language has (as `analyzer` analysed them)."""
        vocab: dict[str, int] = {}
        languages: dict[str, int] = {}
        rows: list[npt.NDArray[np.int32]] = []
        cols: list[npt.NDArray[np.int32]] = []
        lengths: list[npt.NDArray[np.int32]] = []
        ids: list[int] = []
        for batch_ids, texts in batches:
            start = len(ids)
            ids.extend(batch_ids)
            part: list[list[int]] = []
            for text in texts:
                analysed = analyzer.passage(text)
                languages[analysed.language] = languages.get(analysed.language, 0) + 1
                part.append([vocab.setdefault(term, len(vocab)) for _, _, term in analysed.terms])
            counts = np.asarray([len(row) for row in part], dtype=np.int64)
            cols.append(np.fromiter((t for row in part for t in row), dtype=np.int32, count=int(counts.sum())))
            rows.append(np.repeat(np.arange(start, start + len(part), dtype=np.int32), counts))
            lengths.append(counts.astype(np.int32))
        n_terms = len(vocab)
        row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int32)
        col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int32)
        del rows, cols
        # One entry per (term, chunk), ordered by term then chunk; a repeated term becomes its frequency.
        stride = max(len(ids), 1)  # key = term * stride + row orders entries by term, then chunk
        key = col.astype(np.int64) * stride + row
        del row, col
        key.sort()
        unique, counts = np.unique(key, return_counts=True)
        del key
        term = unique // stride
        starts = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(np.bincount(term, minlength=n_terms), out=starts[1:])
        length = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int32)
        postings = cls(
            np.asarray(ids, dtype=np.int64),
            length,
            starts,
            (unique % stride).astype(np.int32),
            counts.astype(np.float32),
            vocab,
        )
        return postings, languages

    def save(self, directory: Path) -> None:
        """Write into `directory` (created); `load` reads it back."""
        directory.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(directory / f"{name}.npy", getattr(self, name))
        (directory / _VOCAB).write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Postings:
        """Read what `save` wrote."""
        try:
            arrays = {name: np.load(directory / f"{name}.npy") for name in _ARRAYS}
            vocab = json.loads((directory / _VOCAB).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(
                f"lexical postings in {directory} cannot be read ({exc}); rebuild the index"
            ) from exc
        postings = cls(**arrays, vocab=vocab)
        if (
            len(postings.lengths) != len(postings.ids)
            or len(postings.starts) != max(vocab.values(), default=-1) + 2
            or postings.starts[-1] != len(postings.rows)
            or len(postings.tfs) != len(postings.rows)
        ):
            raise IndexCorruptError(f"lexical postings in {directory} disagree in length; rebuild the index")
        return postings

    def posting(self, term: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """(rows ascending, term frequencies) of the chunks holding `term`."""
        t = self.vocab.get(term)
        if t is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        lo, hi = self.starts[t], self.starts[t + 1]
        return self.rows[lo:hi], self.tfs[lo:hi]
