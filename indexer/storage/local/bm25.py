"""BM25 over several segments' postings with the whole live collection's statistics, top-n by MaxScore.

Scores are bm25s' default Lucene variant (k1 = 1.5, b = 0.75), computed from the document frequency of each
term and the average length over every live chunk of every segment, so they equal one BM25 index over the
live chunks. Top-n uses MaxScore (Turtle and Flood, 1995): query terms are taken from the most to the least
selective, and once the n-th best score among chunks holding the terms taken so far beats the most the other
terms could add together, no chunk holding only those others can enter the top n. Those chunks are never
scored, so a query costs the postings of its selective terms plus lookups, not a score for every chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from indexer.analysis import K1, B
from indexer.storage.base import Restriction
from indexer.storage.local.postings import Postings, find_sorted

Rows = npt.NDArray[np.int64]
_SCORE_ALL_MAX = 50_000  # up to this many postings a query's matches are all scored in one pass
# A MaxScore round costs a lookup (a binary search) per term for each chunk holding an essential term; once those
# lookups, weighed at this many postings summed each, outnumber every posting of the question, every posting is
# summed at once. Measured on synthetic collections (`bench scale`), a 4,000-character question at 1M chunks:
# 8.2 s with rounds only, 0.29 s at weight 1, 0.27 s at 4; 16 cost short questions twice their 3 ms.
_LOOKUPS_PER_POSTING = 4.0


class Allowed(dict[str, Rows]):
    """A filter resolved against one snapshot: segment name -> allowed live chunk ids (sorted)."""

    @property
    def size(self) -> int:
        """How many live chunks pass."""
        return sum(len(ids) for ids in self.values())


def as_allowed(restriction: Restriction | None) -> Allowed | None:
    """`restriction` as this engine's `Allowed` (TypeError for another engine's)."""
    if restriction is not None and not isinstance(restriction, Allowed):
        raise TypeError(f"the local engine cannot use a restriction of another engine ({type(restriction).__name__})")
    return restriction


@dataclass(frozen=True)
class SegmentPostings:
    """One segment as BM25 sees it: its postings, and the rows of its deleted chunks (ascending)."""

    name: str
    postings: Postings
    deleted_rows: Rows


@dataclass(frozen=True)
class CollectionStats:
    """What BM25 needs of the whole collection: live chunk count, average length, each term's document count."""

    chunks: int
    avg_length: float
    doc_freq: dict[str, int]

    def idf(self, term: str) -> float:
        """Lucene's idf, always positive."""
        df = self.doc_freq.get(term, 0)
        return float(np.log1p((self.chunks - df + 0.5) / (df + 0.5)))


def bm25_weights(
    tf: npt.NDArray[np.float32], lengths: npt.NDArray[np.int32], idf: float, avg_length: float
) -> npt.NDArray[np.float32]:
    """Each posting's contribution to its chunk's score (Lucene variant, as bm25s computes it)."""
    norm = K1 * (1 - B + B * lengths.astype(np.float32) / np.float32(max(avg_length, 1e-9)))
    return (np.float32(idf) * tf / (tf + norm)).astype(np.float32)


@dataclass(frozen=True)
class _Term:
    rows: list[Rows]  # per segment: live rows holding the term, ascending
    weights: list[npt.NDArray[np.float32]]  # per segment: the term's contribution to each of those rows
    bound: float  # the most this term adds to any chunk's score


def _lookup(rows: Rows, weights: npt.NDArray[np.float32], wanted: Rows) -> npt.NDArray[np.float32]:
    """The weight at each of `wanted` rows (0 where the term is absent)."""
    if not len(rows):
        return np.zeros(len(wanted), dtype=np.float32)
    pos, found = find_sorted(rows, wanted)
    return np.where(found, weights[pos], np.float32(0))


