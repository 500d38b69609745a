"""Which embedding server a model is reached at: the settings shared by the CLI and the service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from indexer.embed.server import (
    DEFAULT_MAX_TOKENS,
    EmbedApi,
    ServerOptions,
    parse_server_model,
    read_key,
    server_model_id,
)
from indexer.errors import ConfigError
from indexer.model_cache import cache_root


def default_vector_cache() -> Path:
    """Where passage vectors from embedding servers are kept unless SEEKR_EMBED_CACHE says otherwise."""
    return cache_root() / "embeddings"


class EmbedServerSettings(BaseSettings):
    """An embedding server. Every field is also an environment variable `SEEKR_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="SEEKR_", frozen=True, extra="ignore")

    embed_api: EmbedApi | None = Field(
        None, description="Embed with a server speaking this contract: openai, tei or ollama (unset: in process)."
    )
    embed_url: str | None = Field(
        None,
        description="The server's base URL: `http://gpu-host:8080` (tei), `http://host:11434` (ollama), the part "
        "before /embeddings for openai (`http://host:8000/v1`). The default collection (and the CLI) use it "
        "rather than the URL recorded at build time.",
    )
    embed_model: str | None = Field(None, description="The model the server is asked for (and recorded as api:model).")
    embed_key: SecretStr | None = Field(None, description="The server's API key (never logged or shown).")
    embed_key_file: Path | None = Field(None, description="A file holding the server's API key (instead of embed_key).")
    embed_batch_size: int = Field(32, ge=1, le=4096, description="Texts per request to the server.")
    embed_concurrency: int = Field(4, ge=1, le=64, description="Requests to the server at once during a build.")
    embed_timeout: float = Field(60.0, gt=0, description="Seconds one request may take before it is retried.")
    embed_retries: int = Field(3, ge=0, le=20, description="Retries of a request on the network, a 429 or a 5xx.")
    embed_max_tokens: int = Field(
        DEFAULT_MAX_TOKENS,
        ge=16,
        description="Tokens the server's model reads; passages are sized for it (counted with the bundled tokenizer).",
    )
    embed_cache: Path = Field(
        default_factory=default_vector_cache,
        description="Where passage vectors from servers are kept, so a build that stopped goes on where it was.",
    )

    @model_validator(mode="after")
    def _complete(self) -> EmbedServerSettings:
        if self.embed_api is not None and not self.embed_model:
            raise ValueError(f"SEEKR_EMBED_API={self.embed_api.value} needs SEEKR_EMBED_MODEL, the model to ask for")
        return self

    @property
    def server_model(self) -> str | None:
        """The model id the settings name (`api:model`), None when they name no server."""
        if self.embed_api is None or not self.embed_model:
            return None
        return server_model_id(self.embed_api, self.embed_model)

    def server_options(self, model: str, endpoint: str | None = None) -> ServerOptions | None:
        """How to reach server model `model` (None: it is not one): at `endpoint` (e.g. the URL a collection
        recorded), else at `embed_url`; ConfigError when neither is known."""
        named = parse_server_model(model)
        if named is None:
            return None
        url = endpoint or self.embed_url
        if not url:
            raise ConfigError(
                f"model {model!r} is served by an embedding server, and no URL is known: set SEEKR_EMBED_URL "
                "(or --embed-url)"
            )
        key = read_key(self.embed_key.get_secret_value() if self.embed_key else None, self.embed_key_file)
        return ServerOptions(
            api=named[0],
            url=url,
            model=named[1],
            key=key,
            batch_size=self.embed_batch_size,
            concurrency=self.embed_concurrency,
            timeout=self.embed_timeout,
            retries=self.embed_retries,
            max_tokens=self.embed_max_tokens,
        )
