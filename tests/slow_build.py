"""Run a build with a slow fake embedder (used by the kill test as a subprocess): SRC INDEX DELAY."""

from __future__ import annotations

import sys
from pathlib import Path

from indexer.builder import build_index
from tests.fakes import FakeEmbedder

if __name__ == "__main__":
    src, index, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    report = build_index(Path(src), Path(index), FakeEmbedder(delay=delay), batch_size=8)
    print(f"committed {report.version}", flush=True)
