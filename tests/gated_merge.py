"""Merge every segment of INDEX, stopping for good at STAGE (building | committing) after saying so.

Used by the merge kill test as a subprocess: the parent reads `at STAGE`, then kills this process, which is
blocked at that point whatever the machine's speed.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

from indexer.storage.local import transaction as transaction_module
from indexer.storage.local.merge import merge
from indexer.storage.local.segment import SegmentWriter
from indexer.storage.local.versions import open_index


def _stop(stage: str) -> None:
    print(f"at {stage}", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    index_dir, stage = Path(sys.argv[1]), sys.argv[2]
    if stage == "building":
        original = SegmentWriter.add_vectors

        def gated(self: SegmentWriter, *args: Any) -> None:
            original(self, *args)
            _stop(stage)

        SegmentWriter.add_vectors = gated  # type: ignore[method-assign,assignment]
    else:
        transaction_module.point_current = lambda *_: _stop(stage)  # type: ignore[attr-defined]
    snapshot = open_index(index_dir)
    merge(index_dir, snapshot, [s.name for s in snapshot.segments])
