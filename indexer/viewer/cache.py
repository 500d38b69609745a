"""Rendered page images on disk, by what they show, within a size bound (the least recently used go first)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path


class PageCache:
    """PNG files under `root`, named by the hash of their key, at most `max_bytes` in all."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes held, counted on first use

    @staticmethod
    def key(*parts: object) -> str:
        """The name of an entry: a hash of what it shows (file hash, page, width, marks)."""
        return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()

    def get(self, key: str) -> bytes | None:
        """The entry, if kept (and marked as just used)."""
        path = self.root / f"{key}.png"
        try:
            data = path.read_bytes()
            os.utime(path)
        except OSError:
            return None
        return data

    def put(self, key: str, data: bytes) -> None:
        """Keep an entry (atomically: a reader never sees half a file), then evict down to the bound."""
        if self.max_bytes <= 0 or len(data) > self.max_bytes:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.root, suffix=".part", delete=False) as fh:
            fh.write(data)
        Path(fh.name).replace(self.root / f"{key}.png")
        with self._lock:
            if self._total is None:
                self._total = self._held()
            else:
                self._total += len(data)
            if self._total > self.max_bytes:
                self._total = self._evict()

    def _held(self) -> int:
        return sum(p.stat().st_size for p in self.root.glob("*.png"))

    def _evict(self) -> int:
        entries = []
        for path in self.root.glob("*.png"):
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        entries.sort()
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= self.max_bytes * 0.9:  # below the bound with room, so evictions come in batches
                break
            path.unlink(missing_ok=True)
            total -= size
        return total
