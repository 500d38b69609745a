"""docs/model-servers.md's examples, run: each `python -m indexer build` line against the stand-in server (its
host replaced by the stand-in's, the path kept), and the `PUT /collections` body through the app."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bench.model_servers import KEY, ModelServer
from service.app import create_app
from service.settings import Settings
from tests.conftest import AUTH, ROOT, SEEDS, wait_ready
from tests.conftest import KEY as API_KEY
from tests.fakes import FakeEmbedder

PAGE = ROOT / "docs" / "model-servers.md"
BLOCKS = re.findall(r"```sh\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
HOST = re.compile(r"https?://[\w.-]+:\d+")
BUILDS = [line for block in BLOCKS for line in block.splitlines() if "python -m indexer build" in line]
PUTS = [line for block in BLOCKS for line in block.splitlines() if line.startswith("curl ") and "-X PUT" in line]


@pytest.fixture(scope="module")
def stand_in() -> Iterator[ModelServer]:
    running = ModelServer(FakeEmbedder())
    yield running
    running.stop()


def test_the_page_has_examples_of_each_contract() -> None:
    assert len(BUILDS) >= 4 and PUTS
    for api in ("tei:", "openai:", "SEEKR_EMBED_API=ollama"):
        assert any(api in line for line in BUILDS), api


@pytest.mark.parametrize("line", BUILDS)
def test_build_examples_run(line: str, stand_in: ModelServer, tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "docs")
    (tmp_path / "secret").write_text(KEY, encoding="utf-8")
    words = shlex.split(HOST.sub(stand_in.base, line).replace("/run/secrets/embed-key", str(tmp_path / "secret")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEKR_EMBED")}
    env |= {"SEEKR_EMBED_KEY": KEY, "SEEKR_EMBED_CACHE": str(tmp_path / "vectors"), "SEEKR_EMBED_MAX_TOKENS": "254"}
    while "=" in words[0]:  # VAR=value prefixes
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words[:3] == ["python", "-m", "indexer"]
    proc = subprocess.run(
        [sys.executable, *words[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"embedding: \d+ chunks in [\d.]+s \(\d+ chunks/s\)", proc.stdout), proc.stdout
    manifest = json.loads(next((tmp_path / "index").glob("v*/manifest.json")).read_text())
    assert re.fullmatch(r"(openai|tei|ollama):\S+", manifest["model"]["id"])
    assert manifest["model"]["endpoint"].startswith(stand_in.base)
    assert KEY not in proc.stdout + proc.stderr and KEY not in json.dumps(manifest)


def test_the_put_example_makes_the_collection(stand_in: ModelServer, fake_seed_index: Path, tmp_path: Path) -> None:
    (line,) = PUTS
    body = json.loads(HOST.sub(stand_in.base, shlex.split(line)[shlex.split(line).index("-d") + 1]))
    name = re.search(r"/collections/([\w-]+)", line)
    assert name is not None
    settings = Settings(index_dir=fake_seed_index, model="fake-hash", api_key=API_KEY, embed_key=KEY,
                        embed_cache=tmp_path / "vectors")  # fmt: skip
    with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as client:
        wait_ready(client)
        made = client.put(f"/collections/{name.group(1)}", json=body, headers=AUTH)
        assert made.status_code == 201, made.text
        assert made.json()["model"] == f"{body['embed_api']}:{body['embed_model']}"
