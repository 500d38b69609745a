"""The hash of a file's bytes, recorded with each document read from it so the very file can be served later."""

from __future__ import annotations

import hashlib
from pathlib import Path

HASH_KEY = "file_sha256"  # the metadata field holding the hash of a document's file
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()
