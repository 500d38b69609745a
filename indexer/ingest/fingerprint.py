"""The hash of a file's bytes, recorded with each document read from it so the very file can be served later."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import Any

HASH_KEY = "file_sha256"  # the metadata field holding the hash of a document's file
FILENAME_KEY = "filename"  # the metadata field holding the name a file sent over HTTP had
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def kept_suffix(metadata: dict[str, Any]) -> str | None:
    """The extension of the file a document was sent over HTTP as, lower-cased (None: not sent as a file)."""
    name = metadata.get(FILENAME_KEY)
    return PurePosixPath(name).suffix.lower() if isinstance(name, str) else None


def kept_file(metadata: dict[str, Any]) -> tuple[str, str] | None:
    """(SHA-256, extension) of the file of a document sent over HTTP, when its collection keeps it (None: not)."""
    sha, suffix = metadata.get(HASH_KEY), kept_suffix(metadata)
    return (sha, suffix) if isinstance(sha, str) and suffix is not None else None
