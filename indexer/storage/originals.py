"""The original bytes of files sent over HTTP, kept for a collection that asks for them (`keep_originals`).

One folder per document (named by the SHA-256 of its id, so any id is a safe name), holding the file of its
current version, named by the SHA-256 of its bytes and its extension (which says its format): the bytes are
checked against the name before they are served, and a replaced document's old file is told apart from the
new one by name alone. Files are written before the version that names them is committed and old ones removed
after it (`keep`), so a crash leaves at most a file too many, never a document without its file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import ConfigError


@dataclass(frozen=True)
class Original:
    """A file as it was sent: its bytes and its extension (".pdf")."""

    data: bytes
    suffix: str

    @property
    def sha256(self) -> str:
        """The SHA-256 of the bytes, in hex."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Kept:
    """What a collection keeps: files and bytes in all."""

    files: int
    bytes: int


class Originals:
    """The kept files of one collection, under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _folder(self, doc_id: str) -> Path:
        return self.root / hashlib.sha256(doc_id.encode("utf-8")).hexdigest()

    def path(self, doc_id: str, sha256: str, suffix: str) -> Path:
        """Where the file of `doc_id` with hash `sha256` and extension `suffix` is kept (it may be absent)."""
        return self._folder(doc_id) / f"{sha256}{suffix.lower()}"

    def put(self, doc_id: str, original: Original) -> tuple[str, Path | None]:
        """Keep `original` as the file of `doc_id`'s next version: its SHA-256, and the file this call wrote (None:
        it was kept already). Written to a temporary file and renamed, so a reader never sees part of it."""
        sha = original.sha256  # hashed once: the bytes may be a large file
        target = self.path(doc_id, sha, original.suffix)
        if target.is_file():
            return sha, None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(original.data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha, target

    def keep(self, doc_id: str, name: str | None) -> None:
        """Remove every file of `doc_id` but the one called `name` (None: all of them, and its folder)."""
        folder = self._folder(doc_id)
        if name is None:
            shutil.rmtree(folder, ignore_errors=True)
            return
        for entry in folder.glob("*"):
            if entry.name != name:
                entry.unlink(missing_ok=True)

    def kept(self) -> Kept:
        """How many files are kept, and their bytes."""
        files = size = 0
        for entry in self.root.glob("*/*"):
            if not entry.name.startswith(".tmp-"):
                files += 1
                size += entry.stat().st_size
        return Kept(files, size)

    def drop(self) -> None:
        """Remove every kept file (the collection is dropped)."""
        shutil.rmtree(self.root, ignore_errors=True)


def originals_at(root: Path | None) -> Originals:
    """The store under `root`; ConfigError when the engine has no folder for it (a Milvus server without
    SEEKR_ORIGINALS_DIR)."""
    if root is None:
        raise ConfigError(
            "this engine has no folder to keep original files in: set SEEKR_ORIGINALS_DIR (a Milvus server keeps "
            "no files)"
        )
    return Originals(root)
