"""Recognised pages kept on disk by the page's content, so that no page is recognised twice.

The key is a hash of the engine's identity (name, version, languages) and the page image's pixels: a rebuild,
a renamed or moved file, or the same page in another file finds it again; another engine, version or language
reads anew. One small JSON file per page, written atomically (a crash leaves no half entry).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from indexer.ingest.ocr.base import Recognized

if TYPE_CHECKING:
    from PIL import Image


def page_key(identity: str, image: Image.Image) -> str:
    """The cache key of `image` as recognised by the engine `identity`."""
    digest = hashlib.sha256(f"{identity}\n{image.mode} {image.size}\n".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


class OcrCache:
    """A folder of recognised pages by key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> Recognized | None:
        """The page recognised under `key`, or None (also for an entry that cannot be read)."""
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            words = tuple(
                (int(w[0]), int(w[1]), int(w[2]), float(w[3]), float(w[4]), float(w[5]), float(w[6]))
                for w in data.get("words", [])  # entries written before words were kept have none
            )
            return Recognized([str(line) for line in data["lines"]], float(data["confidence"]), words)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, page: Recognized) -> None:
        """Keep `page` under `key`; a cache that cannot be written is only slower, so failures are ignored."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as fh:
                json.dump({"lines": page.lines, "confidence": page.confidence, "words": page.words}, fh)
            os.replace(fh.name, path)
        except OSError:
            return
