"""Process-level tests of live updates: searches during writes, and kill -9 during writes.

The server is the real app under uvicorn with the fake embedder (tests/fake_server.py), so each start
takes about a second and the crash test can restart it many times.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from indexer.index import open_index
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.slow

KEY = "k3y"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _start(index_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "SEEKR_INDEX_DIR": str(index_dir), "SEEKR_API_KEY": KEY, "SEEKR_RELOAD_INTERVAL": "0.2"}
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_server", str(port)], cwd=ROOT, env=env, stdout=fh, stderr=fh
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(log.read_text())


@pytest.fixture
def server(fake_seed_index: Path, tmp_path: Path) -> Iterator[str]:
    proc, base = _start(fake_seed_index, tmp_path / "server.log")
    yield base
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def _check_consistent(index_dir: Path) -> dict[str, str]:
    """The committed version agrees with itself; returns doc_id -> stored text."""
    snap = open_index(index_dir)  # checks manifest, store, FAISS and BM25 counts
    docs = snap.store.documents()
    chunk_ids = snap.store.chunk_ids()
    assert sum(d.n_chunks for d in docs) == len(chunk_ids) == snap.vectors.ntotal
    assert snap.lexical.ids.tolist() == chunk_ids
    assert {d.doc_id: d.content_hash for d in docs} == snap.manifest.documents
    assert {r.doc_id for r in snap.store.chunks(chunk_ids).values()} <= {d.doc_id for d in docs}  # no orphans
    return {d.doc_id: d.text for d in docs}


def test_searches_never_wait_or_see_half_a_write(server: str, fake_seed_index: Path) -> None:
    seeds = set(open_index(fake_seed_index).manifest.documents)
    versions: dict[int, frozenset[str]] = {1: frozenset(seeds)}
    live: set[str] = set(seeds)
    observed: list[tuple[int, list[str]]] = []
    errors: list[str] = []
    stop = threading.Event()

    def searcher(mode: str) -> None:
        with httpx.Client(base_url=server, timeout=30) as c:
            while not stop.is_set():
                r = c.get("/search", params={"q": "walrus colony Putin summit", "k": 20, "mode": mode})
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                    continue
                body = r.json()
                observed.append((body["index_version"], [h["doc_id"] for h in body["results"]]))

    def writer() -> None:
        rng = random.Random(7)
        with httpx.Client(base_url=server, timeout=60, headers=AUTH) as c:
            for step in range(30):
                if step % 3 == 2 and len(live) > len(seeds):
                    victim = rng.choice(sorted(live - seeds))
                    r = c.delete(f"/documents/{victim}")
                    live.discard(victim)
                else:
                    batch = [
                        {"id": f"w{step}-{i}", "text": f"Walrus colony report {step}.{i} from the summit shore."}
                        for i in range(4)
                    ]
                    r = c.post("/documents", json={"documents": batch})
                    live.update(d["id"] for d in batch)
                if r.status_code != 200:
                    errors.append(f"write {r.status_code} {r.text[:200]}")
                    continue
                versions[r.json()["index_version"]] = frozenset(live)

    threads = [threading.Thread(target=searcher, args=(m,)) for m in ("hybrid", "lexical", "dense", "hybrid")]
    write_thread = threading.Thread(target=writer)
    for t in threads:
        t.start()
    write_thread.start()
    write_thread.join(timeout=120)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors[:5]
    assert len(versions) == 31 and len(observed) > 50
    seen_versions = {v for v, _ in observed}
    assert len(seen_versions) > 3  # searches ran across many versions while writes happened
    for version, doc_ids in observed:
        assert version in versions, version
        assert set(doc_ids) <= versions[version], (version, set(doc_ids) - versions[version])
    _check_consistent(fake_seed_index)


def test_kill9_during_writes_keeps_every_acknowledged_write(fake_seed_index: Path, tmp_path: Path) -> None:
    rng = random.Random(2024)
    expected: dict[str, str] = {}  # acknowledged upserts: doc_id -> marker in its text
    deleted: set[str] = set()  # acknowledged deletes
    kills = 0
    log = tmp_path / "server.log"
    for round_no in range(20):
        proc, base = _start(fake_seed_index, log)
        stored = _check_consistent(fake_seed_index)
        for doc_id, marker in expected.items():
            assert doc_id in stored and marker in stored[doc_id], (round_no, doc_id)
        assert not deleted & set(stored), deleted & set(stored)
        # Writes until a random moment, then SIGKILL (a write may be in flight; it may or may not land).
        deadline = time.monotonic() + rng.uniform(0.05, 0.6)
        with httpx.Client(base_url=base, timeout=30, headers=AUTH) as c:
            step = 0
            while time.monotonic() < deadline:
                step += 1
                if step % 4 == 0 and expected:
                    victim = rng.choice(sorted(expected))
                    if c.delete(f"/documents/{victim}").status_code == 200:
                        expected.pop(victim)
                        deleted.add(victim)
                    continue
                doc_id = f"r{round_no}-{step % 3}"
                marker = f"mark{round_no}x{step}"
                if doc_id in deleted:
                    continue
                r = c.put(f"/documents/{doc_id}", json={"text": f"Crash test document {marker} about petrels."})
                if r.status_code == 200:
                    expected[doc_id] = marker
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
    proc, base = _start(fake_seed_index, log)
    try:
        stored = _check_consistent(fake_seed_index)
        for doc_id, marker in expected.items():
            assert marker in stored[doc_id]
            r = httpx.get(f"{base}/search", params={"q": marker, "mode": "lexical", "k": 1})
            assert r.json()["results"][0]["doc_id"] == doc_id
        assert not deleted & set(stored)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    print(f"\ncrash test: {kills} SIGKILLs, {len(expected)} acknowledged documents kept, {len(deleted)} deletes kept")
    assert kills == 20 and expected and deleted


def test_second_process_picks_up_new_version(fake_seed_index: Path, tmp_path: Path) -> None:
    a, base_a = _start(fake_seed_index, tmp_path / "a.log")
    b, base_b = _start(fake_seed_index, tmp_path / "b.log")
    try:
        r = httpx.put(f"{base_a}/documents/shared", json={"text": "Kittiwakes nest on the cliffs."}, headers=AUTH)
        version = r.json()["index_version"]
        started = time.monotonic()
        while httpx.get(f"{base_b}/stats").json()["index_version"] != version:
            assert time.monotonic() - started < 5, "the other process did not pick up the new version"
            time.sleep(0.02)
        waited = time.monotonic() - started
        hits = httpx.get(f"{base_b}/search", params={"q": "kittiwakes cliffs", "mode": "lexical"}).json()["results"]
        assert hits[0]["doc_id"] == "shared"
        assert waited < 0.2 + 1.0  # SEEKR_RELOAD_INTERVAL is 0.2 s here; loading the version takes the rest
        # Writes from the second process land on top of the first one's, never beside them.
        r = httpx.put(f"{base_b}/documents/other", json={"text": "Gannets dive for fish."}, headers=AUTH)
        assert r.json()["index_version"] == version + 1
        assert {"shared", "other"} <= set(open_index(fake_seed_index).manifest.documents)
    finally:
        for proc in (a, b):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
