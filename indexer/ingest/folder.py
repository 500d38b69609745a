"""Reading a folder: every supported file under it, in a stable order, hidden files left out, each file read as
`read_file` reads it, duplicate ids refused, and what was read and skipped counted; with a cache that lets a
watcher read again only the files that changed."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from indexer.ingest.documents import DEFAULT_MAX_FILE_BYTES, read_file
from indexer.ingest.read_options import ReadOptions
from indexer.ingest.readers.base import SkipKind, Skipped, count_by_kind
from indexer.ingest.readers.text import CleaningOutcome, Read
from indexer.progress import progress_bar
from indexer.types import Document

log = logging.getLogger(__name__)


@dataclass
class FolderReport:
    """What reading a folder produced."""

    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    read: ReadOptions = field(default_factory=ReadOptions)  # how the files were read
    root: Path | None = None  # the folder read, resolved
    cleaned: int = 0  # documents the scraped-page rules were applied to
    removed: Counter[str] = field(default_factory=Counter)  # lines removed, per rule
    files: int = 0  # files looked at
    pages: int = 0  # pages and slides read from paged formats
    ocr_pages: int = 0  # of them, pages whose text was recognised from their image

    def add(self, doc: Document, outcome: CleaningOutcome) -> None:
        """Count a document and what cleaning did to it."""
        self.documents.append(doc)
        self.cleaned += outcome.applied
        self.removed.update(outcome.removed)
        self.pages += len(doc.pages)
        self.ocr_pages += len(doc.ocr)

    def skipped_by_kind(self) -> dict[str, int]:
        """How many were skipped for each reason code, most first."""
        return count_by_kind(self.skipped)


ReadCache = dict[str, tuple[tuple[int, int, ReadOptions, int], list["Read | Skipped"]]]


def read_folder(
    root: Path,
    read: ReadOptions | None = None,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    progress: bool = False,
    cache: ReadCache | None = None,
) -> FolderReport:
    """Read every supported file under `root` recursively, in a stable (sorted) order.

    `cache` (kept by the caller between reads of the same folder) maps a file to what it read last time, keyed
    by its size and modification time: a file unchanged since is not read again. `read`: how (cleaning, OCR;
    None: the defaults).
    """
    read = read or ReadOptions()
    report = FolderReport(read=read, root=root.resolve())
    seen: dict[str, str] = {}
    # hidden files and folders (.git, .DS_Store) are never documents
    paths = sorted(
        p for p in root.rglob("*") if p.is_file() and not any(q.startswith(".") for q in p.relative_to(root).parts)
    )
    bar = progress_bar(paths, desc="reading", unit="file", enabled=progress)
    for path in bar:
        rel = path.relative_to(root).as_posix()
        report.files += 1
        for item in _read_cached(path, rel, read, max_file_bytes, cache):
            if isinstance(item, Skipped):
                report.skipped.append(item)
            elif item[0].doc_id in seen:
                doc = item[0]
                report.skipped.append(
                    Skipped(
                        doc.source,
                        f"duplicate document id {doc.doc_id!r} (first in {seen[doc.doc_id]})",
                        SkipKind.duplicate_id,
                    )
                )
            else:
                seen[item[0].doc_id] = item[0].source
                report.add(*item)
        bar.set_postfix(pages=report.pages, skipped=len(report.skipped), refresh=False)
    bar.close()
    for skipped in report.skipped:
        log.warning("skipped %s (%s): %s", skipped.path, skipped.kind.value, skipped.reason)
    return report


def _read_cached(
    path: Path, rel: str, read: ReadOptions, max_file_bytes: int, cache: ReadCache | None
) -> list[Read | Skipped]:
    if cache is None:
        return list(read_file(path, rel, read, max_file_bytes=max_file_bytes))
    try:
        stat = path.stat()
    except OSError:
        cache.pop(rel, None)
        return list(read_file(path, rel, read, max_file_bytes=max_file_bytes))
    key = (stat.st_size, stat.st_mtime_ns, read, max_file_bytes)
    hit = cache.get(rel)
    if hit is not None and hit[0] == key:
        return hit[1]
    items = list(read_file(path, rel, read, max_file_bytes=max_file_bytes))
    cache[rel] = (key, items)
    return items
