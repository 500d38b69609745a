"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from indexer.search import Hit, Mode, SearchResult
from indexer.store import Filter
from service.errors import MAX_K, MAX_QUERY_CHARS

QueryText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS)]
TopK = Annotated[int, Field(ge=1, le=MAX_K)]
MaxPerDoc = Annotated[int, Field(ge=1, le=MAX_K)]
MetaKey = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\w.\- ]+$")]
MetaValue = str | int | float | bool


class Filters(BaseModel):
    """Which documents to search. Omitted fields do not filter; given fields must all match."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(None, min_length=1, description="Source path prefix, e.g. `reports/2024/`.")
    doc_id: list[Annotated[str, StringConstraints(min_length=1)]] | None = Field(
        None, min_length=1, max_length=1000, description="Only these document ids."
    )
    metadata: dict[MetaKey, MetaValue] | None = Field(
        None, description="Metadata key/value pairs (from `.jsonl` documents) that must all be equal."
    )

    def to_filter(self) -> Filter:
        """The indexer's Filter."""
        return Filter(
            source_prefix=self.source,
            doc_ids=tuple(self.doc_id) if self.doc_id is not None else None,
            metadata=tuple(sorted((self.metadata or {}).items())),
        )


EXAMPLE_QUERY = "Where did Wang Yi meet Lavrov"


class SearchRequest(BaseModel):
    """POST /search body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"query": EXAMPLE_QUERY, "k": 3, "mode": "hybrid"}]},
    )

    query: QueryText = Field(description=f"The question (1..{MAX_QUERY_CHARS} characters after trimming).")
    k: TopK = Field(5, description=f"Number of passages, 1..{MAX_K}.")
    mode: Mode = Field(Mode.hybrid, description="dense, lexical or hybrid (reciprocal rank fusion).")
    min_score: float | None = Field(
        None,
        description="Drop hits scoring below this, in the mode's scale: cosine (dense, -1..1), BM25 (lexical, "
        ">= 0), RRF (hybrid, at most 2/61 = 0.0328).",
    )
    max_per_doc: MaxPerDoc | None = Field(
        None, description="At most this many passages per document; k is filled from other documents."
    )
    filters: Filters | None = Field(None, description="Restrict the search before the top-k cut.")
    highlight: bool = Field(True, description="Mark the best-matching sentence of each passage.")


class Scores(BaseModel):
    """Why a hit ranked where it did: each retriever's score and rank (null: not among its candidates)."""

    dense: float | None = Field(description="Cosine similarity of query and passage.")
    lexical: float | None = Field(description="BM25 score (SQLite FTS5); null when no query term occurs.")
    dense_rank: int | None = Field(description="Rank among the dense candidates.")
    lexical_rank: int | None = Field(description="Rank among the lexical candidates.")


class Span(BaseModel):
    """Character offsets into the passage text."""

    start: int
    end: int


class HighlightOut(BaseModel):
    """The passage's best-matching sentence(s) and how they were chosen (`lexical` or `dense`)."""

    method: str
    spans: list[Span]


class SearchHit(BaseModel):
    """One ranked passage and where it comes from."""

    rank: int
    score: float
    doc_id: str
    title: str
    source: str = Field(description="File path relative to the indexed folder (`file.jsonl:LINE` for JSONL).")
    chunk_id: int
    text: str
    start: int = Field(description="Character offset of the passage in the document's cleaned text.")
    end: int
    scores: Scores
    highlight: HighlightOut | None = Field(
        None, description="Best-matching sentence(s) as offsets into `text` (null when highlight=false)."
    )

    @classmethod
    def from_hit(cls, hit: Hit) -> SearchHit:
        """Convert an indexer Hit."""
        return cls(
            rank=hit.rank,
            score=hit.score,
            doc_id=hit.doc_id,
            title=hit.title,
            source=hit.source,
            chunk_id=hit.chunk_id,
            text=hit.text,
            start=hit.start,
            end=hit.end,
            scores=Scores(
                dense=hit.dense, lexical=hit.lexical, dense_rank=hit.dense_rank, lexical_rank=hit.lexical_rank
            ),
            highlight=None
            if hit.highlight is None
            else HighlightOut(
                method=hit.highlight.method, spans=[Span(start=s, end=e) for s, e in hit.highlight.spans]
            ),
        )


class SearchResponse(BaseModel):
    """Ranked passages for a query."""

    query: str
    mode: Mode
    took_ms: float
    index_version: int
    results: list[SearchHit]

    @classmethod
    def from_result(cls, result: SearchResult) -> SearchResponse:
        """Convert an indexer SearchResult."""
        return cls(
            query=result.query,
            mode=result.mode,
            took_ms=round(result.took_ms, 3),
            index_version=result.index_version,
            results=[SearchHit.from_hit(h) for h in result.hits],
        )


class Health(BaseModel):
    """Liveness / readiness."""

    status: str
    detail: str | None = None


class Stats(BaseModel):
    """What the service is serving."""

    model: str
    dimension: int
    index_dir: str
    index_version: int
    documents: int
    chunks: int
    chunk_tokens: int
    overlap_tokens: int
    built_at: datetime
    build_seconds: float | None
    package_version: str
