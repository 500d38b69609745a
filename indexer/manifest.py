"""The manifest: what an index version was built with and what it holds. Saved and loaded as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from indexer import __version__
from indexer.errors import IndexCorruptError, ManifestMismatchError
from indexer.types import PassageContext

# 2: segments with tombstones (1: one store, vector index and BM25 index per version).
FORMAT_VERSION = 2
MANIFEST_FILE = "manifest.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RerankerInfo(_Frozen):
    """The reranker a collection's searches use: a cross-encoder folder, or a reranking server (never its key)."""

    kind: Literal["cross-encoder", "tei", "cohere"]
    location: str  # the folder, or the server's base URL (the part before /rerank)
    model: str | None = None  # what a cohere-style server is asked for

    def describe(self) -> str:
        """`cross-encoder /models/ms-marco`, `tei http://gpu-host:8081`, `cohere https://... rerank-v3.5`."""
        return " ".join(part for part in (self.kind, self.location, self.model) if part)


class ModelInfo(_Frozen):
    """The embedding model the vectors come from (and the reranker its searches use)."""

    id: str
    dimension: int
    normalized: bool = True
    max_tokens: int
    # What computed the vectors. Indexes made before this field existed were all made by torch.
    runtime: str = "torch"
    # Text put in front of each query and each passage before embedding (e5's "query: ", bge's instruction).
    query_prompt: str = ""
    passage_prompt: str = ""
    # A server model's base URL when the vectors were made (None: in process). Not part of the model's identity:
    # the same model moved to another host gives the same vectors, and the service may be told another URL.
    endpoint: str | None = None
    # The collection's reranker (None: the service's SEEKR_RERANKER / SEEKR_RERANK_API, if any). Not part of the
    # vectors' identity: changing it re-embeds nothing.
    reranker: RerankerInfo | None = None
    # The languages the model was trained on, from its model card (None: many, or unknown). Not part of the
    # vectors' identity: what a search does with a question in another language (see `reads`).
    languages: tuple[str, ...] | None = None

    def reads(self, language: str) -> bool:
        """Whether the model was trained on `language` (`und`, text without letters, it reads)."""
        return self.languages is None or language == "und" or language in self.languages


class ChunkingInfo(_Frozen):
    """How documents were cleaned and chunked."""

    chunk_tokens: int
    overlap_tokens: int
    language: str
    splitter: str = "sentencex"
    cleaning_rules: int
    # Passages matched with their document's title in front (indexes made before this field: without).
    titles: bool = False
    # Where the scraped-page rules applied (before this field: to every file).
    cleaning: str = "web"
    # What a passage is matched with in front of it (`indexer.types.PassageContext`; before this field: title).
    context: str = "title"
    # How pages without text were read (`OcrSettings.describe`; before this field: not at all). Not a reason
    # to rebuild: a page read differently changes its document's text, and changed documents are re-embedded.
    ocr: str = "off"

    @property
    def passage_context(self) -> PassageContext:
        """The context passages of this index are matched with (none when titles are off)."""
        return PassageContext(self.context) if self.titles else PassageContext.none


class Counts(_Frozen):
    """How much the version holds."""

    documents: int
    chunks: int


class VectorInfo(_Frozen):
    """How vectors are searched: exact in small segments, an HNSW graph in large ones."""

    metric: Literal["inner_product"] = "inner_product"
    ann_min_chunks: int
    hnsw_m: int
    hnsw_ef_construction: int
    hnsw_ef_search: int


class LexicalInfo(_Frozen):
    """The BM25 scoring, and how text was analysed into terms (`indexer.analysis`). An index is always searched
    with the analyzer and language that built it; manifests written before this was recorded name
    `english-1`, the analyzer every index had then."""

    variant: str = "lucene k1=1.5 b=0.75, statistics of the whole live collection"
    tokens: str = "words of 2+ characters, lower-cased, English stop words removed, Snowball English stems"
    analyzer: str = "english-1"
    # The collection's language: `auto` (each passage's own, detected) or a language code.
    language: str = "en"
    # Passages per language as analysed, counted as they were written (a document replaced or deleted is still
    # counted until its segment is merged, or the next full build); what questions are matched against.
    languages: dict[str, int] = {}

    def same_analysis(self, other: LexicalInfo) -> bool:
        """Whether `other` analyses text exactly as this does (same analyzer and language)."""
        return (self.analyzer, self.language) == (other.analyzer, other.language)

    def main_languages(self, share: float = 0.5) -> list[str]:
        """The languages holding at least `share` of the counted passages, most first."""
        total = sum(self.languages.values())
        ranked = sorted(self.languages, key=lambda code: -self.languages[code])
        return [code for code in ranked if total and self.languages[code] / total >= share]


