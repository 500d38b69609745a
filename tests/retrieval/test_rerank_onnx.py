"""Cross-encoders on ONNX: the fp32 export scores as torch's CrossEncoder does (long passages cut the same way),
int8 is used only where the export measured it within tolerance, the export is made once, and without torch a
missing export is a clear error naming the command that makes one."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.errors import ConfigError
from indexer.rerank.base import RerankRuntime
from indexer.rerank.factory import load_reranker
from indexer.rerank.onnx_export import INT8_TOLERANCE, entry_for, probe_pairs, read_meta
from indexer.rerank.onnx_runtime import OnnxCrossEncoder
from tests.tiny_models import make_tiny_cross_encoder

QUESTION = "when did the harbour reopen after the storm"
PASSAGES = [
    "The harbour reopened in May, three weeks after the storm had closed it.",
    "Fishing boats waited outside the breakwater.",
    # Longer than the tiny model's 64 tokens with the question: cut longest-first, as transformers does.
    " ".join(
        f"sentence {i} about the harbour, its cranes, its ferries and the weather that spring." for i in range(12)
    ),
    "",
]


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_cross_encoder(tmp_path_factory.mktemp("ce"), seed=3)


def _torch_scores(folder: Path, pairs: list[tuple[str, str]]) -> np.ndarray[Any, Any]:
    from sentence_transformers import CrossEncoder

    return np.asarray(CrossEncoder(str(folder), device="cpu").predict(pairs), dtype=np.float64)


def test_fp32_onnx_scores_as_torch_does(cross_encoder: Path, model_cache: Path) -> None:
    onnx = load_reranker(cross_encoder, RerankRuntime.onnx, cache_dir=model_cache)
    expected = _torch_scores(cross_encoder, [(QUESTION, p) for p in PASSAGES])
    np.testing.assert_allclose(onnx.score(QUESTION, PASSAGES), expected, atol=1e-5)
    assert onnx.score(QUESTION, []) == []


def test_int8_is_used_only_where_it_kept_the_scores(cross_encoder: Path, model_cache: Path) -> None:
    auto = load_reranker(cross_encoder, cache_dir=model_cache)
    assert isinstance(auto, OnnxCrossEncoder)
    meta = read_meta(entry_for(cross_encoder, model_cache))
    entry = entry_for(cross_encoder, model_cache)
    plain = OnnxCrossEncoder(entry, folder=cross_encoder, int8=False)
    int8 = load_reranker(cross_encoder, RerankRuntime.onnx_int8, cache_dir=model_cache)
    questions = list(dict.fromkeys(q for q, _ in probe_pairs()))
    passages = [p for q, p in probe_pairs() if q == questions[0]]
    fp32 = np.asarray([s for q in questions for s in plain.score(q, passages)])
    forced = np.asarray([s for q in questions for s in int8.score(q, passages)])
    error = float(np.max(np.abs(forced - fp32)))
    # The recorded error is the true one, and the choice follows it.
    assert error == pytest.approx(meta.int8_error, abs=1e-6)
    spread = float(fp32.max() - fp32.min())
    assert auto.int8 == (error <= INT8_TOLERANCE * max(1.0, spread)) == meta.int8
    assert meta.fp32_error <= 1e-4


def test_the_export_is_made_once(cross_encoder: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_reranker(cross_encoder, RerankRuntime.onnx, cache_dir=model_cache)

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached export should have been used")

    monkeypatch.setattr(subprocess, "run", no_export)
    load_reranker(cross_encoder, RerankRuntime.onnx, cache_dir=model_cache)


def test_without_torch_a_missing_export_says_how_to_make_one(
    cross_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(ConfigError, match=r"python -m indexer.rerank.onnx_export FOLDER CACHE_DIR"):
        load_reranker(cross_encoder, cache_dir=tmp_path / "empty")


def test_a_folder_that_is_not_a_cross_encoder_is_refused_before_any_export(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"architectures": ["BertModel"]}', encoding="utf-8")
    with pytest.raises(ConfigError, match="not a cross-encoder"):
        load_reranker(tmp_path, cache_dir=tmp_path / "cache")
