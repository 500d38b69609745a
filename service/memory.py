"""Keep a long-running process's memory flat: return freed heap to the OS after each index swap.

Each write builds a new index version and drops the old one: tens of MB of FAISS, BM25 and tokenizer buffers,
freed from whichever thread-pool thread ran it. glibc keeps freed memory in per-thread arenas and rarely gives
it back, so under mixed searches and writes RSS climbs for minutes although nothing leaks (a soak measured
+47% in 10 minutes; searches alone stay flat). `malloc_trim(0)` hands the free pages back, and capping the
number of arenas (as `MALLOC_ARENA_MAX` would) keeps the freed space from being spread over one arena per
thread. Off glibc (musl, macOS) both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    return libc if hasattr(libc, "malloc_trim") else None


_M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h


def limit_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (call before threads start allocating); a no-op elsewhere."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, arenas)


def release_free_memory() -> None:
    """Return the heap's free pages to the OS (glibc only; a no-op elsewhere)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
