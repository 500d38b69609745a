"""A build killed at any moment leaves the previous version loadable and unchanged."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from indexer.building.builder import build_index
from indexer.storage.local.versions import open_index
from tests.conftest import ROOT
from tests.fakes import FakeEmbedder


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
    assert scores is not None and sorted(scores) == ids and min(scores.values()) > 0
    return snap.version, dict(snap.store.hashes()), len(ids)


def _run(src: Path, index_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.slow_build", str(src), str(index_dir)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _go(proc: subprocess.Popen[str], batches: int | None) -> int:
    """Let the build embed `batches` batches (None: all, until it exits); returns the batches it announced.

    The child announces each batch and waits for a line before embedding it. With a count below the total,
    this returns once the child has announced the next batch, so the child is blocked there: how far the
    build got does not depend on the machine's speed. With the total, it returns right after the last go.
    """
    assert proc.stdin is not None and proc.stdout is not None
    announced = 0
    for line in proc.stdout:
        if not line.startswith("batch "):
            continue
        announced += 1
        if batches is not None and announced > batches:
            return announced
        proc.stdin.write("go\n")
        proc.stdin.flush()
        if batches is not None and announced == batches:
            return announced
    return announced


def test_build_killed_midway_keeps_previous_version(tmp_path: Path) -> None:
    src, index_dir = tmp_path / "src", tmp_path / "idx"
    _corpus(src, 20, "alpha")
    build_index(src, index_dir, FakeEmbedder())
    before = _state(index_dir)

    _corpus(src, 150, "beta")  # changes all 20 documents and adds 130
    proc = _run(src, index_dir)
    total = _go(proc, None)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and total > 2, err
    after = _state(index_dir)
    assert after[0] == before[0] + 1

    # Kill builds from the old corpus towards the new one, 12 times: 8 while embedding (after a chosen
    # number of batches), 4 once embedding is done (during the commit, or after it).
    rng = random.Random(1234)
    outcomes = {"old": 0, "new": 0}
    old_src = tmp_path / "old"
    _corpus(old_src, 20, "alpha")
    for attempt in range(12):
        if _state(index_dir)[1] != before[1]:
            build_index(old_src, index_dir, FakeEmbedder())  # back to the old content
        base = _state(index_dir)
        proc = _run(src, index_dir)
        embedding = attempt < 8
        if embedding:
            assert _go(proc, rng.randrange(total)) <= total  # blocked before a batch
        else:
            assert _go(proc, total) == total
            time.sleep(rng.uniform(0.0, 0.05))  # either outcome is correct here: only the kill's place varies
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        state = _state(index_dir)  # loadable and self-consistent after every kill
        if state[1] == base[1]:
            assert state == base
            outcomes["old"] += 1
        else:
            assert not embedding, "a build killed before it finished embedding changed the index"
            assert state[1] == after[1] and state[2] == after[2]
            outcomes["new"] += 1
    assert outcomes["old"] >= 8, outcomes
    # A normal run afterwards cleans up leftovers and finishes the job.
    final = build_index(src, index_dir, FakeEmbedder())
    assert _state(index_dir)[1] == after[1]
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]
    assert final.documents == 150
