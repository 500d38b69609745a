"""One HTTP client for model servers (embedding and reranking): the bearer key, a timeout, a bounded connection
pool, retries with exponential backoff on the network and on 408/425/429/5xx (honouring `Retry-After`), and the
answer read as JSON. Every failure raises the caller's error class with a message naming the server and what it
answered, never the key; what the JSON must hold is the caller's to check.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import httpx

from indexer.errors import IndexerError

RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 60.0


@dataclass(frozen=True)
class ClientOptions:
    """How to talk to a model server: its key, timeout, connections and retries."""

    key: str | None = None
    timeout: float = 60.0
    connections: int = 4
    retries: int = 3
    backoff: float = 0.5  # seconds before the first retry; doubled each time


class ModelClient:
    """POSTs JSON to a model server (thread-safe: one connection pool shared). `what` names the server in errors
    ("embedding server"), `error` is the error class raised."""

    def __init__(self, options: ClientOptions, what: str, error: type[IndexerError]) -> None:
        headers = {"Authorization": f"Bearer {options.key}"} if options.key else {}
        limits = httpx.Limits(max_connections=options.connections, max_keepalive_connections=options.connections)
        self._http = httpx.Client(headers=headers, timeout=options.timeout, limits=limits)
        self._options = options
        self._what = what
        self._error = error

    def fail(self, where: str, problem: str) -> IndexerError:
        """The error for an answer from `where` that is unusable because of `problem`."""
        return self._error(f"{self._what} {where} {problem}")

    def post(self, where: str, body: dict[str, Any]) -> Any:
        """The JSON answer of `where` to `body`, retried on the network, a 429 or a 5xx; the caller's error for
        any other status, for an answer that is not JSON, or when the retries are spent."""
        attempt = 0
        while True:
            try:
                response = self._http.post(where, json=body)
            except httpx.HTTPError as exc:
                failure = f"did not answer ({type(exc).__name__}: {exc or 'no detail'})"
                retry_after = None
            else:
                if response.status_code == 200:
                    return self._json(where, response)
                failure = f"answered {response.status_code}: {response.text[:200]}"
                if response.status_code not in RETRIED_STATUSES:
                    raise self.fail(where, failure)
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt >= self._options.retries:
                tries = f"{attempt + 1} attempts" if attempt else "1 attempt"
                raise self.fail(where, f"{failure} ({tries})")
            time.sleep(retry_after if retry_after is not None else self._options.backoff * 2**attempt)
            attempt += 1

    def _json(self, where: str, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise self.fail(where, f"answered something that is not JSON: {response.text[:100]!r}") from exc

    def close(self) -> None:
        """Close the connections."""
        self._http.close()


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` of seconds (capped at a minute; a date or nonsense: None, the backoff applies)."""
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return min(seconds, MAX_RETRY_AFTER_SECONDS) if math.isfinite(seconds) and seconds >= 0 else None
