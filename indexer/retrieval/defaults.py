"""What a search uses where its request is silent: mode, fusion and the dense share of a dbsf fusion.

The service's settings give them for every collection; a collection calibrated from judged questions
(`python -m indexer calibrate`) records its own in its manifest, which take their place for that collection.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer.manifest import Calibration
from indexer.retrieval.fusion import DEFAULT_DENSE_WEIGHT, DEFAULT_FUSION, Fusion
from indexer.retrieval.results import Group, Mode


@dataclass(frozen=True)
class SearchDefaults:
    """The mode, fusion and dense weight of a request that names none."""

    mode: Mode = Mode.hybrid
    fusion: Fusion = DEFAULT_FUSION
    dense_weight: float = DEFAULT_DENSE_WEIGHT
    group: Group = Group.page  # one hit per page where passages have pages (others are their own unit)
    document_weight: float = 1.0  # hierarchical scoring: a unit's score plus this times its document's
    rerank: bool = True  # whether a reranker stage, where the searcher has one, re-scores the first units

    def calibrated(self, calibration: Calibration | None) -> SearchDefaults:
        """These defaults with a collection's calibrated choice in their place (unchanged without one)."""
        if calibration is None:
            return self
        return SearchDefaults(
            mode=Mode(calibration.mode),
            fusion=Fusion(calibration.fusion) if calibration.fusion is not None else self.fusion,
            dense_weight=calibration.dense_weight if calibration.dense_weight is not None else self.dense_weight,
            group=self.group,
            document_weight=self.document_weight,
            rerank=calibration.rerank if calibration.rerank is not None else self.rerank,
        )


DEFAULTS = SearchDefaults()  # without settings or calibration