class LexicalQuery:
    """BM25 of one query over a set of segments."""

    def __init__(self, segments: Sequence[SegmentPostings], terms: Sequence[str], chunks: int, avg_length: float):
        self._segments = segments
        live: dict[str, list[tuple[Rows, npt.NDArray[np.float32]]]] = {}
        for term in terms:
            per_segment = []
            for seg in segments:
                found, tf = seg.postings.posting(term)
                rows: Rows = found.astype(np.int64)
                if len(seg.deleted_rows) and len(rows):
                    keep = ~np.isin(rows, seg.deleted_rows)
                    rows, tf = rows[keep], tf[keep]
                per_segment.append((rows, tf))
            live[term] = per_segment
        self.stats = CollectionStats(chunks, avg_length, {t: sum(len(r) for r, _ in p) for t, p in live.items()})
        self._terms: list[_Term] = []
        for term, per_segment in live.items():
            if not self.stats.doc_freq[term]:
                continue
            idf = self.stats.idf(term)
            weights = [
                bm25_weights(tf, seg.postings.lengths[rows], idf, avg_length)
                for seg, (rows, tf) in zip(segments, per_segment, strict=True)
            ]
            bound = max(float(w.max()) for w in weights if len(w))
            self._terms.append(_Term([r for r, _ in per_segment], weights, bound))
        self._terms.sort(key=lambda t: -t.bound)  # most selective first: rare terms weigh most

    @property
    def matches(self) -> bool:
        """Whether any live chunk holds a query term."""
        return bool(self._terms)

    def _score(self, seg_index: int, rows: Rows) -> npt.NDArray[np.float32]:
        total = np.zeros(len(rows), dtype=np.float32)
        for term in self._terms:
            total += _lookup(term.rows[seg_index], term.weights[seg_index], rows)
        return total

    def top(self, n: int, restriction: Restriction | None = None) -> list[tuple[int, float]]:
        """The best `n` (chunk_id, score), best first (ties by id), among `restriction`'s chunks if given."""
        allowed = as_allowed(restriction)
        if n <= 0 or not self._terms:
            return []
        postings = sum(len(r) for t in self._terms for r in t.rows)
        # Few postings: scoring them all in one pass is cheaper than MaxScore's rounds of lookups.
        taken = len(self._terms) if postings <= _SCORE_ALL_MAX else 1
        while True:
            if taken < len(self._terms):
                # A round looks every term up for each chunk holding an essential term; once that outweighs
                # summing every posting once (a paragraph as the question: hundreds of terms), sum them all.
                held = sum(len(r) for t in self._terms[:taken] for r in t.rows)
                if held * len(self._terms) * _LOOKUPS_PER_POSTING >= postings:
                    taken = len(self._terms)
            essential, rest = self._terms[:taken], self._terms[taken:]
            ids, scores = self._candidates(essential, allowed)
            if taken == len(self._terms):
                break
            # Chunks holding none of `essential` score at most `ceiling`: done once the n-th best beats it.
            ceiling = sum(t.bound for t in rest)
            if len(scores) >= n and float(np.partition(-scores, n - 1)[n - 1]) < -ceiling:
                break
            taken = min(2 * taken, len(self._terms))  # doubling: at most twice the cost of scoring all terms
        if len(ids) > n:
            # Everything scoring at least the n-th best, ties included, so ties are broken by id below.
            keep = scores >= -np.partition(-scores, n - 1)[n - 1]
            ids, scores = ids[keep], scores[keep]
        order = np.lexsort((ids, -scores))[:n]
        return [(int(ids[i]), float(scores[i])) for i in order]

    def _candidates(self, essential: list[_Term], allowed: dict[str, Rows] | None) -> tuple[Rows, np.ndarray]:
        """Full scores of the live chunks holding at least one `essential` term (and allowed)."""
        id_parts, score_parts = [], []
        for i, seg in enumerate(self._segments):
            parts = [t.rows[i] for t in essential if len(t.rows[i])]
            if not parts:
                continue
            if len(essential) == len(self._terms):  # every term: sum the postings, no lookups
                weights = np.concatenate([t.weights[i] for t in essential if len(t.rows[i])])
                # Summed by row number, with no sort (every weight is positive, so a row holding a term is
                # nonzero): linear in the postings, where a sort of them cost most of a long question's time.
                summed = np.bincount(np.concatenate(parts), weights=weights, minlength=len(seg.postings.ids))
                rows = np.flatnonzero(summed)
                scores = summed[rows].astype(np.float32)
            else:
                rows = np.unique(np.concatenate(parts)) if len(parts) > 1 else parts[0]
                scores = self._score(i, rows)
            if allowed is not None:
                allowed_ids = allowed.get(seg.name)
                if allowed_ids is None or not len(allowed_ids):
                    continue
                keep = np.isin(seg.postings.ids[rows], allowed_ids)
                rows, scores = rows[keep], scores[keep]
            id_parts.append(seg.postings.ids[rows])
            score_parts.append(scores)
        if not id_parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate(id_parts), np.concatenate(score_parts)

    def scores_of(self, chunk_ids: Sequence[int]) -> dict[int, float]:
        """BM25 score of each live chunk in `chunk_ids` (0.0 where no query term occurs)."""
        out = dict.fromkeys(chunk_ids, 0.0)
        wanted = np.asarray(list(chunk_ids), dtype=np.int64)
        for i, seg in enumerate(self._segments):
            pos, here = find_sorted(seg.postings.ids, wanted)
            if len(seg.deleted_rows):
                here &= ~np.isin(pos, seg.deleted_rows)
            if here.any():
                for cid, score in zip(wanted[here].tolist(), self._score(i, pos[here]).tolist(), strict=True):
                    out[cid] = score
        return out

    def as_dict(self) -> dict[int, float]:
        """Every live chunk holding a query term, with its score."""
        ids, scores = self._candidates(self._terms, None)
        return dict(zip(ids.tolist(), scores.tolist(), strict=True))
