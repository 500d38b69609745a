"""Runtime choice, the manifest's record of it, and what happens when the runtime changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.building.builder import build_index
from indexer.embed import runtime as rt
from indexer.embed.onnx_export import ensure_exported
from indexer.embed.runtime import Runtime, resolve_runtime
from indexer.errors import ModelLoadError
from indexer.storage.local.versions import open_index
from tests.fakes import FakeEmbedder


class _OtherRuntime(FakeEmbedder):
    @property
    def runtime(self) -> str:
        return "other"

    @property
    def endpoint(self) -> str | None:
        return None


@pytest.mark.parametrize(("fast_int8", "expected"), [(True, Runtime.onnx_int8), (False, Runtime.onnx)])
def test_auto_picks_onnx_by_cpu_for_the_bundled_model(
    monkeypatch: pytest.MonkeyPatch, fast_int8: bool, expected: Runtime
) -> None:
    monkeypatch.setattr(rt, "cpu_has_fast_int8", lambda: fast_int8)
    assert resolve_runtime("auto", "all-MiniLM-L6-v2") is expected
    assert resolve_runtime("auto", "sentence-transformers/all-MiniLM-L6-v2") is expected


def test_auto_keeps_other_models_on_torch_and_explicit_choices_win(tmp_path: Path) -> None:
    assert resolve_runtime("auto", str(tmp_path)) is Runtime.torch
    assert resolve_runtime("onnx", str(tmp_path)) is Runtime.onnx
    assert resolve_runtime("torch", "all-MiniLM-L6-v2") is Runtime.torch
    with pytest.raises(ValueError):
        resolve_runtime("tensorflow", "all-MiniLM-L6-v2")


def test_cpu_flags_are_read_where_the_kernel_lists_them() -> None:
    flags = rt._cpu_flags()
    if Path("/proc/cpuinfo").exists():
        assert flags, "a Linux machine lists its CPU flags"
    assert isinstance(rt.cpu_has_fast_int8(), bool)


def test_the_manifest_records_the_runtime_and_a_runtime_change_reembeds_everything(
    seeds_copy: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    build_index(seeds_copy, index_dir, FakeEmbedder())
    manifest = open_index(index_dir).manifest
    assert manifest.model.runtime == "fake"
    assert manifest.runtime_warning("fake") is None
    warning = manifest.runtime_warning("other")
    assert warning is not None and "--runtime other" in warning

    other = _OtherRuntime()
    report = build_index(seeds_copy, index_dir, other)
    assert report.rebuild_reason == "runtime changed (fake -> other); vectors of one index come from one runtime"
    assert other.encoded == report.chunks > 0
    assert open_index(index_dir).manifest.model.runtime == "other"


def test_old_manifests_without_a_runtime_read_as_torch(fake_seed_index: Path) -> None:
    version = next(fake_seed_index.glob("v*"))
    path = version / "manifest.json"
    data = json.loads(path.read_text())
    del data["model"]["runtime"]
    path.write_text(json.dumps(data))
    assert open_index(fake_seed_index).manifest.model.runtime == "torch"


def test_a_missing_export_without_torch_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ModelLoadError, match=r"pip install 'seekr\[torch\]'"):
        ensure_exported(model, tmp_path / "cache", "some-model")
    assert not (tmp_path / "cache").exists()


def test_a_model_that_is_not_on_disk_is_not_downloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelLoadError, match="nothing is downloaded"):
        rt.model_folder("someone/not-a-real-model")


def test_a_download_allowed_while_the_hub_is_off_says_what_to_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE is set"):
        rt.model_folder("someone/not-a-real-model", download=True)
    with pytest.raises(ModelLoadError, match="allow the download once"):
        rt.model_folder("someone/not-a-real-model")
