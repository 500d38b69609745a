"""Passage vectors kept on disk by text, so a build that stopped (a server went down, the machine restarted) goes
on from where it was instead of paying for every passage again.

One SQLite file per cache folder; a row is (model identity, SHA-256 of the text as sent, the float32 vector).
The identity holds the model id and runtime, and the text holds its passage prompt, so a vector is only ever
reused for the same model and the same input. Vectors are written as each slice of a build is embedded, in their
own transactions: what was paid for survives the failure of the next slice.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from indexer.embed.base import BATCH_SIZE, Embedder, Spans, Vectors, WrappedEmbedder
from indexer.progress import progress_bar

CACHE_FILE = "vectors.sqlite3"
# Texts embedded between two writes to the cache: what a failure can cost again, and few enough commits.
SLICE = 512


class VectorCache:
    """The vectors of texts, by model identity and text hash. Thread-safe."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / CACHE_FILE
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash BLOB, vector BLOB, PRIMARY KEY (model, hash))"
        )
        self._lock = threading.Lock()

    def get(self, model: str, texts: Sequence[str]) -> dict[int, Vectors]:
        """The stored vector of each text of `texts` that has one, by position."""
        hashes = [_digest(t) for t in texts]
        found: dict[bytes, bytes] = {}
        with self._lock:
            for start in range(0, len(hashes), 500):  # SQLite's bound-parameter limit
                part = hashes[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT hash, vector FROM vectors WHERE model = ? AND hash IN ({marks})",
                    (model, *part),
                )
                found.update(rows)
        return {i: np.frombuffer(found[h], dtype=np.float32) for i, h in enumerate(hashes) if h in found}

    def put(self, model: str, texts: Sequence[str], vectors: Vectors) -> None:
        """Store the vectors of `texts` (one transaction)."""
        rows = [
            (model, _digest(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors, strict=True)
        ]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class CachedEmbedder(WrappedEmbedder):
    """`inner`, whose passage vectors (`encode`) are looked up in `cache` first and stored as they are made.
    Queries are never cached: they are one-off, and a search must see the server's current state."""

    def __init__(self, inner: Embedder, cache: VectorCache, *, slice_size: int = SLICE) -> None:
        super().__init__(inner)
        self._cache = cache
        self._slice = slice_size
        self._identity = f"{inner.model_id} {inner.runtime}"
        self.hits = 0  # passages taken from the cache (reported by builds and tests)

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        stored = self._cache.get(self._identity, texts)
        for i, vector in stored.items():
            out[i] = vector
        self.hits += len(stored)
        missing = [i for i in range(len(texts)) if i not in stored]
        with progress_bar(
            total=len(missing), desc="embedding", unit="chunk", enabled=progress and bool(missing)
        ) as bar:
            for start in range(0, len(missing), self._slice):
                rows = missing[start : start + self._slice]
                part = [texts[i] for i in rows]
                vectors = self._inner.encode(part, batch_size=batch_size)
                self._cache.put(self._identity, part, vectors)
                out[rows] = vectors
                bar.update(len(rows))
        return out

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, batch_size: int = BATCH_SIZE, progress: bool = False
    ) -> tuple[Vectors, list[Vectors]] | None:
        return None  # the cache keeps passage vectors alone: a build through it goes on from the cache instead
