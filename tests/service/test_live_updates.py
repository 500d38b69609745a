"""Process-level tests of live updates: searches during writes, and kill -9 during writes.

The server is the real app under uvicorn with the fake embedder (tests/fake_server.py), so each start
takes about a second and the crash test can restart it many times.
"""

from __future__ import annotations

import functools
import itertools
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from indexer.storage.base import Backend
from indexer.storage.factory import open_backend
from indexer.storage.local.backend import LocalBackend
from indexer.storage.local.versions import open_index
from indexer.storage.settings import BackendName
from service.settings import Settings
from tests.conftest import AUTH, HANG_SECONDS, start_fake_server, storage

pytestmark = pytest.mark.slow


@dataclass
class _Server:
    """The fake server over the seeds index of one engine."""

    base: str
    index: Settings
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=HANG_SECONDS)


def _start(index: Settings, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The fake server over `index` (either engine)."""
    env = {"SEEKR_BACKEND": index.backend.value, "SEEKR_MILVUS_URI": index.milvus_uri}
    return start_fake_server(index.index_dir, log, **env)


@pytest.fixture
def index(seed_backend: Backend, engine: BackendName, tmp_path: Path) -> Settings:
    """The seeds index on each engine, closed here: a Milvus Lite file is served by one process at a time."""
    seed_backend.close()
    return storage(engine, tmp_path)


@pytest.fixture
def server(index: Settings, tmp_path: Path) -> Iterator[_Server]:
    proc, base = _start(index, tmp_path / "server.log")
    running = _Server(base, index, proc)
    yield running
    running.stop()


def _check_consistent(index: Path | Settings) -> dict[str, str]:
    """The committed version agrees with itself; returns doc_id -> stored text."""
    backend = open_backend(index) if isinstance(index, Settings) else LocalBackend(index)
    try:
        snap = backend.open()  # checks manifest, store, FAISS and BM25 counts
        snap.deep_check()  # and every id, row by row
        return {d.doc_id: d.text for d in snap.store.documents()}
    finally:
        backend.close()


def _wait_for(condition: threading.Condition, predicate: Callable[[], bool], what: str) -> None:
    """Wait until `predicate` holds; the generous limit only turns a hang into a failure with a reason."""
    with condition:
        if not condition.wait_for(predicate, timeout=HANG_SECONDS):
            raise AssertionError(f"hung for {HANG_SECONDS} s waiting for {what}")


def _seen_or_failed(observed: list[tuple[int, list[str]]], errors: list[str], version: int) -> bool:
    # A background merge may commit a newer version before any search reads this one: then searches never see it,
    # and the wait is over once they see what replaced it.
    return bool(errors) or any(v >= version for v, _ in observed)


def test_searches_never_wait_or_see_half_a_write(server: _Server, seeds_copy: Path) -> None:
    seeds = {p.relative_to(seeds_copy).as_posix() for p in seeds_copy.rglob("*") if p.is_file()}
    versions: dict[int, frozenset[str]] = {1: frozenset(seeds)}
    live: set[str] = set(seeds)
    observed: list[tuple[int, list[str]]] = []
    errors: list[str] = []
    stop = threading.Event()
    seen = threading.Condition()

    def searcher(mode: str) -> None:
        with httpx.Client(base_url=server.base, timeout=30) as c:
            while not stop.is_set():
                try:
                    r = c.get("/search", params={"q": "walrus colony Putin summit", "k": 20, "mode": mode})
                except httpx.HTTPError as exc:  # a search that never answers is a failure, not a silent hang
                    with seen:
                        errors.append(f"{mode} search failed: {type(exc).__name__}: {exc}")
                        seen.notify_all()
                    return
                with seen:
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {r.text[:200]}")
                    else:
                        body = r.json()
                        observed.append((body["index_version"], [h["doc_id"] for h in body["results"]]))
                    seen.notify_all()

    def writer() -> None:
        rng = random.Random(7)
        with httpx.Client(base_url=server.base, timeout=60, headers=AUTH) as c:
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
                    return
                version = r.json()["index_version"]
                versions[version] = frozenset(live)
                # Searches keep running while the next write is prepared; each version is seen before the next
                # write, so the test covers every version whatever the machine's speed.
                _wait_for(seen, functools.partial(_seen_or_failed, observed, errors, version), f"v{version}")

    threads = [threading.Thread(target=searcher, args=(m,)) for m in ("hybrid", "lexical", "dense", "hybrid")]
    for t in threads:
        t.start()
    try:
        writer()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=HANG_SECONDS)
    assert not errors, errors[:5]
    assert len(versions) == 31
    # Searches ran on every version while writes happened: on each version a write returned, or on the merge's
    # version that replaced it before the next write.
    seen_versions = {v for v, _ in observed}
    written = sorted(versions)
    for v, after in zip(written, [*written[1:], max(seen_versions) + 1], strict=True):
        assert any(v <= s < after for s in seen_versions), (v, sorted(seen_versions))

    def live_at(version: int) -> frozenset[str]:
        # A version no write returned is a background merge's: it holds what the last write before it left.
        return versions[max(v for v in versions if v <= version)]

    for version, doc_ids in observed:
        assert set(doc_ids) <= live_at(version), (version, set(doc_ids) - live_at(version))
    server.stop()  # a Milvus Lite file opens in one process at a time
    assert set(_check_consistent(server.index)) == live_at(max(versions))


KEEPERS = ("keep-0", "keep-1", "keep-2")  # upserted again and again, never deleted
ROUNDS = 20
UPSERTS_PER_ROUND = 6  # acknowledged before each kill, at least
DELETES_PER_ROUND = 3


@dataclass
class _Ledger:
    """What the crash test's writer has been told: the last acknowledged state of each document."""

    present: dict[str, str] = field(default_factory=dict)  # doc_id -> marker of its last acknowledged upsert
    absent: set[str] = field(default_factory=set)  # acknowledged deletes
    upserts: int = 0  # acknowledged in the current round
    deletes: int = 0
    total_upserts: int = 0
    total_deletes: int = 0
    in_flight: tuple[str, str, str | None] | None = None  # (op, doc_id, marker) sent without an answer
    failure: str | None = None  # a write the live server refused: a bug, reported instead of waited on

    def quota_met(self, upserts: int, deletes: int) -> bool:
        """This round has at least so many acknowledged writes (or the server refused one)."""
        return bool(self.failure) or (self.upserts >= upserts and self.deletes >= deletes)

    def check(self, stored: dict[str, str], round_no: int) -> None:
        """Every acknowledged write is in `stored`; the one write in flight at the kill either landed or not."""
        for doc_id, marker in self.present.items():
            if self.in_flight and self.in_flight[1] == doc_id:
                continue
            assert doc_id in stored and marker in stored[doc_id], (round_no, doc_id, marker)
        assert not (self.absent - {self.in_flight[1] if self.in_flight else ""}) & set(stored), round_no
        if self.in_flight is None:
            return
        op, doc_id, sent = self.in_flight
        candidates = [m for m in (self.present.get(doc_id), sent if op == "put" else None) if m is not None]
        now = next((m for m in candidates if m in stored.get(doc_id, "")), None)
        # Stored with the old or the new content, or absent (and then only if it may be: a delete or a create).
        assert (now is not None) == (doc_id in stored), (round_no, self.in_flight, stored.get(doc_id))
        assert now is not None or op == "delete" or doc_id not in self.present, (round_no, self.in_flight)
        # Whichever way the unanswered write went, it is now the document's known state.
        if now is None:
            self.present.pop(doc_id, None)
            self.absent.add(doc_id)
        else:
            self.present[doc_id] = now
            self.absent.discard(doc_id)
        self.in_flight = None


def _crash_writer(base: str, round_no: int, ledger: _Ledger, cond: threading.Condition) -> None:
    """Writes until the server dies: a keeper upsert, a new victim, a delete of the oldest victim, repeat."""
    with httpx.Client(base_url=base, timeout=30, headers=AUTH) as c:
        for step in itertools.count():
            marker = f"mark{round_no}x{step}"
            with cond:
                victims = sorted(d for d in ledger.present if d.startswith("victim-"))
            if step % 3 == 0:
                op, doc_id = "put", KEEPERS[(step // 3) % len(KEEPERS)]
            elif step % 3 == 1 or not victims:
                op, doc_id = "put", f"victim-{round_no}-{step}"
            else:
                op, doc_id = "delete", victims[0]
            with cond:
                ledger.in_flight = (op, doc_id, marker if op == "put" else None)
            try:
                if op == "put":
                    r = c.put(f"/documents/{doc_id}", json={"text": f"Crash test document {marker} about petrels."})
                else:
                    r = c.delete(f"/documents/{doc_id}")
            except httpx.TransportError:
                return  # killed: the write in flight may or may not have landed (the ledger says which it was)
            with cond:
                if r.status_code != 200:
                    ledger.failure = f"{op} {doc_id}: {r.status_code} {r.text[:300]}"
                    cond.notify_all()
                    return
                ledger.in_flight = None
                if op == "put":
                    ledger.present[doc_id] = marker
                    ledger.absent.discard(doc_id)
                    ledger.upserts += 1
                    ledger.total_upserts += 1
                else:
                    ledger.present.pop(doc_id)
                    ledger.absent.add(doc_id)
                    ledger.deletes += 1
                    ledger.total_deletes += 1
                cond.notify_all()


def test_kill9_during_writes_keeps_every_acknowledged_write(index: Settings, tmp_path: Path) -> None:
    rng = random.Random(2024)
    ledger = _Ledger()
    cond = threading.Condition()
    log = tmp_path / "server.log"
    kills = 0
    for round_no in range(ROUNDS):
        proc, base = _start(index, log)
        ledger.upserts = ledger.deletes = 0
        thread = threading.Thread(target=_crash_writer, args=(base, round_no, ledger, cond))
        thread.start()
        # Kill once this round has its quota of acknowledged writes, plus a few more chosen at random, so the
        # kill lands at varied points of a write while the writer is still sending.
        upserts = UPSERTS_PER_ROUND + rng.randrange(4)
        _wait_for(cond, functools.partial(ledger.quota_met, upserts, DELETES_PER_ROUND), f"round {round_no}'s writes")
        assert ledger.failure is None, ledger.failure
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        thread.join(timeout=HANG_SECONDS)
        assert not thread.is_alive()
        # The committed version as the kill left it, before any restart repairs what the writer left behind.
        ledger.check(_check_consistent(index), round_no)
    proc, base = _start(index, log)
    try:
        for doc_id in KEEPERS:
            marker = ledger.present[doc_id]
            r = httpx.get(f"{base}/search", params={"q": marker, "mode": "lexical", "k": 1})
            assert r.json()["results"][0]["doc_id"] == doc_id
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    ledger.check(_check_consistent(index), ROUNDS)  # and after the restart's repairs
    print(
        f"\ncrash test: {kills} SIGKILLs, {ledger.total_upserts} acknowledged upserts, "
        f"{ledger.total_deletes} acknowledged deletes, {len(ledger.present)} documents and "
        f"{len(ledger.absent)} deletes checked after the last restart"
    )
    assert kills == ROUNDS
    assert ledger.total_upserts >= ROUNDS * UPSERTS_PER_ROUND and ledger.total_deletes >= ROUNDS * DELETES_PER_ROUND
    assert set(KEEPERS) <= set(ledger.present) and len(ledger.absent) >= ROUNDS * DELETES_PER_ROUND - 1


def test_second_process_picks_up_new_version(fake_seed_index: Path, tmp_path: Path) -> None:
    a, base_a = start_fake_server(fake_seed_index, tmp_path / "a.log")
    b, base_b = start_fake_server(fake_seed_index, tmp_path / "b.log")
    try:
        r = httpx.put(f"{base_a}/documents/shared", json={"text": "Kittiwakes nest on the cliffs."}, headers=AUTH)
        version = r.json()["index_version"]
        # Process b looks for new versions every SEEKR_RELOAD_INTERVAL (0.2 s here); wait for it to say so.
        deadline = time.monotonic() + HANG_SECONDS
        while httpx.get(f"{base_b}/stats").json()["index_version"] != version:
            assert time.monotonic() < deadline, "the other process never picked up the new version"
            time.sleep(0.02)
        hits = httpx.get(f"{base_b}/search", params={"q": "kittiwakes cliffs", "mode": "lexical"}).json()["results"]
        assert hits[0]["doc_id"] == "shared"
        # Writes from the second process land on top of the first one's, never beside them.
        r = httpx.put(f"{base_b}/documents/other", json={"text": "Gannets dive for fish."}, headers=AUTH)
        assert r.json()["index_version"] == version + 1
        assert {"shared", "other"} <= set(open_index(fake_seed_index).store.hashes())
    finally:
        for proc in (a, b):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
