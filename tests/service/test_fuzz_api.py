"""Property-based API fuzzing: schemathesis generates requests from the OpenAPI spec against a real server.

It checks every operation with `--checks all`: no 5xx, every status and content type documented, bodies
matching their schemas, schema-valid requests accepted, schema-violating ones rejected, 405s listing the
allowed methods, and writes without the key refused. The seed is fixed and one worker runs the cases in
order, so a run is repeatable; any finding fails the test and its report says how to reproduce it.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import AUTH, KEY, ROOT, start_fake_server

pytestmark = pytest.mark.slow

SEED = 20261126
EXAMPLES = 100  # per operation and phase: with the stateful phase, about 1,500 requests in all


def test_schemathesis_finds_nothing(fake_seed_index: Path, tmp_path: Path) -> None:
    proc, base = start_fake_server(fake_seed_index, tmp_path / "server.log")
    try:
        operations = sum(len(ops) for ops in httpx.get(f"{base}/openapi.json").json()["paths"].values())
        run = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli",
                "--config-file", str(Path(__file__).with_name("schemathesis.toml")),
                "run", f"{base}/openapi.json",
                "--header", f"{next(iter(AUTH))}: Bearer {KEY}",
                "--checks", "all",
                "--max-examples", str(EXAMPLES),
                "--seed", str(SEED),
                "--workers", "1",
                "--generation-database", "none",
                "--no-color",
                "--report", "junit", "--report-dir", str(tmp_path / "report"),
            ],
            cwd=ROOT, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    print(run.stdout[-1500:])
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert f"Selected: {operations}/{operations}" in run.stdout and f"Tested: {operations}" in run.stdout
    generated = re.search(r"(\d+) generated, \1 passed", run.stdout)
    assert generated and int(generated.group(1)) >= EXAMPLES * operations, run.stdout[-2000:]
