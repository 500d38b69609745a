"""Models beyond the bundled one: tiny random-weight BERT and XLM-R models made here (mean and CLS pooling, with
and without prompts), checked for prompts on the right side, pooling, parity between runtimes, the manifest's
record, and a service that applies the recorded query prompt (its dense scores against brute force)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from indexer.cli import main
from indexer.embed.base import Prompts
from indexer.embed.onnx_export import META_FILE, ExportMeta, cache_entry
from indexer.embed.prompts import BGE_QUERY, configured_prompts, known_prompts, with_prompts
from indexer.embed.runtime import default_prompts, load_embedder
from indexer.errors import ManifestMismatchError
from indexer.retrieval.searcher import Searcher
from indexer.storage.local.versions import open_index
from service.app import create_app
from service.settings import Settings
from tests.conftest import wait_ready
from tests.tiny_models import make_tiny_model

PROMPTS = {"query": "query: ", "document": "passage: "}
VARIANTS = [("bert", "mean", PROMPTS), ("bert", "cls", None), ("xlmr", "mean", None), ("xlmr", "cls", PROMPTS)]
SMALL_CHUNKS = ["--chunk-tokens", "32", "--overlap-tokens", "8"]  # the tiny models read 48 tokens
TEXTS = ["the river bank", "gannets dive for fish from the cliffs", "volcano ash cloud"]


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}{'-prompts' if v[2] else ''}")
def tiny(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, bool]:
    kind, pooling, prompts = request.param
    folder = make_tiny_model(tmp_path_factory.mktemp(kind), kind=kind, pooling=pooling, prompts=prompts)
    return folder, pooling, prompts is not None


def test_prompts_come_from_the_config_else_the_family() -> None:
    assert known_prompts("intfloat/e5-small-v2") == Prompts("query: ", "passage: ")
    assert known_prompts("intfloat/multilingual-e5-base") == Prompts("query: ", "passage: ")
    assert known_prompts("BAAI/bge-small-en-v1.5") == Prompts(BGE_QUERY, "")
    assert known_prompts("/models/bge-base-en-v1.5/") == Prompts(BGE_QUERY, "")  # a local copy, by folder name
    assert known_prompts("nomic-ai/nomic-embed-text-v1.5") == Prompts("search_query: ", "search_document: ")
    assert known_prompts("sentence-transformers/all-MiniLM-L6-v2") == Prompts()
    assert known_prompts("thenlper/gte-small") == Prompts()
    assert known_prompts("someone/e5-small-v2-finetuned") == Prompts()  # not the family's own
    assert default_prompts("all-MiniLM-L6-v2") == Prompts()  # the bundled model has none


def test_a_config_names_prompts_under_either_key(tmp_path: Path) -> None:
    config = tmp_path / "config_sentence_transformers.json"
    config.write_text(json.dumps({"prompts": {"query": "Q: ", "document": "D: "}}))
    assert configured_prompts(tmp_path) == Prompts("Q: ", "D: ")
    config.write_text(json.dumps({"prompts": {"search_query": "sq: ", "passage": "p: "}}))
    assert configured_prompts(tmp_path) == Prompts("sq: ", "p: ")
    config.write_text(json.dumps({"prompts": {"query": "", "document": ""}, "default_prompt_name": None}))
    assert configured_prompts(tmp_path) is None  # empty prompts: none, so the family's name may still tell
    config.write_text("not json")
    assert configured_prompts(tmp_path) is None


def test_prompts_pooling_and_every_runtime_agree_with_sentence_transformers(tiny: tuple[Path, str, bool]) -> None:
    from sentence_transformers import SentenceTransformer

    folder, pooling, has_prompts = tiny
    st = SentenceTransformer(str(folder), device="cpu")
    prompts = default_prompts(str(folder))
    assert prompts == (Prompts("query: ", "passage: ") if has_prompts else Prompts())
    names = {"query": "query", "passage": "document"} if has_prompts else {"query": None, "passage": None}
    expected_queries = st.encode(TEXTS, prompt_name=names["query"], normalize_embeddings=True)
    expected_passages = st.encode(TEXTS, prompt_name=names["passage"], normalize_embeddings=True)
    runtimes = {name: with_prompts(load_embedder(str(folder), name), prompts) for name in ("torch", "onnx")}
    for name, embedder in runtimes.items():
        np.testing.assert_allclose(embedder.encode_queries(TEXTS), expected_queries, atol=2e-5, err_msg=name)
        np.testing.assert_allclose(embedder.encode(TEXTS), expected_passages, atol=2e-5, err_msg=name)
    if has_prompts:  # the prompt changes the vectors (else the checks above could not tell it was applied)
        assert not np.allclose(runtimes["onnx"].encode_queries(TEXTS), runtimes["onnx"].encode(TEXTS), atol=1e-3)
    int8 = with_prompts(load_embedder(str(folder), "onnx-int8"), prompts).encode_queries(TEXTS)
    assert float(np.min((int8 * expected_queries).sum(axis=1))) > 0.99
    meta = ExportMeta.model_validate_json((cache_entry(folder, Path(_cache())) / META_FILE).read_bytes())
    assert meta.pooling == pooling and meta.normalize
    # A passage leaves room for its prompt: the model reads the chunk and the prompt together.
    raw = load_embedder(str(folder), "onnx")
    assert runtimes["onnx"].max_tokens == raw.max_tokens - len(raw.token_spans(prompts.passage))


def _cache() -> str:
    import os

    return os.environ["SEEKR_MODEL_CACHE"]


@pytest.fixture(scope="module")
def prompted_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("prompted"), kind="bert", pooling="mean", prompts=PROMPTS)


def test_the_manifest_records_the_prompts_a_change_rebuilds_and_a_mismatch_is_refused(
    prompted_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, index = tmp_path / "docs", tmp_path / "index"
    src.mkdir()
    (src / "river.txt").write_text("Rivers\n\nThe river bank holds the boats at low tide.")
    model = ["--model", str(prompted_model), "--runtime", "onnx", "--quiet", *SMALL_CHUNKS]
    assert main(["build", str(src), "--index", str(index), *model]) == 0
    recorded = open_index(index).manifest.model
    assert (recorded.query_prompt, recorded.passage_prompt) == ("query: ", "passage: ")
    capsys.readouterr()
    assert main(["build", str(src), "--index", str(index), *model, "--query-prompt", "search: "]) == 0
    assert "prompts changed (query 'query: ' -> 'search: '" in capsys.readouterr().out
    recorded = open_index(index).manifest.model
    assert (recorded.query_prompt, recorded.passage_prompt) == ("search: ", "passage: ")
    # A later build that asks for nothing keeps what the index records: nothing is embedded again.
    assert main(["build", str(src), "--index", str(index), *model]) == 0
    assert "nothing changed: embedded 0 chunks" in capsys.readouterr().out
    assert open_index(index).manifest.model.query_prompt == "search: "
    with pytest.raises(ManifestMismatchError, match="query prompt 'search: '"):
        Searcher(open_index(index), load_embedder(str(prompted_model), "onnx"))
    assert main(["query", str(index), "river boats", "--runtime", "onnx"]) == 0  # the recorded prompts
    assert "river.txt" in capsys.readouterr().out


def test_the_service_puts_the_recorded_query_prompt_in_front(prompted_model: Path, tmp_path: Path) -> None:
    src, index = tmp_path / "docs", tmp_path / "index"
    src.mkdir()
    text = "The river bank holds the boats at low tide."
    (src / "river.txt").write_text(text)
    model = ["--model", str(prompted_model), "--runtime", "onnx", *SMALL_CHUNKS]
    assert main(["build", str(src), "--index", str(index), *model]) == 0
    settings = Settings(index_dir=index, model=str(prompted_model), runtime="onnx")
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        hit = client.get("/search", params={"q": "boats on the river", "mode": "dense"}).json()["results"][0]
    raw = load_embedder(str(prompted_model), "onnx")
    passage = raw.encode(["passage: " + text])[0]
    prompted = float(raw.encode(["query: boats on the river"])[0] @ passage)
    plain = float(raw.encode(["boats on the river"])[0] @ passage)
    assert hit["scores"]["dense"] == pytest.approx(prompted, abs=1e-4)
    assert abs(prompted - plain) > 1e-3  # so the check above tells the two apart


def test_the_service_start_indexes_a_folder_with_the_models_prompts_or_the_indexs(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    from service.__main__ import _index_source

    # Reads 160 tokens: the service indexes with the default chunking (128 tokens and the passage prompt).
    prompted_model = make_tiny_model(tmp_path_factory.mktemp("long"), prompts=PROMPTS, max_seq_length=160)
    src, index = tmp_path / "docs", tmp_path / "index"
    src.mkdir()
    (src / "river.txt").write_text("Rivers\n\nThe river bank holds the boats at low tide.")
    settings = Settings(source_dir=src, index_dir=index, model=str(prompted_model), runtime="onnx")
    _index_source(settings)
    recorded = open_index(index).manifest.model
    assert (recorded.query_prompt, recorded.passage_prompt) == ("query: ", "passage: ")  # the model's own
    built = ["--model", str(prompted_model), "--runtime", "onnx", "--quiet"]
    assert main(["build", str(src), "--index", str(index), *built, "--query-prompt", "search: "]) == 0
    version = open_index(index).manifest.version
    _index_source(settings)  # a restart keeps the prompts the index was built with
    assert open_index(index).manifest.model.query_prompt == "search: "
    assert open_index(index).manifest.version == version  # nothing embedded again
