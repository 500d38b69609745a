"""Run a build whose embedder waits for the parent's go-ahead before each batch: SRC INDEX.

Used by the kill test as a subprocess. Before embedding batch i it prints `batch i` and reads one line from
stdin, so the parent decides exactly how far the build gets before it is killed, whatever the machine's speed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from indexer.embed.base import BATCH_SIZE, Vectors
from tests.fakes import FakeEmbedder


class GatedEmbedder(FakeEmbedder):
    """FakeEmbedder that announces each batch on stdout and waits for a line on stdin."""

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        for i in range(0, len(texts), batch_size):
            print(f"batch {i // batch_size}", flush=True)
            sys.stdin.readline()
        return super().encode(texts, batch_size=batch_size, progress=progress)


if __name__ == "__main__":
    from indexer.building.builder import build_index

    src, index = sys.argv[1], sys.argv[2]
    report = build_index(Path(src), Path(index), GatedEmbedder(), batch_size=8)
    print(f"committed {report.version}", flush=True)
