"""Search input and output, and the operations' answers (health, stats), of the HTTP API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from indexer.retrieval.fusion import Fusion
from indexer.retrieval.options import SearchOptions
from indexer.retrieval.results import Hit, Mode, Passage, SearchResult, StageScore
from service.errors import MAX_BODY_QUERY_CHARS
from service.fields import REQUEST_MODEL_CONFIG, BodyQueryText, Number, json_typed_options
from service.filters import Filters

EXAMPLE_QUERY = "Where did Wang Yi meet Lavrov"


_JSON_TYPED = json_typed_options()


def options_of(request: SearchOptions) -> SearchOptions:
    """The `SearchOptions` part of a request model that extends them (validated already: not checked again)."""
    names = set(SearchOptions.model_fields)
    values = {name: getattr(request, name) for name in names}
    return SearchOptions.model_construct(request.model_fields_set & names, **values)


class _Question(BaseModel):
    """The question of a POST /search body: a base of its own so that it comes first (in the schema, in errors)."""

    query: BodyQueryText = Field(
        description=f"The question (1..{MAX_BODY_QUERY_CHARS:,} characters after trimming): a few words, or a whole "
        "paragraph to find passages like it (one longer than the model reads is embedded as far as the model reads "
        "it, or as the mean of its pieces with SEEKR_LONG_QUESTIONS=mean; BM25 scores every term)."
    )


class SearchRequest(SearchOptions, _Question):
    """POST /search body: the question, its filters and index version, and every search option (`SearchOptions`,
    where each is defined), as JSON: a number must be a JSON number and a flag a JSON boolean."""

    model_config = REQUEST_MODEL_CONFIG | ConfigDict(
        json_schema_extra={"examples": [{"query": EXAMPLE_QUERY, "k": 3, "mode": "hybrid"}]}
    )

    filters: Filters | None = Field(None, description="Restrict the search before the top-k cut.")
    version: Annotated[int, Field(ge=1), Number] | None = Field(
        None,
        description="Answer from this index version (the index_version of the first page), so that writes "
        "between pages do not shift them; 404 when it is no longer kept (start again without it).",
    )

    @field_validator(*_JSON_TYPED, mode="before")
    @classmethod
    def _json_types(cls, value: object, info: ValidationInfo) -> object:
        # pydantic's lax mode would take "5" for a number and 1 for a flag; the schema says JSON types.
        return _JSON_TYPED[info.field_name or ""](value)

    def options(self) -> SearchOptions:
        """The search options of this body (what `Searcher.search` takes besides the question and filter)."""
        return options_of(self)


class Scores(BaseModel):
    """Why a hit ranked where it did: each retriever's score and rank (null: not among its candidates)."""

    dense: float | None = Field(description="Cosine similarity of query and passage.")
    lexical: float | None = Field(description="BM25 score (title + passage); null when no query term occurs.")
    dense_rank: int | None = Field(description="Rank among the dense candidates.")
    lexical_rank: int | None = Field(description="Rank among the lexical candidates.")
    introduces: str | None = Field(
        None,
        description="For a 'Who is X?' question: X, when this passage is its document's first mention of X. "
        "That passage is shown first for its document, at the score of the document's best passage.",
    )
    document: float | None = Field(
        None,
        description="The document's score (the mean of its best three pages or passages among the first "
        "candidates), which `score` moves toward (hierarchical scoring); null when `document_weight` is 0.",
    )
    rerank: float | None = Field(
        None, description="The reranker's score, which is then `score`; null when the reranker did not score it."
    )
    fused: float | None = Field(
        None, description="With a rerank score: the score the hit had before the reranker (the fused ranking's)."
    )


class Span(BaseModel):
    """Character offsets into the passage text."""

    start: int
    end: int


class HighlightOut(BaseModel):
    """The passage's best-matching sentence(s) and how they were chosen (`lexical` or `dense`)."""

    method: str
    spans: list[Span]


class PassageOut(BaseModel):
    """A passage around a hit, in its document."""

    chunk_id: int
    start: int = Field(description="Character offset in the document's text.")
    end: int
    page: int | None
    text: str


class HitContext(BaseModel):
    """The passages before and after a hit in its document (context=N)."""

    before: list[PassageOut] = Field(description="Up to N passages before the hit, in document order.")
    after: list[PassageOut] = Field(description="Up to N passages after the hit, in document order.")


def _passages(passages: Sequence[Passage]) -> list[PassageOut]:
    return [PassageOut(chunk_id=p.chunk_id, start=p.start, end=p.end, page=p.page, text=p.text) for p in passages]


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
    page: int | None = Field(
        None, description="1-based page (PDF) or slide (PPTX) the passage lies on; null for formats without pages."
    )
    heading: str | None = Field(
        None, description="The heading the passage stands under (its section's, or the one its page opens with)."
    )
    kind: str | None = Field(
        None, description="null for content; navigation for a passage of a table of contents, an index, ..."
    )
    sheet: str | None = Field(None, description="The sheet (spreadsheet) whose rows the passage holds.")
    rows: tuple[int, int] | None = Field(
        None,
        description="First and last row number (as the sheet or CSV file numbers them) of the whole rows the "
        "passage holds; the table's header row is matched with every passage of it.",
    )
    ocr: bool = Field(False, description="Whether the passage's page was read by OCR from its image.")
    ocr_confidence: float | None = Field(
        None, description="The OCR engine's mean confidence (0-1) on the passage's page, when `ocr` is true."
    )
    scores: Scores
    highlight: HighlightOut | None = Field(
        None, description="Best-matching sentence(s) as offsets into `text` (null when highlight=false)."
    )
    context: HitContext | None = Field(None, description="With context=N: the passages around this one.")

    @classmethod
    def from_hit(cls, hit: Hit, with_context: bool = False) -> SearchHit:
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
            page=hit.page,
            heading=hit.heading,
            kind=hit.kind,
            sheet=hit.sheet,
            rows=hit.rows,
            ocr=hit.ocr_confidence is not None,
            ocr_confidence=hit.ocr_confidence,
            scores=Scores(
                dense=hit.dense,
                lexical=hit.lexical,
                dense_rank=hit.dense_rank,
                lexical_rank=hit.lexical_rank,
                introduces=hit.introduces,
                document=hit.stage_scores.get(StageScore.document),
                rerank=hit.stage_scores.get(StageScore.rerank),
                fused=hit.stage_scores.get(StageScore.fused),
            ),
            highlight=None
            if hit.highlight is None
            else HighlightOut(
                method=hit.highlight.method, spans=[Span(start=s, end=e) for s, e in hit.highlight.spans]
            ),
            context=HitContext(before=_passages(hit.before), after=_passages(hit.after)) if with_context else None,
        )


