"""Slow tier: a real uvicorn process over loopback, and the CLI as a user types it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from bench.samples import make_pdf, make_scanned_pdf
from tests.conftest import ROOT, SEEDS, RunningServer, start_server, wait_until
from tests.tiny_models import make_tiny_cross_encoder

pytestmark = pytest.mark.slow


def test_real_server_answers_get_and_post(real_server: RunningServer) -> None:
    r = httpx.get(f"{real_server.base_url}/search", params={"q": "Where did Wang Yi meet Lavrov", "k": 3})
    assert r.status_code == 200
    top = r.json()["results"][0]
    assert top["doc_id"] == "000_27323d1700c7a7d6.txt" and "Astana" in top["text"]
    r = httpx.post(f"{real_server.base_url}/search", json={"query": "Temur Umarov Uzbekistan", "mode": "lexical"})
    assert r.status_code == 200 and r.json()["results"][0]["doc_id"] == "001_a1533b252d97245d.txt"
    r = httpx.post(f"{real_server.base_url}/search", content="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    stats = httpx.get(f"{real_server.base_url}/stats").json()
    assert stats["documents"] == 5 and stats["model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_logs_are_json_with_request_ids(real_server: RunningServer) -> None:
    request_id = uuid.uuid4().hex
    r = httpx.get(f"{real_server.base_url}/search", params={"q": "Samarkand"}, headers={"X-Request-ID": request_id})
    assert r.headers["X-Request-ID"] == request_id
    wait_until(lambda: request_id in real_server.log_path.read_text(), "the access log line")
    records = [json.loads(line) for line in real_server.log_path.read_text().splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message", "request_id"} <= set(rec) for rec in records)
    access = [rec for rec in records if rec["request_id"] == request_id]
    assert access and access[0]["logger"] == "uvicorn.access" and "/search?q=Samarkand" in access[0]["message"]
    metrics = httpx.get(f"{real_server.base_url}/metrics").text
    assert "seekr_search_seconds_bucket" in metrics


def test_sigterm_shuts_down_cleanly(real_seed_index: Path, tmp_path: Path) -> None:
    server = start_server(real_seed_index, tmp_path / "server.log")
    server.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells how it ended.
    assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
    log = server.log_path.read_text()
    assert "Application shutdown complete" in log and "Finished server process" in log


def test_server_refuses_mismatched_model(real_seed_index: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "service", "--index", str(real_seed_index), "--model", "/nonexistent/other-model"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2
    assert "built with model 'sentence-transformers/all-MiniLM-L6-v2'" in proc.stderr
    assert "/nonexistent/other-model" in proc.stderr


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "indexer", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def test_cli_build_incremental_and_query(tmp_path: Path) -> None:
    src = tmp_path / "docs"
    src.mkdir()
    for f in SEEDS.iterdir():
        (src / f.name).write_bytes(f.read_bytes())
    (src / "notes.bin").write_bytes(b"\x00\x01binary")
    (src / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    make_pdf(src / "report.pdf", pages=3)
    make_scanned_pdf(src / "scan.pdf")
    index = tmp_path / "index"

    # OCR off: the scan is skipped as needing it (tests/ingest/test_ocr.py builds with it on).
    first = _cli("build", str(src), "--index", str(index), "--ocr", "off", "--report", str(tmp_path / "report.json"))
    assert first.returncode == 0, first.stderr
    assert "documents: 6 (6 added" in first.stdout
    assert "files: 9 read, 3 pages; skipped: 3 (" in first.stdout
    assert "latin1.txt [not_utf8]: not UTF-8" in first.stdout and "scan.pdf [no_text_layer]" in first.stdout
    assert "1 scanned file(s) need OCR, which is off: build with --ocr auto" in first.stdout
    assert "time:" in first.stdout
    # Progress goes to stderr; to a pipe or a file as whole lines, never carriage-return redraws.
    assert "embedding" in first.stderr and "\r" not in first.stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["skipped_by_kind"] == {"unsupported": 1, "not_utf8": 1, "no_text_layer": 1}
    assert {s["path"] for s in report["skipped"]} == {"notes.bin", "latin1.txt", "scan.pdf"}

    again = _cli("build", str(src), "--index", str(index), "--quiet", "--ocr", "off")
    assert again.returncode == 0
    assert "nothing changed: embedded 0 chunks" in again.stdout

    query = _cli("query", str(index), "Where did Wang Yi meet Lavrov", "-k", "2")
    assert query.returncode == 0, query.stderr
    assert query.stdout.splitlines()[0].startswith("2 results for 'Where did Wang Yi meet Lavrov' (hybrid")
    assert "000_27323d1700c7a7d6.txt" in query.stdout.split("\n2. ")[0]

    cross_encoder = make_tiny_cross_encoder(tmp_path)
    reranked = _cli("query", str(index), "Where did Wang Yi meet Lavrov", "-k", "3", "--reranker", str(cross_encoder))
    assert reranked.returncode == 0, reranked.stderr
    assert "(hybrid, reranked 20, " in reranked.stdout.splitlines()[0]  # the first 20, whatever k


@pytest.mark.parametrize(
    "command",
    [
        ["indexer", "--help"],
        ["indexer", "build", "--help"],
        ["indexer", "watch", "--help"],
        ["indexer", "query", "--help"],
        ["service", "--help"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "usage:" in proc.stdout and len(proc.stdout) > 200


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    proc = _cli("query", str(tmp_path / "missing"), "anything")
    assert proc.returncode == 2 and "no index at" in proc.stderr and "Traceback" not in proc.stderr
    proc = _cli("build", str(SEEDS), "--index", str(tmp_path / "i"), "--chunk-tokens", "1000")
    assert proc.returncode == 2 and "exceeds the model's limit of 254" in proc.stderr
