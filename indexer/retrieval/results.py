"""What a search answers: the retrieval mode, one ranked passage with the evidence for its rank, and the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from indexer.retrieval.fusion import Fusion
from indexer.retrieval.highlight import Highlight


class Group(StrEnum):
    """What one hit stands for: a passage, or a page (its best passage, scored with all its passages)."""

    passage = "passage"
    page = "page"


class Navigation(StrEnum):
    """Where navigation passages (tables of contents, indexes, lists of figures) go in a ranking."""

    below = "below"  # after every content passage (the default)
    exclude = "exclude"  # left out
    include = "include"  # ranked as any passage


class LongQuestions(StrEnum):
    """How a question longer than the model reads is embedded (BM25 scores all its terms either way)."""

    first = "first"  # its first window, as the model reads it: what real long questions favour (the default)
    mean = "mean"  # the normalised mean of the vectors of pieces the model reads whole


class StageScore(StrEnum):
    """The scores a stage leaves on a hit (`Hit.stage_scores`), by name: one definition for every module."""

    document = "document"  # its document's score, from hierarchical scoring (`ranking.with_document_scores`)
    rerank = "rerank"  # the reranker's score (`rerank.RerankStage`)
    fused = "fused"  # the fused score it had before the reranker re-scored it


class Mode(StrEnum):
    """Retrieval mode."""

    dense = "dense"
    lexical = "lexical"
    hybrid = "hybrid"


@dataclass(frozen=True)
class Passage:
    """A passage around a hit, from the same document: `text == document_text[start:end]`."""

    chunk_id: int
    start: int
    end: int
    text: str
    page: int | None = None


@dataclass(frozen=True)
class Hit:
    """One ranked passage with the evidence for its rank.

    `score` is the mode's score: cosine similarity (dense), BM25 (lexical) or the fused score (hybrid: DBSF or
    RRF); a passage that `introduces` the subject of a "Who is X?" question takes its document's best score.
    `dense`/`lexical` are the component scores (None: lexical when no query term occurs in the passage);
    `dense_rank`/`lexical_rank` are 1-based ranks among each retriever's candidates (None: not among them).
    `stage_scores` holds the score each extra stage (a reranker, a boost; see `indexer.retrieval.stages`) gave
    the passage, by stage name, when it set `score`.
    """

    rank: int
    score: float
    chunk_id: int
    doc_id: str
    title: str
    source: str
    text: str
    start: int
    end: int
    dense: float | None
    lexical: float | None
    dense_rank: int | None
    lexical_rank: int | None
    highlight: Highlight | None = None
    page: int | None = None  # 1-based page (or slide) of a paged document the passage lies on
    heading: str | None = None  # the heading the passage stands under (when it does not open with it)
    kind: str | None = None  # None for content, "navigation" for a table of contents, an index, ...
    sheet: str | None = None  # the sheet of a spreadsheet the passage's rows are on
    rows: tuple[int, int] | None = None  # the first and last row number of a table's rows the passage holds
    ocr_confidence: float | None = None  # the page's mean OCR confidence (0-1), when its text was recognised
    introduces: str | None = None  # X, for a "Who is X?" question, if this is its document's first mention of X
    stage_scores: dict[str, float] = field(default_factory=dict)
    before: tuple[Passage, ...] = ()  # with context=N: up to N passages before this one, in document order
    after: tuple[Passage, ...] = ()  # ... and after it


@dataclass(frozen=True)
class SearchResult:
    """Hits for one query, best first."""

    query: str
    mode: Mode
    hits: list[Hit]
    took_ms: float
    index_version: int
    fusion: Fusion | None = None
    offset: int = 0  # hits skipped before these (pages): the first hit's rank is offset + 1
    # Why the mode is not the searcher's default, when it is not (a question in a language the model does not read)
    mode_reason: str | None = None
    # What each stage that says so did, by the stage's name (`StageScore`): the reranker's "reranked N", "off",
    # "over budget ...: fused order"
    statuses: dict[str, str] = field(default_factory=dict)

    @property
    def rerank(self) -> str | None:
        """What the reranker stage did (None: the searcher has none)."""
        return self.statuses.get(StageScore.rerank)