class SegmentInfo(_Frozen):
    """One segment of this version: what it holds and which of it is deleted."""

    name: str
    documents: int  # written into the segment, deleted ones included
    chunks: int
    tokens: int
    hnsw: bool
    deletes: str | None = None  # tombstone file inside the segment directory
    deleted_documents: int = 0
    deleted_chunks: int = 0
    deleted_tokens: int = 0
    # Chunks per language as the analyzer found them (deleted ones included until a merge).
    languages: dict[str, int] = {}

    @property
    def live_chunks(self) -> int:
        """Chunks not deleted."""
        return self.chunks - self.deleted_chunks


class SourceInfo(_Frozen):
    """What the last build read from its source folder: files looked at, pages read, files skipped by reason."""

    files: int
    folder: str | None = None  # the folder's absolute path, where its files are served from (None: not recorded)
    pages: int = 0
    ocr_pages: int = 0  # of the pages, those read by OCR
    skipped: dict[str, int] = {}


class CandidateScore(_Frozen):
    """How one search setting did on the judged questions."""

    name: str  # e.g. "dense", "hybrid rrf", "hybrid dbsf w=0.70"
    ndcg_at_10: float  # mean over every judged question


class Calibration(_Frozen):
    """Search defaults chosen for this collection from judged questions (`python -m indexer calibrate`).

    Requests that do not name a mode, fusion or weight get these. The evidence is kept beside the choice so a
    reader can see what it rests on: how many questions, every candidate's score, and the choosing rule's own
    score on questions it did not see (k-fold cross-validation).
    """

    mode: Literal["dense", "lexical", "hybrid"]
    fusion: Literal["dbsf", "rrf"] | None = None  # hybrid only
    dense_weight: float | None = None  # hybrid dbsf only
    # Whether the collection's reranker re-scores (None: calibrated without one, or before this field).
    rerank: bool | None = None
    chosen: str  # the candidate's name
    questions: int
    folds: int
    judgments: str  # where the judged questions came from
    calibrated_at: datetime
    held_out_ndcg_at_10: float  # the choosing rule, cross-validated: each question scored by a choice made without it
    candidates: tuple[CandidateScore, ...]


