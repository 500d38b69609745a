"""The ONNX runtimes against sentence-transformers (torch) on the bundled model, and the export cache."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from indexer.embed import runtime
from indexer.embed.base import DEFAULT_MODEL, Embedder, SpanEmbedder
from indexer.embed.onnx_export import META_FILE, cache_entry, ensure_exported
from indexer.embed.onnx_runtime import OnnxEmbedder
from indexer.embed.runtime import load_embedder, model_folder
from indexer.errors import ModelLoadError
from indexer.ingest.chunking import sentences_of
from tests.conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow

BUNDLED = "all-MiniLM-L6-v2"


def _texts() -> list[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(SEEDS.iterdir()))
    lines = [line.strip() for line in text.splitlines() if len(line.split()) > 3]
    return [*lines[:40], "What did Putin and Xi agree?", "rivers", "a " * 300 + "very long input that gets truncated"]


@pytest.fixture(scope="module")
def onnx_fp32(model_cache: Path) -> Embedder:
    return load_embedder(BUNDLED, "onnx")


@pytest.fixture(scope="module")
def onnx_int8(model_cache: Path) -> Embedder:
    return load_embedder(BUNDLED, "onnx-int8")


def test_fp32_onnx_gives_sentence_transformers_vectors(onnx_fp32: Embedder, torch_embedder: Embedder) -> None:
    texts = _texts()
    assert onnx_fp32.runtime == "onnx" and isinstance(onnx_fp32, OnnxEmbedder)
    assert (onnx_fp32.model_id, onnx_fp32.dimension, onnx_fp32.max_tokens) == (
        torch_embedder.model_id,
        torch_embedder.dimension,
        torch_embedder.max_tokens,
    )
    np.testing.assert_allclose(onnx_fp32.encode(texts), torch_embedder.encode(texts), atol=2e-4)


def test_int8_onnx_stays_close_to_fp32(onnx_int8: Embedder, torch_embedder: Embedder) -> None:
    texts = _texts()
    cosines = (onnx_int8.encode(texts) * torch_embedder.encode(texts)).sum(axis=1)
    assert onnx_int8.runtime == "onnx-int8"
    assert cosines.mean() > 0.985 and cosines.min() > 0.95, (cosines.mean(), cosines.min())
    norms = np.linalg.norm(onnx_int8.encode(texts), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_token_spans_match_the_models_tokenizer(onnx_int8: Embedder, torch_embedder: Embedder) -> None:
    for text in _texts():
        assert onnx_int8.token_spans(text) == torch_embedder.token_spans(text)


def test_the_export_is_made_once_and_reused(model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = model_folder(BUNDLED)
    entry = ensure_exported(folder, model_cache, DEFAULT_MODEL)
    assert entry == cache_entry(folder, model_cache) and (entry / META_FILE).is_file()

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached export should have been used")

    monkeypatch.setattr(subprocess, "run", no_export)
    assert ensure_exported(folder, model_cache, DEFAULT_MODEL) == entry
    # (Only this entry's: other xdist workers may be exporting other models into the shared cache meanwhile.)
    assert not [p for p in model_cache.iterdir() if p.name.startswith(f".{entry.name}.")], "no temporary export left"


def test_other_weights_get_another_entry(tmp_path: Path, model_cache: Path) -> None:
    folder = model_folder(BUNDLED)
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    assert cache_entry(copy, model_cache) == cache_entry(folder, model_cache), "same weights, same entry"
    config = copy / "config.json"
    config.write_text(config.read_text().replace('"layer_norm_eps": 1e-12', '"layer_norm_eps": 1e-06'))
    assert cache_entry(copy, model_cache).name != cache_entry(folder, model_cache).name


def test_without_the_weights_the_export_of_the_same_model_is_used(
    model_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Docker image ships the export and not the weights package.
    entry = ensure_exported(model_folder(BUNDLED), model_cache, DEFAULT_MODEL)

    def no_weights(name: str) -> Path:
        raise ModelLoadError("the package holding the bundled model is not installed")

    monkeypatch.setattr(runtime, "model_folder", no_weights)
    embedder = load_embedder(BUNDLED, "onnx-int8", cache_dir=model_cache)
    assert isinstance(embedder, OnnxEmbedder) and embedder.model_id == DEFAULT_MODEL
    with pytest.raises(ModelLoadError, match="not installed"):
        load_embedder(BUNDLED, "onnx-int8", cache_dir=tmp_path / "empty")
    other = tmp_path / "two"
    shutil.copytree(entry, other / "a")
    shutil.copytree(entry, other / "b")
    with pytest.raises(ModelLoadError, match="holds 2 exports"):
        load_embedder(BUNDLED, "onnx-int8", cache_dir=other)


def test_a_broken_export_is_a_clear_error(tmp_path: Path, model_cache: Path) -> None:
    entry = ensure_exported(model_folder(BUNDLED), model_cache, DEFAULT_MODEL)
    broken = tmp_path / "broken"
    shutil.copytree(entry, broken)
    (broken / "model-int8.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="to re-export"):
        OnnxEmbedder(broken, model_id="m", int8=True, threads=1)


def test_serving_on_onnx_never_imports_torch(model_cache: Path, real_seed_index: Path) -> None:
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from service.app import create_app\n"
        "from service.settings import Settings\n"
        f"app = create_app(Settings(index_dir={str(real_seed_index)!r}))\n"
        "with TestClient(app) as client:\n"
        "    while client.get('/readyz').status_code != 200:\n"
        "        pass\n"
        "    assert client.get('/search', params={'q': 'Putin'}).status_code == 200\n"
        "heavy = {'torch', 'sentence_transformers', 'transformers'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_sentence_vectors_come_from_the_same_forward_pass(onnx_fp32: Embedder, torch_embedder: Embedder) -> None:
    texts = _texts()[:20]
    spans = [sentences_of(t) for t in texts]
    for embedder in (onnx_fp32, torch_embedder):
        assert isinstance(embedder, SpanEmbedder)
        found = embedder.encode_spans(texts, spans)
        assert found is not None
        pooled, pieces = found
        np.testing.assert_allclose(pooled, embedder.encode(texts), atol=1e-6)  # the passages' vectors unchanged
        assert [len(p) for p in pieces] == [len(s) for s in spans]
    onnx_pieces = onnx_fp32.encode_spans(texts, spans)  # type: ignore[attr-defined]
    torch_pieces = torch_embedder.encode_spans(texts, spans)  # type: ignore[attr-defined]
    for a, b in zip(onnx_pieces[1], torch_pieces[1], strict=True):
        np.testing.assert_allclose(a, b, atol=2e-4)
        np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
