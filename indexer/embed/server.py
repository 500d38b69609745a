"""Embedding servers: an OpenAI-compatible `/embeddings`, Hugging Face text-embeddings-inference's `/embed` and
Ollama's `/api/embed`, behind the `Embedder` interface.

Contracts followed: the OpenAI API v1 `POST {base}/embeddings` `{"model", "input": [...], "encoding_format":
"float"}` -> `{"data": [{"index", "embedding"}]}` (vLLM, infinity, LiteLLM and most hosted services speak it); TEI
1.x `POST {base}/embed` `{"inputs": [...], "normalize": true, "truncate": true}` -> `[[...], ...]`; Ollama 0.5+
`POST {base}/api/embed` `{"model", "input": [...], "truncate": true}` -> `{"embeddings": [[...], ...]}`.

Passages go out in batches, several at once; a batch that fails on the network, a 429 or a 5xx is retried with
exponential backoff (honouring `Retry-After`). Every answer is checked: JSON, one vector per text, the recorded
dimension, finite numbers. Anything else raises `EmbeddingServerError` naming the server and what it answered,
never the key. The chunker counts tokens with the bundled model's tokenizer (a server does not expose its own):
passages are sized for `max_tokens`, and the server truncates what is longer.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from indexer.embed.base import BATCH_SIZE, NO_PROMPTS, Prompts, Vectors
from indexer.errors import ConfigError, EmbeddingServerError
from indexer.model_client import ClientOptions, ModelClient
from indexer.progress import progress_bar

# The bundled MiniLM's window: what passages are sized for unless the server's model is known to read more.
DEFAULT_MAX_TOKENS = 254


class EmbedApi(StrEnum):
    """The embedding contracts seekr speaks."""

    openai = "openai"  # POST {base}/embeddings; base usually ends in /v1
    tei = "tei"  # POST {base}/embed
    ollama = "ollama"  # POST {base}/api/embed


@dataclass(frozen=True)
class ServerOptions:
    """Where an embedding server is and how to talk to it."""

    api: EmbedApi
    url: str
    model: str
    key: str | None = None
    batch_size: int = 32
    concurrency: int = 4
    timeout: float = 60.0
    retries: int = 3
    backoff: float = 0.5  # seconds before the first retry; doubled each time
    max_tokens: int = DEFAULT_MAX_TOKENS

    @property
    def model_id(self) -> str:
        """The identity recorded in manifests: the contract and the model, not the URL (a model moved to another
        host is the same model)."""
        return server_model_id(self.api, self.model)


def server_model_id(api: EmbedApi, model: str) -> str:
    """`api:model`, e.g. `openai:text-embedding-3-small`."""
    return f"{api.value}:{model}"


def parse_server_model(model_id: str) -> tuple[EmbedApi, str] | None:
    """(contract, model name) of an id naming a server model (`tei:BAAI/bge-large-en-v1.5`), None for any other
    model (a name, a path or a hub id)."""
    api, sep, name = model_id.partition(":")
    if not sep or not name or api not in EmbedApi.__members__:
        return None
    return EmbedApi(api), name


def read_key(value: str | None, file: Path | None) -> str | None:
    """The API key given as a value, or read from `file` (surrounding whitespace dropped)."""
    if value:
        return value
    if file is None:
        return None
    try:
        return file.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise ConfigError(f"the embedding server's key file {file} cannot be read ({exc.strerror})") from exc


class ServerEmbedder:
    """An embedding model behind an HTTP server. Thread-safe: the HTTP client and the pool are shared."""

    def __init__(self, options: ServerOptions, tokenizer: Tokenizer, *, dimension: int | None = None) -> None:
        """`tokenizer` counts tokens for the chunker; `dimension`: the one an index records (each answer is
        checked against it), None: asked of the server on first use."""
        if not options.url.startswith(("http://", "https://")):
            raise ConfigError(f"embedding server URL {options.url!r} must start with http:// or https://")
        self._options = options
        self._base = options.url.rstrip("/")
        self._where = {
            EmbedApi.openai: f"{self._base}/embeddings",
            EmbedApi.tei: f"{self._base}/embed",
            EmbedApi.ollama: f"{self._base}/api/embed",
        }[options.api]
        client = ClientOptions(options.key, options.timeout, options.concurrency, options.retries, options.backoff)
        self._http = ModelClient(client, "embedding server", EmbeddingServerError)
        self._pool = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="embed-server")
        self._tokenizer = tokenizer
        self._dimension = dimension
        self._dimension_lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        """The server's base URL (recorded in the manifest as where the vectors came from)."""
        return self._base

    @property
    def model_id(self) -> str:
        return self._options.model_id

    @property
    def runtime(self) -> str:
        return f"server:{self._options.api.value}"

    @property
    def dimension(self) -> int:
        with self._dimension_lock:
            if self._dimension is None:
                self._dimension = int(self._post(["dimension probe"], expected=None).shape[1])
            return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._options.max_tokens

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [(int(s), int(e)) for s, e in self._tokenizer.encode(text, add_special_tokens=False).offsets]

    @property
    def prompts(self) -> Prompts:
        return NO_PROMPTS  # prompts are put in front by `PromptedEmbedder`

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> Vectors:
        return self.encode(texts)

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        """Vectors of `texts`, in batches of the server's batch size, `concurrency` batches at once. The caller's
        `batch_size` is the in-process forward pass's and does not apply."""
        dimension = self.dimension
        if not texts:
            return np.zeros((0, dimension), dtype=np.float32)
        size = self._options.batch_size
        batches = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
        out = np.empty((len(texts), dimension), dtype=np.float32)
        with progress_bar(total=len(texts), desc="embedding (server)", unit="chunk", enabled=progress) as bar:
            futures = [self._pool.submit(self._post, batch, dimension) for batch in batches]
            try:
                for n, future in enumerate(futures):
                    out[n * size : n * size + len(batches[n])] = future.result()
                    bar.update(len(batches[n]))
            finally:
                for future in futures:
                    future.cancel()  # after a failure, batches not started yet are not sent
        return out

    def close(self) -> None:
        """Stop the pool and close the connections."""
        self._pool.shutdown(cancel_futures=True)
        self._http.close()

    def _body(self, texts: list[str]) -> dict[str, Any]:
        api, model = self._options.api, self._options.model
        if api is EmbedApi.openai:
            return {"model": model, "input": texts, "encoding_format": "float"}
        if api is EmbedApi.tei:
            return {"inputs": texts, "normalize": True, "truncate": True}
        return {"model": model, "input": texts, "truncate": True}

    def _post(self, texts: list[str], expected: int | None) -> Vectors:
        """One batch's vectors (retried on the network, a 429 or a 5xx: `ModelClient`)."""
        return self._vectors(self._http.post(self._where, self._body(texts)), len(texts), expected)

    def _vectors(self, data: Any, count: int, expected: int | None) -> Vectors:
        where = self._where
        try:
            rows = _rows(self._options.api, data)
            vectors = np.asarray(rows, dtype=np.float32)
        except (TypeError, KeyError, ValueError, IndexError) as exc:
            raise EmbeddingServerError(f"embedding server {where} answered in another shape ({exc!r})") from exc
        if vectors.ndim != 2 or len(vectors) != count:
            raise EmbeddingServerError(f"embedding server {where} answered {len(rows)} vectors for {count} texts")
        if expected is not None and vectors.shape[1] != expected:
            raise EmbeddingServerError(
                f"embedding server {where} answered vectors of dimension {vectors.shape[1]}, but the index holds "
                f"dimension {expected} (model {self.model_id}): is it serving another model?"
            )
        if not np.isfinite(vectors).all():
            raise EmbeddingServerError(f"embedding server {where} answered vectors holding NaN or infinity")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if (norms == 0).any():
            raise EmbeddingServerError(f"embedding server {where} answered an all-zero vector")
        # Normalised here whatever the server did: scores are inner products of unit vectors.
        normalised: Vectors = (vectors / norms).astype(np.float32, copy=False)
        return normalised


def _rows(api: EmbedApi, data: Any) -> list[list[float]]:
    if api is EmbedApi.openai:
        items = sorted(data["data"], key=lambda item: int(item["index"]))
        return [item["embedding"] for item in items]
    if api is EmbedApi.tei:
        if not isinstance(data, list):
            raise TypeError(f"expected a list of vectors, got {type(data).__name__}")
        return data
    rows: list[list[float]] = data["embeddings"]
    return rows
