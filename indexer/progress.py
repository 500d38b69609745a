"""Progress of long steps (reading, chunking, embedding): a redrawn bar on a terminal, plain log lines elsewhere.

A bar redraws itself with carriage returns, which a log file or a pipe keeps as one endless line. When stderr
is not a terminal, tqdm-loggable's drop-in replacement writes one line every few seconds instead (done, total,
rate, elapsed, time left) to the `tqdm_loggable` logger, which `log_progress_lines` sends to stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, TypeVar

from tqdm import tqdm
from tqdm_loggable.tqdm_logging import tqdm_logging

LINE_SECONDS = 5.0  # between two progress lines in a log

T = TypeVar("T")

tqdm_logging.set_log_rate(timedelta(seconds=LINE_SECONDS))


def progress_bar(
    iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str, unit: str, enabled: bool
) -> tqdm[T]:
    """A tqdm bar over `iterable` (or updated by hand up to `total`): redrawn on a terminal, lines elsewhere."""
    kind: Any = tqdm if sys.stderr.isatty() else tqdm_logging
    bar: tqdm[T] = kind(iterable, total=total, desc=desc, unit=unit, disable=not enabled, leave=True)
    return bar


def log_progress_lines(stream: Any = None) -> None:
    """Send the progress lines (for a stderr that is not a terminal) to `stream` (default: stderr), once."""
    logger = logging.getLogger("tqdm_loggable")
    if logger.handlers:
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