class SearchResponse(BaseModel):
    """Ranked passages for a query."""

    query: str
    mode: Mode
    fusion: Fusion | None = Field(None, description="How hybrid fused the retrievers (null in other modes).")
    took_ms: float
    index_version: int = Field(description="The index version that answered; pass it as `version` for the next page.")
    offset: int = Field(0, description="Results skipped before these: the first one's rank is offset + 1.")
    rerank: str | None = Field(
        None,
        description="What the reranker did: 'reranked N', 'off', or 'over budget (B ms): fused order'; null when the "
        "collection has no reranker.",
    )
    mode_reason: str | None = Field(
        None,
        description="Why the mode is not the collection's default, when it is not: a question in a language the "
        "collection's model was not trained on is ranked by keywords (name a mode to override).",
    )
    results: list[SearchHit]

    @classmethod
    def from_result(cls, result: SearchResult, with_context: bool = False) -> SearchResponse:
        """Convert an indexer SearchResult."""
        return cls(
            query=result.query,
            mode=result.mode,
            fusion=result.fusion,
            took_ms=round(result.took_ms, 3),
            index_version=result.index_version,
            offset=result.offset,
            rerank=result.rerank,
            mode_reason=result.mode_reason,
            results=[SearchHit.from_hit(h, with_context) for h in result.hits],
        )


class Health(BaseModel):
    """Liveness / readiness."""

    status: str
    detail: str | None = None


class SearchDefaultsOut(BaseModel):
    """What a search that names no mode, fusion or weight uses in this collection, and why."""

    mode: Mode
    fusion: Fusion = Field(description="Hybrid only.")
    dense_weight: float = Field(description="Hybrid dbsf only.")
    calibrated: bool = Field(description="Chosen from judged questions (`python -m indexer calibrate`), not settings.")
    questions: int | None = Field(None, description="Judged questions the calibration rests on.")
    held_out_ndcg_at_10: float | None = Field(
        None, description="The calibration's nDCG@10 on questions it did not see (cross-validated)."
    )


class Stats(BaseModel):
    """What the service is serving in a collection."""

    collection: str = Field(description="The collection (`default` on the unprefixed routes).")
    model: str
    dimension: int
    runtime: str = Field(description="What embeds queries: onnx-int8, onnx or torch.")
    index_runtime: str = Field(description="What made the index's vectors (from its manifest).")
    backend: str = Field(description="The engine keeping the index: local or milvus.")
    index_dir: str = Field(description="Where the index is: its directory, or the Milvus URI and collection.")
    index_version: int
    documents: int
    chunks: int
    segments: int = Field(description="Index segments; background merges keep this small (0: Milvus keeps its own).")
    ann_segments: int = Field(description="Segments searched through an HNSW graph (the others exactly).")
    deleted_chunks: int = Field(description="Chunks deleted but still in a segment, until a merge drops them.")
    chunk_tokens: int
    overlap_tokens: int
    built_at: datetime
    build_seconds: float | None
    package_version: str
    source_files: int | None = Field(
        None, description="Files the last build looked at in its folder (null: never built from a folder)."
    )
    source_pages: int | None = Field(None, description="Pages and slides the last build read from paged formats.")
    source_ocr_pages: int | None = Field(None, description="Of those pages, the ones read by OCR from their image.")
    skipped: dict[str, int] = Field(
        default_factory=dict,
        description="Files the last build skipped, by reason: unsupported, too_large, empty, binary, not_utf8, "
        "unreadable, encrypted, corrupt, no_text_layer (scans needing OCR), no_text, malformed, duplicate_id.",
    )
    analyzer: str = Field(description="How its text is analysed into keyword terms (unicode-1; english-1: older).")
    language: str = Field(description="Its language: auto (each passage's own, detected) or a language code.")
    languages: dict[str, int] = Field(
        default_factory=dict,
        description="Passages per language as analysed, most first (counted as written: replaced or deleted "
        "documents count until their segment is merged or the collection rebuilt).",
    )
    model_languages: list[str] | None = Field(
        None, description="The languages the model was trained on, from its model card (null: many, or unknown)."
    )
    language_warning: str | None = Field(
        None, description="Set when most passages are in languages the model was not trained on, with the fix."
    )
    keep_originals: bool = Field(False, description="Whether files sent over HTTP keep their bytes.")
    original_files: int | None = Field(
        None, description="Files sent over HTTP whose bytes are kept (null: the collection keeps none)."
    )
    original_bytes: int | None = Field(None, description="Their size in bytes (null: the collection keeps none).")
    search_defaults: SearchDefaultsOut
