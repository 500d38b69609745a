"""How hybrid search combines the dense and lexical rankings.

- `dbsf` (default), distribution-based score fusion (as in Qdrant): each retriever's scores are mapped to
  [0, 1] by the spread of its own candidate list, from mean - 3 sd to mean + 3 sd, and the two are summed. It
  has no parameter to fit, it keeps how far apart scores are (which rank fusion throws away), and a weak
  retriever whose scores barely separate its candidates moves the sum little. Every candidate gets both
  scores: one found by one retriever only is scored exactly by the other (its cosine, or its BM25 score,
  which is 0 when no query term occurs in it), not treated as absent.
- `rrf`, reciprocal rank fusion (Cormack, Clarke & Buettcher, SIGIR 2009): sum over the two rankings of
  1 / (60 + rank). Kept selectable; it gives a weak retriever as much say as a strong one.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from enum import StrEnum
from typing import TypeVar

import numpy as np

RRF_K = 60
_SPREAD = 3.0  # standard deviations either side of the mean that map to 0 and 1

K = TypeVar("K", bound=Hashable)


class Fusion(StrEnum):
    """Hybrid fusion method (`fusion=` request parameter, `SEEKR_FUSION`)."""

    dbsf = "dbsf"
    rrf = "rrf"


DEFAULT_FUSION = Fusion.dbsf


def rrf(rankings: Sequence[Sequence[K]], k: int = RRF_K) -> dict[K, float]:
    """Reciprocal rank fusion of ranked lists (best first)."""
    fused: dict[K, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


def dbsf_bounds(candidate_scores: Sequence[float]) -> tuple[float, float]:
    """(lower, upper): mean -/+ 3 sd of a retriever's candidate scores; equal scores give a unit-wide range."""
    if not candidate_scores:
        return 0.0, 1.0
    values = np.asarray(candidate_scores, dtype=np.float64)
    mean, sd = float(values.mean()), float(values.std())
    if sd == 0.0:
        return mean - 0.5, mean + 0.5
    return mean - _SPREAD * sd, mean + _SPREAD * sd


DEFAULT_DENSE_WEIGHT = 0.5


def dbsf(
    dense: Mapping[K, float],
    lexical: Mapping[K, float],
    dense_bounds: tuple[float, float],
    lexical_bounds: tuple[float, float],
    dense_weight: float = DEFAULT_DENSE_WEIGHT,
) -> dict[K, float]:
    """Sum of both normalised scores for every key of `dense` (which must hold the same keys as `lexical`).

    `dense_weight` w weighs them 2w : 2(1 - w); the default 0.5 is the plain sum, which needs no labels. A
    collection where one retriever is known to be much weaker can set it from a few judged questions.
    """
    (dlo, dhi), (llo, lhi) = dense_bounds, lexical_bounds
    wd, wl = 2 * dense_weight, 2 * (1 - dense_weight)
    return {key: wd * (dense[key] - dlo) / (dhi - dlo) + wl * (lexical[key] - llo) / (lhi - llo) for key in dense}
