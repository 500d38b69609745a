"""The file a document was read from, found in its folder only if it is the very file that was indexed.

A document read from a folder records its path relative to the folder (`source`) and the SHA-256 of its bytes
(`file_sha256` in its metadata). The file is served only when that path, resolved, stays inside the folder (no
`..`, no absolute path, no symlink leading out) and its bytes still hash to the recorded value: a file changed
since it was indexed would show something other than what search found. A file sent over HTTP has a file only
in a collection that keeps originals (`indexer.storage.originals`), checked the same way. Text sent as JSON and
lines of a JSONL file have no file of their own.
"""

from __future__ import annotations

import mimetypes
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from stat import S_ISREG

from indexer.errors import SourceChangedError, SourceUnavailableError
from indexer.ingest.fingerprint import FILENAME_KEY, HASH_KEY, file_sha256
from indexer.types import StoredDocument


@dataclass(frozen=True)
class SourceFile:
    """A document's file, checked: where it is, its hash (the ETag), size, modification time and media type."""

    path: Path
    name: str  # what the file is called for a download: its name in the folder, or the name it was sent with
    sha256: str
    size: int
    modified: float
    media_type: str


def source_file(doc: StoredDocument, folder: Path | None, kept: Path | None = None) -> SourceFile:
    """The checked file of `doc` inside `folder`, or at `kept` for a file sent over HTTP (None: its collection
    keeps no files); raises SourceUnavailableError (no file, not in the folder, outside it) or
    SourceChangedError (its bytes differ from those indexed), each saying why."""
    recorded = doc.metadata.get(HASH_KEY)
    sent = doc.metadata.get(FILENAME_KEY)
    if isinstance(sent, str):
        if kept is None or not isinstance(recorded, str):
            raise SourceUnavailableError(
                f"document {doc.doc_id!r} was sent over HTTP as a file, and its bytes were not kept: create the "
                "collection with keep_originals (PUT /collections/{name}) and send the file again"
            )
        gone = f"the kept file of {doc.doc_id!r} is gone (the document was replaced or deleted meanwhile)"
        return _checked(doc, kept, PurePosixPath(sent).name, recorded, gone)
    if not isinstance(recorded, str):
        if "file_type" in doc.metadata:
            raise SourceUnavailableError(
                f"document {doc.doc_id!r} was indexed before files were hashed; build the index again to serve it"
            )
        raise SourceUnavailableError(
            f"document {doc.doc_id!r} was sent as text (JSON, or a line of a JSONL file): it has no file of its own"
        )
    if folder is None:
        raise SourceUnavailableError(
            "the index does not record the folder its files came from; set SEEKR_SOURCE_DIR to that folder"
        )
    relative = PurePosixPath(doc.source)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise SourceUnavailableError(f"document {doc.doc_id!r} names a path outside its folder: {doc.source!r}")
    root = folder.resolve()
    path = root.joinpath(*relative.parts).resolve()
    if not path.is_relative_to(root):
        raise SourceUnavailableError(f"the file of {doc.doc_id!r} is a link leading out of the folder; not served")
    gone = f"the file of {doc.doc_id!r} ({doc.source}) is no longer in the folder; build the index again"
    return _checked(doc, path, path.name, recorded, gone)


def _checked(doc: StoredDocument, path: Path, name: str, recorded: str, gone: str) -> SourceFile:
    """The file at `path`, if it is a regular file whose bytes hash to `recorded` (`gone`: why not, if absent)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise SourceUnavailableError(gone) from exc
    if not S_ISREG(stat.st_mode):  # from the stat above: no second look at the file system per request
        raise SourceUnavailableError(f"{doc.source} is not a file")
    if _hash(path, stat.st_size, stat.st_mtime_ns, stat.st_ino) != recorded:
        raise SourceChangedError(
            f"the file of {doc.doc_id!r} ({doc.source}) changed since it was indexed; re-index it (build again, "
            "or let the watcher catch up) to see it"
        )
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return SourceFile(path, name, recorded, stat.st_size, stat.st_mtime, media_type)


# Hashes of files by (path, size, modification time, inode): a 10 MB file is hashed once, not per range request.
_HASHES: OrderedDict[tuple[Path, int, int, int], str] = OrderedDict()
_HASHES_KEPT = 1024
_lock = threading.Lock()


def _hash(path: Path, size: int, mtime_ns: int, inode: int) -> str:
    key = (path, size, mtime_ns, inode)
    with _lock:
        if (found := _HASHES.get(key)) is not None:
            _HASHES.move_to_end(key)
            return found
    digest = file_sha256(path)
    with _lock:
        _HASHES[key] = digest
        while len(_HASHES) > _HASHES_KEPT:
            _HASHES.popitem(last=False)
    return digest
