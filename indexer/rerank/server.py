"""Reranking servers: Hugging Face text-embeddings-inference (TEI) and infinity's `/rerank`, and the Cohere-style
`/v1/rerank` contract (Cohere, infinity, vLLM, Jina and most hosted rerankers speak it).

Contracts followed: TEI 1.x `POST /rerank` `{"query", "texts", "raw_scores"}` -> `[{"index", "score"}]`; Cohere
v1 `POST /v1/rerank` `{"model", "query", "documents"}` -> `{"results": [{"index", "relevance_score"}]}`. The
base URL is the part before `/rerank` (`http://gpu-host:8080`, or `https://api.example.com/v1`). A server that
is down, slow, refuses the key or answers something else raises `RerankerError` naming the server and what it
answered (never the key); the stage then keeps the fused order and says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from indexer.model_client import ClientOptions, ModelClient
from indexer.rerank.base import RerankerError


class RerankApi(StrEnum):
    """The reranking contracts seekr speaks."""

    tei = "tei"  # text-embeddings-inference and infinity: POST /rerank {"query", "texts"}
    cohere = "cohere"  # POST {base}/rerank {"model", "query", "documents"} (base usually ends in /v1)


class ServerReranker:
    """A reranking server at `url` speaking `api`; `key` goes in the Authorization header."""

    def __init__(
        self, api: RerankApi, url: str, model: str | None = None, key: str | None = None, timeout: float = 30.0
    ) -> None:
        self._api = api
        self._url = url.rstrip("/")
        self._model = model
        # No retries: a search waits for its reranker, and a failed one keeps the fused order and says why.
        self._http = ModelClient(ClientOptions(key, timeout, retries=0), "reranking server", RerankerError)

    @property
    def model_id(self) -> str:
        """The contract, the server and the model it was asked for (no key)."""
        return f"{self._api.value}:{self._url}" + (f" {self._model}" if self._model else "")

    def _body(self, question: str, passages: Sequence[str]) -> dict[str, Any]:
        if self._api is RerankApi.tei:
            return {"query": question, "texts": list(passages), "raw_scores": False, "truncate": True}
        body: dict[str, Any] = {"query": question, "documents": list(passages)}
        if self._model:
            body["model"] = self._model
        return body

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        """The server's score of each passage, in order."""
        if not passages:
            return []
        where = f"{self._url}/rerank"
        data = self._http.post(where, self._body(question, passages))
        items = data if self._api is RerankApi.tei else data.get("results") if isinstance(data, dict) else None
        key = "score" if self._api is RerankApi.tei else "relevance_score"
        scores: dict[int, float] = {}
        try:
            for item in items or []:
                scores[int(item["index"])] = float(item[key])
        except (TypeError, KeyError, ValueError) as exc:
            raise RerankerError(f"reranking server {where} answered in another shape ({exc!r})") from exc
        if sorted(scores) != list(range(len(passages))) or not all(math.isfinite(s) for s in scores.values()):
            raise RerankerError(
                f"reranking server {where} scored {len(scores)} of {len(passages)} passages (or gave non-numbers)"
            )
        return [scores[i] for i in range(len(passages))]
