"""Keeping an index equal to a folder as it changes: `python -m indexer watch SRC` and `SEEKR_WATCH=1`.

The folder is built once (incrementally), then watched with watchfiles (file system events; polling on request,
for network mounts where events do not arrive). Each burst of changes is applied once the folder has been quiet
for the settle time and every changed file has stopped growing, so a file being written is not read half
written. Applying is the same incremental, crash-safe build as `indexer build`: only changed files are read
again (the rest come from a cache keyed by size and modification time), only changed documents are embedded,
and the result is one atomic commit. Moves are a delete and an add; a file replaced while it was read causes
another event, so the index always ends equal to a fresh build of the folder as it finally stands.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import watchfiles

from indexer.building.builder import BuildReport
from indexer.ingest.documents import DEFAULT_MAX_FILE_BYTES
from indexer.ingest.folder import FolderReport, ReadCache, read_folder
from indexer.ingest.read_options import ReadOptions

log = logging.getLogger(__name__)

DEFAULT_SETTLE_MS = 1000
_CATCH_UP_MS = 1000  # the watch's first quiet period after which the folder is read once more
_MAX_WAIT_SECONDS = 60.0  # a file still growing after this long is read as it is; its next change re-reads it


Apply = Callable[[FolderReport], BuildReport]  # an incremental build of what was read (`sync_index`)


class FolderWatcher:
    """Applies the changes of `source` with `apply` until `stop` is set."""

    def __init__(
        self,
        source: Path,
        apply: Apply,
        *,
        read: ReadOptions | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        settle_ms: int = DEFAULT_SETTLE_MS,
        poll: bool = False,
        on_build: Callable[[BuildReport], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.source = source
        self._apply = apply
        self._read = read or ReadOptions()
        self._max_file_bytes = max_file_bytes
        self._settle = settle_ms / 1000
        self._poll = poll
        self._on_build = on_build
        self.stop = stop or threading.Event()
        self._cache: ReadCache = {}
        self.builds = 0  # syncs applied so far (the first is the initial build)

    def sync(self) -> BuildReport:
        """Make the index equal to the folder now: read what changed, embed what changed, commit once."""
        folder = read_folder(self.source, self._read, max_file_bytes=self._max_file_bytes, cache=self._cache)
        report = self._apply(folder)
        self.builds += 1
        if self._on_build is not None:
            self._on_build(report)
        return report

    def run(self) -> None:
        """Build, then apply each burst of changes until `stop` is set."""
        self.sync()
        # A file written between the first build's read and the moment the watch begins raises no event: the
        # watch's first quiet second syncs once more (unchanged files are not read again), and then only events do.
        caught_up = False
        for changes in watchfiles.watch(
            self.source,
            step=int(self._settle * 1000),  # yield once no event came for this long
            stop_event=self.stop,
            force_polling=self._poll,
            yield_on_timeout=True,
            rust_timeout=_CATCH_UP_MS,
            raise_interrupt=True,
        ):
            if not changes:
                if not caught_up and not self.stop.is_set():
                    caught_up = True
                    self.sync()
                continue
            caught_up = True
            log.info("%d changes in %s", len(changes), self.source)
            self.wait_until_stable(Path(path) for _, path in changes)
            if self.stop.is_set():
                return
            self.sync()

    def wait_until_stable(self, paths: Iterable[Path]) -> None:
        """Wait until none of `paths` changed size or modification time for one settle period."""
        wanted = list(paths)
        deadline = time.monotonic() + _MAX_WAIT_SECONDS
        before = _stats(wanted)
        while not self.stop.wait(self._settle):
            now = _stats(wanted)
            if now == before or time.monotonic() > deadline:
                return
            before = now


def _stats(paths: list[Path]) -> list[tuple[int, int] | None]:
    out: list[tuple[int, int] | None] = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            out.append(None)  # gone (deleted or moved away): stable
            continue
        out.append((stat.st_size, stat.st_mtime_ns))
    return out
