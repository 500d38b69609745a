"""`indexer export` / `indexer import`: an index moves between engines without embedding anything again."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from indexer.building.transfer import export, import_into
from indexer.building.writer import IndexWriter
from indexer.cli import main
from indexer.errors import ConfigError
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Backend
from indexer.storage.settings import BackendName
from indexer.types import Document
from tests.conftest import ENGINES, engine_backend
from tests.fakes import FakeEmbedder

QUESTIONS = ["Who is Wang Yi?", "Shanghai Cooperation Organization summit", "Putin Xi meeting"]


def _answers(backend: Backend) -> list[list[tuple[str, int, int, float]]]:
    searcher = Searcher(backend.open(), FakeEmbedder())
    return [
        [(h.doc_id, h.start, h.end, round(h.score, 5)) for h in searcher.search(q, k=8, mode=mode).hits]
        for q in QUESTIONS
        for mode in Mode
    ]


@pytest.mark.parametrize("target", ENGINES)
def test_export_then_import_gives_the_same_index(seed_backend: Backend, target: BackendName, tmp_path: Path) -> None:
    before = seed_backend.open()
    report = export(before, tmp_path / "dump")
    assert (report.documents, report.chunks) == before.store.counts()
    (tmp_path / "target").mkdir()
    other = engine_backend(target, tmp_path / "target")
    imported = import_into(tmp_path / "dump", other)
    after = other.open()
    after.deep_check()
    assert (imported.documents, imported.chunks) == before.store.counts()
    assert after.store.documents() == before.store.documents()
    assert after.manifest.model == before.manifest.model and after.manifest.chunking == before.manifest.chunking
    ids_before, ids_after = before.store.chunk_ids(), after.store.chunk_ids()
    np.testing.assert_allclose(
        after.vectors.reconstruct_batch(ids_after), before.vectors.reconstruct_batch(ids_before), atol=1e-6
    )
    assert _answers(other) == _answers(seed_backend)
    other.close()


def test_import_replaces_what_the_index_held(tmp_path: Path, seed_backend: Backend) -> None:
    export(seed_backend.open(), tmp_path / "dump")
    target = engine_backend(BackendName.local, tmp_path / "t")
    import_into(tmp_path / "dump", target)
    IndexWriter(target, FakeEmbedder()).apply([Document("stale", "", "A stale note.", "api", {})])
    import_into(tmp_path / "dump", target)
    assert "stale" not in target.open().store.hashes()
    assert set(target.open().store.hashes()) == set(seed_backend.open().store.hashes())


def test_export_refuses_an_existing_folder_and_import_a_foreign_one(seed_backend: Backend, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        export(seed_backend.open(), tmp_path / "taken")
    with pytest.raises(ConfigError, match="not an export folder"):
        import_into(tmp_path / "taken", engine_backend(BackendName.local, tmp_path))


@pytest.mark.milvus
def test_cli_moves_a_local_index_to_milvus_and_back(
    fake_seed_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    milvus = ["--backend", "milvus", "--milvus-uri", str(tmp_path / "m.db")]
    assert main(["export", str(tmp_path / "a"), "--index", str(fake_seed_index)]) == 0
    assert main(["import", str(tmp_path / "a"), *milvus]) == 0
    assert main(["export", str(tmp_path / "b"), *milvus]) == 0
    assert main(["import", str(tmp_path / "b"), "--index", str(tmp_path / "back")]) == 0
    out = capsys.readouterr().out
    assert "imported 5 documents" in out and "milvus" in out
    assert (tmp_path / "a" / "documents.jsonl").read_text() == (tmp_path / "b" / "documents.jsonl").read_text()
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "vectors.npy"), np.load(tmp_path / "b" / "vectors.npy"))


def test_documents_of_is_document_for_many(seed_backend: Backend) -> None:
    # The export reads documents in batches: a replaced document comes from its newest version, a deleted one
    # and an unknown id are absent.
    writer = IndexWriter(seed_backend, FakeEmbedder())
    ids = sorted(seed_backend.open().store.hashes())
    writer.apply([Document(ids[0], "Replaced", "A replaced note about tides.", "api", {})])
    writer.apply(deletes=[ids[1]])
    store = seed_backend.open().store
    found = store.documents_of([*ids, "unknown"])
    assert sorted(found) == [ids[0], *ids[2:]]
    assert found == {doc_id: store.document(doc_id) for doc_id in found}
    assert found[ids[0]].text == "A replaced note about tides."


def test_cli_collections_build_copy_list_show_drop(
    engine: BackendName, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--index", str(tmp_path / "data")] if engine is BackendName.local else [
        "--backend", "milvus", "--milvus-uri", str(tmp_path / "m.db")
    ]  # fmt: skip
    # `query` takes the directory as its first word, the rest of the storage flags after the question.
    at = [str(tmp_path / "data")] if engine is BackendName.local else []
    rest = [] if engine is BackendName.local else where
    src = tmp_path / "src"
    src.mkdir()
    (src / "gannets.txt").write_text("Gannets\n\nGannets dive for fish from thirty metres.")
    with mock.patch("indexer.cli.options.load_embedder", lambda *a, **k: FakeEmbedder()):
        assert main(["build", str(src), *where, "--quiet"]) == 0  # the default collection
        assert main(["build", str(src), *where, "--collection", "birds", "--quiet", "--chunk-tokens", "64"]) == 0
        assert main(["export", str(tmp_path / "out"), *where, "--collection", "birds"]) == 0
        assert main(["import", str(tmp_path / "out"), *where, "--collection", "birds-copy"]) == 0
        capsys.readouterr()
        assert main(["query", *at, "gannets dive", *rest, "--collection", "birds-copy", "--mode", "lexical"]) == 0
        assert "gannets.txt" in capsys.readouterr().out
        assert main(["collections", "list", *where]) == 0
        listed = capsys.readouterr().out
        assert "3 collections" in listed and "birds-copy: 1 documents" in listed
        assert main(["collections", "show", "birds", *where]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["name"] == "birds" and shown["manifest"]["chunking"]["chunk_tokens"] == 64
        assert main(["collections", "drop", "birds", *where]) == 1  # without --yes: says what would go
        assert "add --yes" in capsys.readouterr().out
        assert main(["collections", "drop", "birds", *where, "--yes"]) == 0
        assert main(["query", *at, "x", *rest, "--collection", "birds"]) == 2
        assert "no collection 'birds'" in capsys.readouterr().err
        assert main(["build", str(src), *where, "--collection", "bad name"]) == 2
        assert "letters, digits" in capsys.readouterr().err
