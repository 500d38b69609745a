"""One search in progress: the request as resolved, and what every stage reads from the snapshot for it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from indexer.embed.base import Embedder
from indexer.retrieval.fusion import RRF_K, Fusion
from indexer.retrieval.options import SearchOptions
from indexer.retrieval.results import Group, LongQuestions, Mode, Navigation
from indexer.storage.base import LexicalScores, Restriction, Snapshot
from indexer.types import ChunkRecord, Filter, Place

Ranked = list[tuple[int, float]]  # (chunk_id, score), best first


@dataclass(frozen=True)
class SearchRequest:
    """What was asked: the question, its options as given, and the options a searcher fills from its defaults
    (resolved here, never None). A stage reads an option without a searcher default from `options`."""

    text: str
    options: SearchOptions
    mode: Mode
    fusion: Fusion
    dense_weight: float
    rrf_k: int = RRF_K
    where: Filter | None = None
    long_questions: LongQuestions = LongQuestions.first  # a question longer than the model reads
    group: Group = Group.passage  # page: one hit per page
    navigation: Navigation = Navigation.below  # where navigation passages go
    document_weight: float = 1.0  # hierarchical scoring: the share of a unit's document score added to its own
    rerank: bool = True  # whether a searcher's reranker stage (if it has one) runs

    @property
    def depth(self) -> int:
        """How far down the ranking this request reads."""
        return self.options.depth

    @property
    def per_document(self) -> bool:
        """Whether documents are fused on their best passage per retriever (hybrid DBSF, one passage each)."""
        return self.mode == Mode.hybrid and self.fusion is not Fusion.rrf and self.options.max_per_doc == 1


def embed_query(embedder: Embedder, text: str, long_questions: LongQuestions = LongQuestions.first) -> np.ndarray:
    """The question's vector, shape (1, dimension).

    A question longer than the model reads (a whole paragraph: "find passages like this") is read as far as the
    model reads, its first window, as every anchor does (`LongQuestions.first`): on real paragraph-long questions
    (ArguAna, measured through HTTP) that ranked better than the mean of its pieces, dense nDCG@10 0.543 against
    0.527. `LongQuestions.mean` cuts it into pieces the model reads whole and takes the normalised mean of their
    vectors, so every part counts; it ranked better on paragraph questions synthesised from cranfield's
    judgments, which are not real questions (docs/evaluation.md).
    """
    if long_questions is LongQuestions.first:
        return embedder.encode_queries([text])
    prompt = embedder.prompts.query
    if len(prompt) + len(text) <= embedder.max_tokens:  # every token covers a character: it fits, nothing to count
        return embedder.encode_queries([text])
    limit = embedder.max_tokens - (len(embedder.token_spans(prompt)) if prompt else 0)
    spans = embedder.token_spans(text)
    if len(spans) <= limit:
        return embedder.encode_queries([text])
    pieces = [text[spans[i][0] : spans[min(i + limit, len(spans)) - 1][1]] for i in range(0, len(spans), limit)]
    mean = embedder.encode_queries(pieces).mean(axis=0, keepdims=True)
    normalised: np.ndarray = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return normalised.astype(np.float32)


@dataclass
class QueryContext:
    """The request and what the stages share for it: the snapshot, the filter resolved against it, the query's
    vector and BM25 scores, and the stage scores recorded so far."""

    request: SearchRequest
    snapshot: Snapshot
    embedder: Embedder
    allowed: Restriction | None
    total: int  # live chunks passing the filter
    query_vec: np.ndarray | None  # None in lexical mode: it never runs the model
    lexical: LexicalScores | None  # None when the query has no indexed term
    window: int  # candidates per retriever that hybrid scores are normalised on (the searcher's `candidates`)
    stage_scores: dict[int, dict[str, float]] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)  # what each stage did, by its name (`Stage`)
    _records: dict[int, ChunkRecord] = field(default_factory=dict)  # passages read so far, for every stage
    _places: dict[int, Place] = field(default_factory=dict)  # candidates' documents, pages and kinds read so far

    def places(self, ids: list[int]) -> dict[int, Place]:
        """The document, page and kind of each of `ids` (each read from the snapshot once per search)."""
        missing = [i for i in ids if i not in self._places]
        if missing:
            self._places.update(self.snapshot.store.places_of(missing))
        return {i: self._places[i] for i in ids}

    def records(self, ids: list[int]) -> dict[int, ChunkRecord]:
        """The stored passages of `ids` (each read from the snapshot once per search)."""
        missing = [i for i in ids if i not in self._records]
        if missing:
            self._records.update(self.snapshot.store.chunks(missing))
        return {i: self._records[i] for i in ids}

    @classmethod
    def open(cls, request: SearchRequest, snapshot: Snapshot, embedder: Embedder, window: int) -> QueryContext:
        """Resolve the filter, embed the query (not in lexical mode) and score its terms (all modes: BM25 ranks
        lexical and hybrid searches and explains every hit)."""
        allowed: Restriction | None = None
        total = snapshot.vectors.ntotal
        if request.where is not None and not request.where.is_empty:
            allowed = snapshot.store.restrict(request.where)
            total = allowed.size
        query_vec = None
        if request.mode != Mode.lexical:
            query_vec = embed_query(embedder, request.text, request.long_questions)
        lexical = snapshot.lexical.query(request.text)
        return cls(request, snapshot, embedder, allowed, total, query_vec, lexical, window)

    def dense_scores(self, ids: list[int]) -> dict[int, float]:
        """Cosine similarity of each chunk in `ids` to the query (empty without a query vector)."""
        if not ids or self.query_vec is None:
            return {}
        vecs = self.snapshot.vectors.reconstruct_batch(np.asarray(ids, dtype=np.int64))
        return dict(zip(ids, (vecs @ self.query_vec[0]).tolist(), strict=True))

    def lexical_scores(self, ids: list[int]) -> dict[int, float]:
        """BM25 score of each chunk in `ids` (0.0 where no query term occurs)."""
        if self.lexical is None or not ids:
            return dict.fromkeys(ids, 0.0)
        return self.lexical.scores_of(ids)
