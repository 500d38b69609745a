"""A build killed at any moment leaves the previous version loadable and unchanged."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from indexer.builder import build_index
from indexer.index import open_index
from tests.fakes import FakeEmbedder

ROOT = Path(__file__).resolve().parent.parent


def _corpus(root: Path, n: int, tag: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"doc{i:04d}.txt").write_text(
            f"Document {i} {tag}\n\n"
            + " ".join(f"Sentence {j} of document {i} mentions {tag} topic {j}." for j in range(12))
        )


def _state(index_dir: Path) -> tuple[int, dict[str, str], int]:
    snap = open_index(index_dir)
    ids = snap.store.chunk_ids()
    assert snap.vectors.ntotal == len(ids) == snap.manifest.counts.chunks
    # The lexical index agrees with the chunk table: same ids, every chunk findable by a word it contains.
    assert snap.lexical.ids.tolist() == ids
    scores = snap.lexical.scores("document")
    assert scores is not None and bool((scores > 0).all())
    return snap.version, dict(snap.manifest.documents), len(ids)


def _run(src: Path, index_dir: Path, delay: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.slow_build", str(src), str(index_dir), str(delay)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_build_killed_midway_keeps_previous_version(tmp_path: Path) -> None:
    src, index_dir = tmp_path / "src", tmp_path / "idx"
    _corpus(src, 20, "alpha")
    build_index(src, index_dir, FakeEmbedder())
    before = _state(index_dir)

    _corpus(src, 150, "beta")  # changes all 20 documents and adds 130
    started = time.perf_counter()
    proc = _run(src, index_dir, 0.02)
    _, err = proc.communicate(timeout=120)
    full = time.perf_counter() - started
    assert proc.returncode == 0, err.decode()
    after = _state(index_dir)
    assert after[0] == before[0] + 1

    # Kill builds from the old corpus towards the new one at random moments, 12 times.
    rng = random.Random(1234)
    outcomes = {"old": 0, "new": 0}
    old_src = tmp_path / "old"
    _corpus(old_src, 20, "alpha")
    for _ in range(12):
        if _state(index_dir)[1] != before[1]:
            build_index(old_src, index_dir, FakeEmbedder())  # back to the old content
        base = _state(index_dir)
        proc = _run(src, index_dir, 0.02)
        time.sleep(rng.uniform(0.0, full * 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        state = _state(index_dir)  # loadable and self-consistent after every kill
        if state[1] == base[1]:
            assert state == base
            outcomes["old"] += 1
        else:
            assert state[1] == after[1] and state[2] == after[2]
            outcomes["new"] += 1
    assert outcomes["old"] >= 3, outcomes
    # A normal run afterwards cleans up leftovers and finishes the job.
    final = build_index(src, index_dir, FakeEmbedder())
    assert _state(index_dir)[1] == after[1]
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]
    assert final.documents == 150
