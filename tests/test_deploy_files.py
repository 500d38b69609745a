"""The deployment files say what the README promises (the Docker smoke test runs the image itself)."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.conftest import ROOT


def test_compose_has_volume_healthcheck_and_ports() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    svc = compose["services"]["seekr"]
    assert svc["build"]["context"] == "." and svc["build"]["network"] == "host"
    assert any(v.endswith(":/data/index") for v in svc["volumes"]) and "seekr-index" in compose["volumes"]
    assert any(":/data/docs" in v for v in svc["volumes"])
    assert "/readyz" in " ".join(svc["healthcheck"]["test"])
    assert svc["ports"] == ["127.0.0.1:8000:8000"]


def test_dockerfile_contract() -> None:
    text = (ROOT / "Dockerfile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # torch only in the export stage, from the `torch` extra, which pins the CPU wheel (never the CUDA build)
    assert "torch==2.13.0" in project["optional-dependencies"]["torch"]
    assert not any(d.startswith(("torch", "sentence-transformers")) for d in project["dependencies"])
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert [s.split()[0] for s in stages] == ["python:3.11-slim", "runtime", "runtime", "python:3.11-slim"]
    assert "['optional-dependencies']['torch']" in stages[1] and "['torch']" not in stages[0]
    final = stages[3]
    assert "COPY --from=slim /opt/venv /opt/venv" in final and "--from=export" in final
    assert "SEEKR_MODEL_CACHE=/opt/seekr/models" in final
    assert re.search(r"^USER seekr$", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*/readyz", text, re.M)
    assert re.search(r'^CMD \["python", "-m", "service.container"\]$', text, re.M)  # exec form: signals reach it
    # The seeds are indexed where the image keeps them, so that the index serves their files (/source).
    assert "HF_HUB_OFFLINE=1" in text and "indexer build /opt/seekr/seeds" in text
    assert "COPY seeds /opt/seekr/seeds" in text
    # Dependencies are installed before the code is copied, so a code change reuses that layer.
    assert text.index("pip install -r /tmp/runtime.txt") < text.index("COPY indexer ./indexer")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests", "index"} <= set(ignored)


def test_milvus_compose_is_a_writer_and_read_replicas_on_milvus_standalone() -> None:
    """deploy/milvus/compose.yaml cannot run here (no image registry): its structure is checked instead."""
    compose = yaml.safe_load((ROOT / "deploy" / "milvus" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"etcd", "minio", "milvus", "seekr-writer", "seekr"} <= set(services)
    milvus = services["milvus"]
    assert milvus["image"].startswith("milvusdb/milvus:v2.5.")  # the line Milvus Lite 2.5 (the tests') comes from
    assert milvus["command"] == ["milvus", "run", "standalone"]
    assert (
        milvus["environment"]["ETCD_ENDPOINTS"] == "etcd:2379"
        and milvus["environment"]["MINIO_ADDRESS"] == "minio:9000"
    )
    assert {k: v["condition"] for k, v in milvus["depends_on"].items()} == {
        "etcd": "service_healthy",
        "minio": "service_healthy",
    }
    writer, reader = services["seekr-writer"], services["seekr"]
    for svc in (writer, reader):
        assert svc["build"]["context"] == "../.." and svc["build"]["args"]["EXTRAS"] == "milvus"
        env = svc["environment"]
        assert env["SEEKR_BACKEND"] == "milvus" and env["SEEKR_MILVUS_URI"] == "http://milvus:19530"
        assert "/readyz" in " ".join(svc["healthcheck"]["test"])
    # One writer (Milvus has no locks); replicas serve reads only and start once the index exists.
    assert "SEEKR_API_KEY" in writer["environment"] and "SEEKR_API_KEY" not in reader["environment"]
    assert any(v.endswith(":/data/docs:ro") for v in writer["volumes"]) and "volumes" not in reader
    assert writer["depends_on"]["milvus"]["condition"] == "service_healthy"
    assert reader["depends_on"]["seekr-writer"]["condition"] == "service_healthy"
    assert str(reader["deploy"]["replicas"]).startswith("${SEEKR_REPLICAS")
    assert all(p.startswith("127.0.0.1:") for svc in (writer, reader) for p in svc["ports"])
    # The image the compose file builds installs the extra it names.
    dockerfile = (ROOT / "Dockerfile").read_text()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert 'ARG EXTRAS=""' in dockerfile and "['optional-dependencies'][sys.argv[1]]" in dockerfile
    assert any(d.startswith("pymilvus") for d in extras["milvus"])


def test_every_setting_is_documented() -> None:
    from service.settings import Settings

    documented = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`SEEKR_{name.upper()}`" not in documented]
    assert missing == [], f"docs/configuration.md does not describe SEEKR_ settings {missing}"
