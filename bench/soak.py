"""`python -m bench soak --minutes N`: a mixed read/write load against one service process, then checks.

Eight clients (by default) each loop over a fixed-seed mix: searches in every mode, some with filters,
`max_per_doc` or no highlight (70%), upserts (20%) and deletes (10%) of documents that only that client writes,
so the last acknowledged write of each id is known. It reports the status counts (5xx must be 0), the server's
RSS, open file descriptors and threads after a warm-up and at the end, and finally checks that every
acknowledged write is what the service serves, that no file of a pruned version stays open once the load has
ended (a leak), and that the index on disk agrees with itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.corpus import SEED_QUESTIONS, load_corpus, write_jsonl
from bench.harness import index_corpus, serve
from indexer.embed.base import DEFAULT_MODEL
from indexer.errors import IndexCorruptError
from indexer.storage.factory import as_backend

MODES = ("dense", "lexical", "hybrid")
WORDS = [
    "harbour",
    "tide",
    "crane",
    "lighthouse",
    "gannet",
    "petrel",
    "turbine",
    "summit",
    "treaty",
    "pipeline",
    "grain",
    "railway",
]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    p.add_argument("--minutes", type=float, default=10.0, help="length of the measured run (default: 10)")
    p.add_argument("--warmup", type=float, default=20.0, help="seconds of load before the first reading")
    p.add_argument("--concurrency", type=int, default=8, help="clients (default: 8)")
    p.add_argument("--model", default=None, help="embedding model (default: the bundled MiniLM)")
    p.add_argument("--json", type=Path, default=Path("soak-results.json"), help="where to write the figures")
    return p


class Client:
    """One soak client: its own random stream and its own documents, so its ledger is exact."""

    def __init__(self, n: int, http: httpx.AsyncClient, key: str, statuses: Counter[int]) -> None:
        self.n = n
        self.rng = random.Random(1000 + n)
        self.http = http
        self.auth = {"Authorization": f"Bearer {key}"}
        self.statuses = statuses
        self.present: dict[str, str] = {}  # id -> marker of its last acknowledged upsert
        self.absent: set[str] = set()
        self.steps = 0

    async def step(self) -> None:
        rng = self.rng
        self.steps += 1
        roll = rng.random()
        if roll < 0.7:
            params: dict[str, Any] = {
                "q": rng.choice(SEED_QUESTIONS),
                "mode": rng.choice(MODES),
                "k": rng.randint(1, 10),
            }
            extra = rng.random()
            if extra < 0.15:
                params["source"] = "00"
            elif extra < 0.3 and self.present:
                params["doc_id"] = sorted(self.present)[:3]
            elif extra < 0.4:
                params["max_per_doc"] = 1
            elif extra < 0.5:
                params["highlight"] = "false"
            r = await self.http.get("/search", params=params)
        elif roll < 0.9:
            doc_id = f"soak-{self.n}-{rng.randrange(20)}"
            marker = f"m{self.n}x{self.steps}"
            text = f"Soak note {marker}: " + " ".join(rng.choices(WORDS, k=rng.randint(20, 120))) + "."
            r = await self.http.put(f"/documents/{doc_id}", json={"text": text}, headers=self.auth)
            if r.status_code == 200:
                self.present[doc_id] = marker
                self.absent.discard(doc_id)
        else:
            doc_id = f"soak-{self.n}-{rng.randrange(20)}"
            r = await self.http.delete(f"/documents/{doc_id}", headers=self.auth)
            if r.status_code in (200, 404):  # 404: it was not there, which the ledger also says
                assert (r.status_code == 200) == (doc_id in self.present), (doc_id, r.status_code)
                self.present.pop(doc_id, None)
                self.absent.add(doc_id)
        self.statuses[r.status_code] += 1
        if r.status_code == 429:
            await asyncio.sleep(float(r.headers.get("Retry-After", "1")))


def _reading(proc: psutil.Process) -> dict[str, int]:
    return {"rss_bytes": proc.memory_info().rss, "open_fds": proc.num_fds(), "threads": proc.num_threads()}


def _stale_files(proc: psutil.Process) -> list[str]:
    """Files the server holds open that were deleted from disk: the stores of pruned versions.

    Read from /proc, where Linux marks such a descriptor's target " (deleted)"; psutil's `open_files` leaves
    deleted files out, so it cannot see them.
    """
    stale: list[str] = []
    for fd in Path(f"/proc/{proc.pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed while listed
            continue
        if target.endswith(" (deleted)"):
            stale.append(target.removesuffix(" (deleted)"))
    return sorted(stale)


async def _quiet_stale_files(proc: psutil.Process, patience: float = 60.0) -> list[str]:
    """The server's stale open files once it has released them, or those it still holds after `patience` s.

    A search still running on an older version legitimately keeps that version's files open until it ends,
    so a count taken under load races with the requests. After the load, every such file must be closed;
    a leaked one never is, and the wait ends at `patience` with it listed.
    """
    deadline = time.monotonic() + patience
    while (stale := _stale_files(proc)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    return stale


async def _load(
    base: str, key: str, clients: int, warmup: float, seconds: float, proc: psutil.Process
) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        workers = [Client(n, http, key, statuses) for n in range(clients)]
        readings: dict[str, dict[str, int]] = {}
        phase_end = time.monotonic() + warmup

        samples: list[tuple[float, int]] = []  # (seconds into the measured run, RSS bytes)

        async def run(worker: Client) -> None:
            while time.monotonic() < phase_end:
                await worker.step()

        async def sample(started: float) -> None:
            while time.monotonic() < phase_end:
                samples.append((round(time.monotonic() - started), proc.memory_info().rss))
                await asyncio.sleep(30)

        await asyncio.gather(*(run(w) for w in workers))
        readings["after_warmup"] = _reading(proc)
        warm_statuses = dict(statuses)
        started = time.monotonic()
        phase_end = started + seconds
        await asyncio.gather(sample(started), *(run(w) for w in workers))
        elapsed = time.monotonic() - started
        readings["end"] = _reading(proc)
        mismatches = await _check_ledger(http, workers)
    stale = await _quiet_stale_files(proc)
    measured = {s: n - warm_statuses.get(s, 0) for s, n in statuses.items()}
    return {
        "seconds": elapsed,
        "requests": sum(measured.values()),
        "requests_per_second": sum(measured.values()) / elapsed,
        "statuses": {str(s): n for s, n in sorted(statuses.items())},
        "server_errors": sum(n for s, n in statuses.items() if s >= 500),
        "readings": readings,
        "rss_growth": readings["end"]["rss_bytes"] / readings["after_warmup"]["rss_bytes"] - 1,
        "rss_mb_every_30s": [round(rss / 2**20) for _, rss in samples],
        "ledger_mismatches": mismatches,
        "stale_open_files": stale,
        "acknowledged_documents": sum(len(w.present) for w in workers),
    }


async def _check_ledger(http: httpx.AsyncClient, workers: list[Client]) -> list[str]:
    """Every acknowledged upsert is served with its content; every acknowledged delete stays deleted."""
    problems: list[str] = []
    for w in workers:
        for doc_id, marker in w.present.items():
            r = await http.get(f"/documents/{doc_id}")
            if r.status_code != 200 or marker not in r.json()["text"]:
                problems.append(f"{doc_id}: expected {marker}, got {r.status_code}")
        for doc_id in w.absent:
            if (await http.get(f"/documents/{doc_id}")).status_code != 404:
                problems.append(f"{doc_id}: deleted but still served")
    return problems


def _check_index(index_dir: Path) -> str | None:
    """None when the committed version agrees with itself (manifest, store, FAISS, BM25), else the problem."""
    try:
        as_backend(index_dir).open().deep_check()
    except IndexCorruptError as exc:
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    """Build the seeds index, serve it, soak it, check it; print the figures and write JSON."""

    args = _parser().parse_args(argv)
    model = args.model or DEFAULT_MODEL
    key = "soak-key"
    with tempfile.TemporaryDirectory(prefix="seekr-soak-") as tmp:
        src, index = Path(tmp) / "src", Path(tmp) / "index"
        src.mkdir()
        write_jsonl(load_corpus("seeds", 1), src / "corpus.jsonl")
        runtime = os.environ.get("SEEKR_RUNTIME", "auto")
        index_corpus(src / "corpus.jsonl", index, model, runtime)
        server, base, _ = serve(index, model, runtime, None, key)
        try:
            proc = psutil.Process(server.pid)
            result = asyncio.run(_load(base, key, args.concurrency, args.warmup, args.minutes * 60, proc))
        finally:
            server.terminate()
            server.wait(timeout=60)
        result["index_problem"] = _check_index(index)
    result["concurrency"] = args.concurrency
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    r0, r1 = result["readings"]["after_warmup"], result["readings"]["end"]
    print(
        f"soak: {result['seconds']:.0f} s at concurrency {args.concurrency}, {result['requests']} requests "
        f"({result['requests_per_second']:.1f}/s), statuses {result['statuses']}, 5xx {result['server_errors']}\n"
        f"RSS {r0['rss_bytes'] / 2**20:.0f} -> {r1['rss_bytes'] / 2**20:.0f} MB ({result['rss_growth']:+.1%}), "
        f"open fds {r0['open_fds']} -> {r1['open_fds']} (pruned files still open after the load: "
        f"{len(result['stale_open_files'])}), threads {r0['threads']} -> {r1['threads']}\n"
        f"RSS MB every 30 s: {result['rss_mb_every_30s']}\n"
        f"ledger: {result['acknowledged_documents']} acknowledged documents, "
        f"{len(result['ledger_mismatches'])} mismatches; index on disk: {result['index_problem'] or 'consistent'}"
    )
    print(f"wrote {args.json}")
    ok = not result["server_errors"] and not result["ledger_mismatches"] and result["index_problem"] is None
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
