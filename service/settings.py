"""The service's one typed settings object, read from environment variables (and CLI flags via __main__)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from indexer.building.watch import DEFAULT_SETTLE_MS
from indexer.embed.base import DEFAULT_MODEL
from indexer.embed.runtime import Runtime
from indexer.embed.server import EmbedApi, server_model_id
from indexer.embed.settings import EmbedServerSettings
from indexer.ingest.clean import Cleaning
from indexer.ingest.documents import DEFAULT_MAX_FILE_BYTES
from indexer.ingest.ocr.settings import OcrOptions
from indexer.model_cache import cache_root
from indexer.rerank.settings import RerankOptions
from indexer.retrieval.fusion import Fusion
from indexer.retrieval.results import LongQuestions
from indexer.retrieval.searcher import DEFAULT_CANDIDATES
from indexer.storage.settings import BackendName, StorageSettings, is_lite
from indexer.types import PassageContext

ENV_PREFIX = "SEEKR_"


class Settings(StorageSettings, EmbedServerSettings, OcrOptions, RerankOptions):
    """Service configuration. Every field is also an environment variable `SEEKR_<NAME>`.

    Where the index lives (backend, index_dir, milvus_*) comes from `StorageSettings`, shared with the CLI.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    source_dir: Path | None = Field(
        None, description="If set, index this folder into index_dir at start (incrementally) before serving."
    )
    watch: bool = Field(
        False,
        description="With source_dir: keep watching it after the start and apply added, changed, moved and deleted "
        "files within seconds (an incremental build per burst of changes; searches go on meanwhile).",
    )
    watch_settle_ms: int = Field(
        DEFAULT_SETTLE_MS, ge=50, le=60_000, description="watch: apply a burst once no file changed for this long."
    )
    watch_poll: bool = Field(
        False, description="watch: poll the folder instead of file system events (network mounts, some containers)."
    )
    max_file_mb: float = Field(
        DEFAULT_MAX_FILE_BYTES / 2**20,
        gt=0,
        description="Files larger than this (MB) are skipped when indexing a folder.",
    )
    source_base_url: str | None = Field(
        None,
        description="If set, the search page links each hit to its file: this URL followed by the hit's source "
        "path (and #page=N for a PDF page), e.g. https://files.example.org/docs/.",
    )
    model: str = Field(DEFAULT_MODEL, description="Embedding model name or path; must match the index manifest.")
    device: str = Field("cpu", description="Torch device for the embedding model (runtime torch only).")
    allow_download: bool = Field(
        False,
        description="Download a hub model missing from the local Hugging Face cache (once, at start). Off: "
        "nothing is ever downloaded.",
    )
    runtime: Runtime = Field(
        Runtime.auto,
        description="Inference runtime: auto (ONNX int8 or fp32 by CPU for the bundled model, torch for others), "
        "torch, onnx or onnx-int8. Should match the runtime the index was built with.",
    )
    model_cache: Path | None = Field(
        None, description="Folder of exported ONNX models (default: $XDG_CACHE_HOME/seekr/models)."
    )
    inference_threads: int = Field(
        0, ge=0, description="onnxruntime threads per forward pass; 0 means one per usable core."
    )
    # One FAISS (OpenMP) thread per search: searches already run in parallel (see the local engine).
    faiss_threads: int | None = Field(1, ge=1, description="local: FAISS OpenMP threads per search.")
    cleaning: Cleaning = Field(
        Cleaning.auto,
        description="For source_dir: where the scraped-page rules apply (auto: HTML and text that looks like a "
        "saved web page; web: every file; none).",
    )
    context: PassageContext = Field(
        PassageContext.headings,
        description="For source_dir: what each passage is matched with in front of it: headings (the document's "
        "name and the heading it stands under), document, title or none.",
    )
    page_cache: Path = Field(
        default_factory=lambda: cache_root() / "pages",
        description="Folder where rendered page images are kept by what they show (default: "
        "$XDG_CACHE_HOME/seekr/pages).",
    )
    page_cache_mb: int = Field(256, ge=0, description="Most megabytes of page images kept (0: none kept).")
    page_renders: int = Field(2, ge=1, le=64, description="Page images rendered at once (more wait their turn).")
    long_questions: LongQuestions = Field(
        LongQuestions.first,
        description="How a question longer than the model reads is embedded: first (its first window, as the model "
        "reads it; better on real paragraph-long questions) or mean (the mean of its pieces' vectors).",
    )
    fusion: Fusion = Field(Fusion.dbsf, description="Default hybrid fusion: dbsf or rrf (a request can ask).")
    dense_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        description="dbsf: the dense share of the fused score (0.5: equal, the default without judged questions).",
    )
    use_calibration: bool = Field(
        True,
        description="Where a collection was calibrated (`python -m indexer calibrate`), its chosen mode, fusion "
        "and weight replace the three settings above for it (a request can still ask).",
    )
    query_batch_size: int = Field(32, ge=1, le=1024, description="Most queries encoded in one forward pass.")
    query_batch_window_ms: float = Field(
        1.0, ge=0, le=100, description="Under concurrent load, how long a forward pass waits for more queries."
    )
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("SEEKR_HOST", "HOST"), description="Bind address.")
    port: int = Field(8000, ge=1, le=65535, validation_alias=AliasChoices("SEEKR_PORT", "PORT"), description="Port.")
    workers: int = Field(1, ge=1, description="uvicorn worker processes; each loads the index read-only.")
    candidates: int = Field(
        DEFAULT_CANDIDATES, ge=1, le=10_000, description="Candidates taken from each retriever before fusion."
    )
    api_key: SecretStr | None = Field(
        None, description="Bearer key that enables the document write API; writes are refused (403) without one."
    )
    read_key: SecretStr | None = Field(
        None, description="If set, searching and reading documents need this key (or the write key) too."
    )
    keys_file: Path | None = Field(
        None,
        description="A TOML or JSON file of API keys, each with a name, rights (read, write, admin) and the "
        "collections it may use; keys are listed by their SHA-256 and the file is re-read when it changes. With it, "
        "every request needs a key.",
    )
    max_open_collections: int = Field(
        8,
        ge=1,
        description="Collections kept open at once (their index in memory); opening one more closes the least "
        "recently used idle one. The default collection stays open.",
    )
    max_body_bytes: int = Field(10_000_000, ge=1_000, description="Largest request body accepted (413 above).")
    max_document_chars: int = Field(1_000_000, ge=1, description="Largest document text accepted (413 above).")
    max_batch_documents: int = Field(100, ge=1, le=10_000, description="Most documents in one POST /documents.")
    reload_interval: float = Field(
        1.0, gt=0, description="Seconds between checks for a version committed by another process or worker."
    )
    # Admission control (429 with Retry-After past the queue). Searches are CPU-bound: a few more in flight than
    # cores keeps the cores busy; more only lengthens every request's wait. Writes are serialised by the index's
    # writer lock anyway, so one runs while a few queue.
    max_concurrent_searches: int = Field(4, ge=1, description="Searches running at once.")
    max_queued_searches: int = Field(16, ge=0, description="Searches waiting for a slot; more get 429.")
    max_concurrent_writes: int = Field(1, ge=1, description="Document writes running at once.")
    max_queued_writes: int = Field(16, ge=0, description="Document writes waiting for a slot; more get 429.")
    retry_after_seconds: int = Field(1, ge=1, description="Retry-After sent with a 429.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field("info", description="Log level.")

    @model_validator(mode="before")
    @classmethod
    def _server_model(cls, data: Any) -> Any:
        """SEEKR_EMBED_API and SEEKR_EMBED_MODEL name the default collection's model (`api:model`) unless
        SEEKR_MODEL names one."""
        if not isinstance(data, dict) or data.get("model") or not data.get("embed_model"):
            return data
        if data.get("embed_api") in list(EmbedApi):  # an unknown one is refused by its field, with the choices
            return {**data, "model": server_model_id(EmbedApi(data["embed_api"]), data["embed_model"])}
        return data

    @model_validator(mode="after")
    def _one_process_per_lite_file(self) -> Settings:
        if self.backend is BackendName.milvus and is_lite(self.milvus_uri) and self.workers > 1:
            raise ValueError(
                f"SEEKR_WORKERS={self.workers} with a Milvus Lite file ({self.milvus_uri}): a Lite file opens in one "
                "process only. Use one worker, or point SEEKR_MILVUS_URI at a Milvus server (http://host:19530)."
            )
        return self
