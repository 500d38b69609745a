"""Which reranker searches use: the settings shared by the CLI and the service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from indexer.rerank.base import RerankRuntime
from indexer.rerank.server import RerankApi

# 20: the depth of the best published pipeline without fine-tuning on long real filings (a zero-shot reranker
# over 20 candidates); a MiniLM-L6-sized cross-encoder on torch adds about 0.7 s per search at 20 on 2 cores and
# 1.6 s at 50 (`python -m bench rerank`), so deeper is for a GPU or a reranking server.
DEFAULT_RERANK_CANDIDATES = 20
MAX_RERANK_CANDIDATES = 1000


class RerankOptions(BaseSettings):
    """A reranker. Every field is also an environment variable `SEEKR_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="SEEKR_", frozen=True, extra="ignore")

    reranker: Path | None = Field(
        None,
        description="A cross-encoder folder (sentence-transformers CrossEncoder) that re-scores the first candidates "
        "of every search; loaded at start (a folder that is not one stops the start with the reason).",
    )
    rerank_runtime: RerankRuntime = Field(
        RerankRuntime.auto,
        description="What runs a cross-encoder folder: auto (ONNX, int8 where its export kept the scores, else fp32), "
        "onnx, onnx-int8 or torch (the torch extra). ONNX exports are made once into the model cache.",
    )
    rerank_api: RerankApi | None = Field(
        None,
        description="A reranking server instead of a folder: tei (text-embeddings-inference, infinity: POST /rerank) "
        "or cohere (the Cohere-style /rerank contract); with SEEKR_RERANK_URL.",
    )
    rerank_url: str | None = Field(
        None, description="The reranking server's base URL, the part before /rerank (http://gpu-host:8080, or .../v1)."
    )
    rerank_model: str | None = Field(None, description="The model a cohere-style server is asked for.")
    rerank_key: SecretStr | None = Field(None, description="The reranking server's API key (never logged).")
    rerank_candidates: int = Field(
        DEFAULT_RERANK_CANDIDATES,
        ge=1,
        le=MAX_RERANK_CANDIDATES,
        description="Units the reranker re-scores (a request can ask).",
    )
    rerank_budget_ms: float | None = Field(
        None,
        gt=0,
        description="Past this many milliseconds the reranker is not waited for and the fused order is returned "
        "(a request can ask); unset: always waited for.",
    )

    @model_validator(mode="after")
    def _one_reranker(self) -> RerankOptions:
        if self.rerank_api is not None and not self.rerank_url:
            raise ValueError("SEEKR_RERANK_API needs SEEKR_RERANK_URL, the server's base URL (before /rerank)")
        if self.rerank_api is not None and self.reranker is not None:
            raise ValueError("SEEKR_RERANKER (a folder) and SEEKR_RERANK_API (a server): set one of them")
        return self

    @property
    def rerank_key_value(self) -> str | None:
        """The reranking server's key (None: none)."""
        return self.rerank_key.get_secret_value() if self.rerank_key else None
