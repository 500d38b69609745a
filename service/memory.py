"""Keep a long-running process's memory flat: return freed heap to the OS after each index swap.

Each write builds a new index version and drops the old one: tens of MB of FAISS, BM25 and tokenizer buffers,
freed from whichever thread-pool thread ran it. glibc keeps freed memory in per-thread arenas and rarely gives
it back, so under mixed searches and writes RSS climbs for minutes although nothing leaks (a soak measured
+47% in 10 minutes; searches alone stay flat). `malloc_trim(0)` hands the free pages back. Off glibc (musl,
macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    return libc if hasattr(libc, "malloc_trim") else None


def release_free_memory() -> None:
    """Return the heap's free pages to the OS (glibc only; a no-op elsewhere)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
