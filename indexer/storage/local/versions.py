"""The index directory: immutable segments, small versioned manifests, an atomically swapped pointer.

Layout::

    DIR/CURRENT                   name of the committed version, e.g. "v000003" (replaced atomically)
    DIR/v000003/manifest.json     model, chunking, counts and the version's segments with their tombstones
    DIR/segments/<name>/          one segment (see `indexer.storage.local.segment`), shared by every version listing it
    DIR/.lock                     held by the one writer
    DIR/.merge.lock               held while a merge builds a segment outside the writer lock

A write adds one new segment holding its documents, and marks the replaced or deleted documents' chunks in
a new tombstone file of the segment that held them; it then writes a new manifest into a hidden temporary
directory, makes everything durable, renames the directory to its version name and only then replaces
CURRENT. Its cost is what it changes plus one line per segment. A process killed at any moment therefore
leaves CURRENT naming a complete, unchanged version; segments and tombstone files no kept version names are
removed afterwards. Readers hold an `IndexSnapshot` that never changes under them; `transaction` writes a version,
`merge` keeps the number of segments small.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from indexer.errors import (
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    IndexReadOnlyError,
    VersionNotKeptError,
)
from indexer.manifest import MANIFEST_FILE, Manifest, VectorInfo
from indexer.storage.hnsw import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M
from indexer.storage.local.segment import ANN_MIN_CHUNKS, Segment, Tombstones, fsync_path
from indexer.storage.local.snapshot import IndexSnapshot, LiveSegment

CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
MERGE_LOCK_FILE = ".merge.lock"
SEGMENTS_DIR = "segments"
ORIGINALS_DIR = "originals"  # files sent over HTTP, kept when the collection asks (`indexer.storage.originals`)
KEEP_VERSIONS = 2  # the current one and the one before, for readers still holding it
_VERSION_DIR = re.compile(r"^v(\d{6,})$")

VECTOR_INFO = VectorInfo(
    ann_min_chunks=ANN_MIN_CHUNKS,
    hnsw_m=HNSW_M,
    hnsw_ef_construction=HNSW_EF_CONSTRUCTION,
    hnsw_ef_search=HNSW_EF_SEARCH,
)


def current_version_dir(index_dir: Path) -> Path:
    """The directory of the committed version; IndexNotFoundError when there is none."""
    pointer = index_dir / CURRENT_FILE
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError as exc:
        raise IndexNotFoundError(
            f"no index at {index_dir} (no {CURRENT_FILE} file). Build one with "
            f"`python -m indexer build SRC --index {index_dir}`."
        ) from exc
    if not _VERSION_DIR.match(name) or not (index_dir / name).is_dir():
        raise IndexCorruptError(f"{pointer} names {name!r}, which is not a version directory in {index_dir}")
    return index_dir / name


def version_dir(index_dir: Path, version: int) -> Path:
    """The directory of committed version `version`; VersionNotKeptError when it is not kept (any more)."""
    vdir = index_dir / f"v{version:06d}"
    current = int(current_version_dir(index_dir).name[1:])
    if version > current or not (vdir / MANIFEST_FILE).is_file():
        raise VersionNotKeptError(
            f"index version {version} is not kept (the current one is {current}, and the one before it is kept for "
            "readers still using it); search the current version"
        )
    return vdir


def open_index(index_dir: Path, reuse: IndexSnapshot | None = None, version: int | None = None) -> IndexSnapshot:
    """Load the committed version (or the kept version `version`), checking that manifest and segments agree.

    Segments (and tombstones) that `reuse` already holds are taken from it rather than read again, so picking
    up a new version costs what changed.
    """
    vdir = current_version_dir(index_dir) if version is None else version_dir(index_dir, version)
    manifest = Manifest.load(vdir)
    known = {s.name: s for s in reuse.segments} if reuse is not None else {}
    live = []
    for info in manifest.segments:
        path = index_dir / SEGMENTS_DIR / info.name
        old = known.get(info.name)
        segment = old.segment if old is not None else Segment.open(path)
        if old is not None and old.info.deletes == info.deletes:
            tombstones = old.tombstones
        else:
            tombstones = Tombstones.load(path / info.deletes) if info.deletes else Tombstones.none()
        if segment.chunks != info.chunks or len(tombstones.chunk_ids) != info.deleted_chunks:
            raise IndexCorruptError(
                f"{vdir} is inconsistent: segment {info.name} should hold {info.chunks} chunks with "
                f"{info.deleted_chunks} deleted, it holds {segment.chunks} with {len(tombstones.chunk_ids)} "
                "deleted. Rebuild the index."
            )
        if segment.vectors.d != manifest.model.dimension:
            raise IndexCorruptError(
                f"segment {info.name} has dimension {segment.vectors.d}, manifest says {manifest.model.dimension}"
            )
        live.append(LiveSegment(segment, info, tombstones))
    chunks = sum(s.live_chunks for s in manifest.segments)
    docs = sum(s.documents - s.deleted_documents for s in manifest.segments)
    if (docs, chunks) != (manifest.counts.documents, manifest.counts.chunks):
        raise IndexCorruptError(
            f"{vdir} is inconsistent: manifest says {manifest.counts.documents} documents / "
            f"{manifest.counts.chunks} chunks, its segments hold {docs} / {chunks}. Rebuild the index."
        )
    return IndexSnapshot(vdir, manifest, tuple(live))


def _try_lock(path: Path) -> IO[str] | None:
    """The open file holding an exclusive flock on `path`, or None if another holder has it."""
    fh = path.open("a")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


@contextlib.contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's single-writer lock (released by the OS if the process dies)."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fh = _try_lock(index_dir / LOCK_FILE)
    except PermissionError as exc:
        raise IndexReadOnlyError(
            f"cannot write the index at {index_dir}: permission denied; give this process write access to it "
            "or serve a copy it can write"
        ) from exc
    if fh is None:
        raise IndexLockedError(f"another process is writing the index at {index_dir}; wait for it to finish and retry")
    with fh:  # closing releases the lock
        yield


@contextlib.contextmanager
def merge_lock(index_dir: Path) -> Iterator[bool]:
    """Hold the merge lock if it is free (yields whether it was taken): one merge builds at a time."""
    fh = _try_lock(index_dir / MERGE_LOCK_FILE)
    try:
        yield fh is not None
    finally:
        if fh is not None:
            fh.close()


def version_numbers(index_dir: Path) -> list[int]:
    return sorted(int(m.group(1)) for p in index_dir.iterdir() if (m := _VERSION_DIR.match(p.name)))


def new_segment_dir(index_dir: Path, version: int) -> Path:
    """A fresh, unique segment directory path (not created)."""
    return index_dir / SEGMENTS_DIR / f"s{version:06d}-{uuid.uuid4().hex[:8]}"


def point_current(index_dir: Path, name: str) -> None:
    tmp = index_dir / f".{CURRENT_FILE}.{uuid.uuid4().hex[:8]}"
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT_FILE)
    fsync_path(index_dir)


def _remove_uncommitted(index_dir: Path, current_number: int) -> list[str]:
    """Remove temporary version directories, half-written pointer files, version directories newer than the
    current one (renamed but never made current), and files in `segments/` that no kept version names (unless
    a merge is building one); returns what was removed. Caller holds the write lock."""
    removed: list[str] = []
    for child in sorted(index_dir.iterdir()):
        newer = (m := _VERSION_DIR.match(child.name)) is not None and int(m.group(1)) > current_number
        if child.name.startswith((".tmp-", f".{CURRENT_FILE}.")) or newer:
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
            removed.append(child.name)
    segments = index_dir / SEGMENTS_DIR
    if not segments.is_dir():
        return removed
    referenced: dict[str, set[str]] = {}
    for n in version_numbers(index_dir):
        if current_number - KEEP_VERSIONS < n <= current_number:
            try:
                manifest = Manifest.load(index_dir / f"v{n:06d}")
            except IndexCorruptError:
                continue
            for info in manifest.segments:
                referenced.setdefault(info.name, set()).update([info.deletes] if info.deletes else [])
    with merge_lock(index_dir) as no_merge_running:
        for seg in sorted(segments.iterdir()):
            if seg.name not in referenced:
                if no_merge_running:  # else this may be the segment a merge is writing
                    shutil.rmtree(seg, ignore_errors=True)
                    removed.append(f"{SEGMENTS_DIR}/{seg.name}")
                continue
            for f in seg.glob("deletes-v*.npz"):
                if f.name not in referenced[seg.name]:
                    f.unlink(missing_ok=True)
    return removed


def recover(index_dir: Path) -> list[str]:
    """After a crash: remove what uncommitted writers left behind, and say what was removed.

    Skipped while another process holds the write lock (its temporary files are in use). The committed
    version itself is checked by `open_index`.
    """
    try:
        current_number = int(current_version_dir(index_dir).name[1:])
    except (IndexNotFoundError, IndexCorruptError):
        return []  # nothing committed to recover towards; opening the index reports why
    try:
        with write_lock(index_dir):
            return [f"removed uncommitted {name}" for name in _remove_uncommitted(index_dir, current_number)]
    except (IndexLockedError, IndexReadOnlyError):
        return []  # another writer is busy, or nobody can have written here


def prune(index_dir: Path, keep: str) -> None:
    """Remove versions older than the last KEEP_VERSIONS, then leftovers nothing kept refers to."""
    keep_number = int(keep[1:])
    for n in version_numbers(index_dir):
        if n <= keep_number - KEEP_VERSIONS:
            shutil.rmtree(index_dir / f"v{n:06d}", ignore_errors=True)
    _remove_uncommitted(index_dir, keep_number)


def _index_entries(index_dir: Path) -> list[Path]:
    """What an index keeps in `index_dir` (other entries, such as other collections' folders, are not its own)."""
    if not index_dir.is_dir():
        return []
    return [
        child
        for child in index_dir.iterdir()
        if child.name in (CURRENT_FILE, SEGMENTS_DIR, MERGE_LOCK_FILE, ORIGINALS_DIR)
        or _VERSION_DIR.match(child.name)
        or child.name.startswith((".tmp-", f".{CURRENT_FILE}."))
    ]


def has_leftovers(index_dir: Path) -> bool:
    """Whether `index_dir` holds index files but no committed version (a first build or a drop cut short)."""
    return not (index_dir / CURRENT_FILE).exists() and bool(_index_entries(index_dir))


def clear(index_dir: Path) -> list[str]:
    """Remove the index in `index_dir`: first CURRENT, after which no reader finds a version (the one step a
    crash cannot split), then every file of it; what was removed. Other entries of the folder are left.
    IndexLockedError while another process writes it."""
    with write_lock(index_dir):
        pointer = index_dir / CURRENT_FILE
        if pointer.exists():
            pointer.unlink()
            fsync_path(index_dir)
        removed = []
        for child in sorted(_index_entries(index_dir)):
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
            removed.append(child.name)
        return removed