class Manifest(_Frozen):
    """Everything needed to use an index version correctly, and to refuse it when it does not fit.

    Its size grows with the number of segments, never with the number of documents, so a commit costs
    what it changes.
    """

    format: Literal["seekr-index"] = "seekr-index"
    format_version: int = FORMAT_VERSION
    version: int
    created_at: datetime
    package_version: str
    model: ModelInfo
    chunking: ChunkingInfo
    counts: Counts
    vectors: VectorInfo
    lexical: LexicalInfo = LexicalInfo()
    segments: tuple[SegmentInfo, ...]
    next_chunk_id: int
    build_seconds: float | None = None
    source: SourceInfo | None = None  # None: never built from a folder (or built before this was recorded)
    calibration: Calibration | None = None  # None: the service's defaults (never calibrated, or cleared)
    # Files sent over HTTP keep their bytes, served at /source and as page images (`indexer.storage.originals`).
    keep_originals: bool = False

    @classmethod
    def create(
        cls,
        *,
        version: int,
        model: ModelInfo,
        chunking: ChunkingInfo,
        counts: Counts,
        vectors: VectorInfo,
        segments: tuple[SegmentInfo, ...],
        next_chunk_id: int,
        build_seconds: float | None,
        source: SourceInfo | None = None,
        calibration: Calibration | None = None,
        lexical: LexicalInfo | None = None,
        keep_originals: bool = False,
    ) -> Manifest:
        """The manifest of a version committed now by this package."""
        return cls(
            version=version,
            created_at=datetime.now(UTC),
            package_version=__version__,
            model=model,
            chunking=chunking,
            counts=counts,
            vectors=vectors,
            segments=segments,
            next_chunk_id=next_chunk_id,
            build_seconds=build_seconds,
            source=source,
            calibration=calibration,
            lexical=lexical or LexicalInfo(),
            keep_originals=keep_originals,
        )

    def save(self, directory: Path) -> Path:
        """Write `manifest.json` into `directory` (the caller makes the directory durable)."""
        path = directory / MANIFEST_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        """Read `manifest.json` from `directory`; IndexCorruptError if missing or invalid."""
        path = directory / MANIFEST_FILE
        try:
            raw = json.loads(path.read_bytes())
        except FileNotFoundError as exc:
            raise IndexCorruptError(f"{path} is missing; rebuild the index with `python -m indexer build`") from exc
        except ValueError as exc:
            raise IndexCorruptError(f"{path} is not valid JSON ({exc})") from exc
        found = raw.get("format_version") if isinstance(raw, dict) else None
        if found != FORMAT_VERSION:
            raise IndexCorruptError(
                f"{path} has format version {found}; this program reads version {FORMAT_VERSION}. Rebuild the "
                "index with this version of `python -m indexer build` (documents added through the API are "
                "kept: the build re-reads them from the old version)."
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise IndexCorruptError(f"{path} is not a valid manifest: {exc.errors()[0]['msg']}") from exc

    def language_warning(self) -> str | None:
        """A warning when most passages are in languages the model was not trained on, naming the fix."""
        model, counted = self.model, self.lexical.languages
        total = sum(counted.values())
        if model.languages is None or not total:
            return None
        unread = {code: n for code, n in counted.items() if not model.reads(code)}
        if sum(unread.values()) * 2 <= total:
            return None
        named = ", ".join(f"{code} {n * 100 // total}%" for code, n in sorted(unread.items(), key=lambda i: -i[1]))
        return (
            f"most passages are in languages model {model.id} was not trained on ({named}; it reads "
            f"{', '.join(model.languages)}): its dense scores mean little there, and searches of questions in "
            "those languages rank by keywords. Use a multilingual model: a folder such as "
            "intfloat/multilingual-e5-small or paraphrase-multilingual-MiniLM-L12-v2 (--model PATH), or an "
            "embedding server serving one (see docs/models.md)."
        )

    def runtime_warning(self, runtime: str) -> str | None:
        """A warning if queries are embedded by another runtime than the index's vectors (close, not equal)."""
        if runtime == self.model.runtime:
            return None
        return (
            f"the index's vectors were made by runtime {self.model.runtime!r} and queries will be embedded by "
            f"{runtime!r}: scores shift slightly (cosine about 0.99 between runtimes). Set the runtime to "
            f"{self.model.runtime!r}, or rebuild the index with `python -m indexer build SRC --index DIR "
            f"--runtime {runtime}`."
        )

    def check_prompts(self, query_prompt: str, passage_prompt: str) -> None:
        """Raise ManifestMismatchError, saying what differs, if queries would get other prompts than the index's
        passages were made for."""
        have = (self.model.query_prompt, self.model.passage_prompt)
        if have != (query_prompt, passage_prompt):
            raise ManifestMismatchError(
                f"the index was built with query prompt {have[0]!r} and passage prompt {have[1]!r}, but the "
                f"embedder puts {query_prompt!r} and {passage_prompt!r} in front: scores would be off. Use the "
                "index's prompts (the service and `indexer query` read them from the manifest), or rebuild with "
                "`python -m indexer build SRC --query-prompt ... --passage-prompt ...`."
            )

    def check_model(self, model_id: str, dimension: int) -> None:
        """Raise ManifestMismatchError, saying what differs, if the index was built with another model."""
        if self.model.id != model_id or self.model.dimension != dimension:
            raise ManifestMismatchError(
                f"the index was built with model {self.model.id!r} (dimension {self.model.dimension}) but "
                f"the configured model is {model_id!r} (dimension {dimension}). Configure model "
                f"{self.model.id!r}, or rebuild the index with `python -m indexer build SRC --index DIR "
                f"--model {model_id}`."
            )
