"""Shared fixtures: the fake embedder, small corpora, built indexes, and the real model (slow tier)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from indexer.building.builder import build_index
from indexer.embed.base import Embedder
from indexer.storage.base import Backend, Snapshot
from indexer.storage.settings import BackendName
from service.app import create_app
from service.settings import Settings
from tests.fakes import FakeEmbedder

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "docs"
    shutil.copytree(SEEDS, dst)
    return dst


@pytest.fixture
def fake_seed_index(tmp_path: Path, seeds_copy: Path, fake_embedder: FakeEmbedder) -> Path:
    index_dir = tmp_path / "index"
    build_index(seeds_copy, index_dir, fake_embedder)
    return index_dir


# The backend-neutral tests run on both engines: the local one, and Milvus (Milvus Lite, the same search core).
ENGINES = [BackendName.local, pytest.param(BackendName.milvus, marks=pytest.mark.milvus)]


def storage(engine: BackendName, root: Path, **more: Any) -> Settings:
    """Settings placing an index of `engine` under `root` (a directory, or a Milvus Lite file); `more` are other
    settings (the model is the fake's unless they name one)."""
    return Settings(
        backend=engine, index_dir=root / "index", milvus_uri=str(root / "milvus.db"), **{"model": "fake-hash", **more}
    )


def engine_backend(engine: BackendName, root: Path) -> Backend:
    """An index of `engine` under `root`."""
    from indexer.storage.factory import open_backend

    return open_backend(storage(engine, root))


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> BackendName:
    """Each storage engine in turn."""
    engine: BackendName = request.param
    return engine


@pytest.fixture
def seed_backend(
    engine: BackendName, tmp_path: Path, seeds_copy: Path, fake_embedder: FakeEmbedder
) -> Iterator[Backend]:
    """The seeds indexed with the fake embedder, on each engine in turn."""
    backend = engine_backend(engine, tmp_path)
    build_index(seeds_copy, backend, fake_embedder)
    yield backend
    backend.close()


@pytest.fixture
def fake_snapshot(seed_backend: Backend) -> Snapshot:
    return seed_backend.open()


# Tests wait for conditions, never for time: this limit only turns a hang into a failure with a reason.
HANG_SECONDS = 300


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = HANG_SECONDS) -> None:
    """Poll `predicate` until it holds; AssertionError naming `what` if it never does within `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(0.02)


def metric(client: TestClient, name: str, labels: dict[str, str]) -> float | None:
    """The value of /metrics' series `name` with exactly `labels` (None: no such series)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def wait_ready(client: TestClient) -> None:
    """Poll /readyz until 200 (the model loads in a background thread)."""
    wait_until(lambda: client.get("/readyz").status_code == 200, "the service to become ready")


@contextlib.contextmanager
def fake_client(index: Path | Settings) -> Iterator[TestClient]:
    """A ready TestClient of the real app, with the fake embedder plugged in where the model goes.

    `index`: a local index directory, or settings naming the index (e.g. `storage(engine, root)`)."""
    settings = index if isinstance(index, Settings) else Settings(index_dir=index, model="fake-hash")
    app = create_app(settings, embedder_factory=lambda s: FakeEmbedder())
    with TestClient(app) as client:
        wait_ready(client)
        yield client


@pytest.fixture
def client(seed_backend: Backend, engine: BackendName, tmp_path: Path) -> Iterator[TestClient]:
    """The app serving the seeds, on each engine in turn."""
    with fake_client(storage(engine, tmp_path)) as c:
        yield c


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One ONNX export cache for the run (servers started by tests inherit it), not the user's own.

    Shared by pytest-xdist's workers (their temp folders have one parent), so the model is exported once per
    run, not once per worker; an export is atomic, so two workers racing to make it both get a whole one.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    cache = root / "models"
    cache.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEEKR_MODEL_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="session")
def real_embedder(model_cache: Path) -> Embedder:
    """The bundled model on the production default runtime (ONNX here; int8 where the CPU has VNNI/AVX2)."""
    from indexer.embed.runtime import load_embedder

    return load_embedder()


@pytest.fixture(scope="session")
def torch_embedder() -> Embedder:
    """The bundled model on sentence-transformers (torch): the reference the ONNX runtimes are checked against."""
    from indexer.embed.torch_runtime import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def real_seed_index(tmp_path_factory: pytest.TempPathFactory, real_embedder: Embedder) -> Path:
    index_dir = tmp_path_factory.mktemp("real") / "index"
    build_index(SEEDS, index_dir, real_embedder)
    return index_dir


KEY = "k3y"
AUTH = {"Authorization": f"Bearer {KEY}"}


def start_fake_server(index_dir: Path, log: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """The real app under uvicorn with the fake embedder and the write key KEY; returns (process, base url)."""
    port = free_port()
    env = {**os.environ, "SEEKR_INDEX_DIR": str(index_dir), "SEEKR_API_KEY": KEY, "SEEKR_RELOAD_INTERVAL": "0.2", **env}
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_server", str(port)], cwd=ROOT, env=env, stdout=fh, stderr=fh
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + HANG_SECONDS
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


def free_port() -> int:
    """A free TCP port on loopback."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RunningServer:
    """A real `python -m service` process listening on loopback."""

    base_url: str
    process: subprocess.Popen[str]
    log_path: Path


def start_server(index_dir: Path, log_path: Path, *extra: str, timeout: float = HANG_SECONDS) -> RunningServer:
    """Start the service as a subprocess and wait until /readyz answers 200."""
    port = free_port()
    # The write key README's document API examples use.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "SEEKR_API_KEY": "change-me"}
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service",
            "--index",
            str(index_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {log_path.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return RunningServer(base, proc, log_path)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"server not ready within {timeout}s: {log_path.read_text()}")


@pytest.fixture(scope="session")
def real_server(real_seed_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(real_seed_index, tmp_path_factory.mktemp("server") / "server.log")
    yield from _stop_after(server)


@pytest.fixture(scope="session")
def target_base_url(request: pytest.FixtureRequest) -> str:
    """SEEKR_BASE_URL (e.g. the Docker smoke test's container) or a real server started here."""
    external = os.environ.get("SEEKR_BASE_URL")
    if external:
        return external.rstrip("/")
    server: RunningServer = request.getfixturevalue("real_server")
    return server.base_url


def _stop_after(server: RunningServer) -> Iterator[RunningServer]:
    yield server
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=30)
