"""The catalog: collections on both engines, created and dropped crash-safely, each independent of the others."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from indexer.building.builder import build_index, chunking_info, model_info
from indexer.building.writer import IndexWriter
from indexer.catalog import Catalog, open_catalog
from indexer.collections import DEFAULT_COLLECTION, MAX_NAME_CHARS
from indexer.errors import (
    CollectionExistsError,
    CollectionNameError,
    CollectionNotFoundError,
    IndexNotFoundError,
    LastCollectionError,
)
from indexer.ingest.chunking import ChunkingConfig
from indexer.storage.settings import BackendName
from indexer.types import Document
from tests.conftest import ROOT, SEEDS, storage
from tests.fakes import FakeEmbedder

EMBEDDER = FakeEmbedder()
MODEL = model_info(EMBEDDER)
CHUNKING = chunking_info(ChunkingConfig())


def _catalog(engine: BackendName, root: Path) -> Catalog:
    return open_catalog(storage(engine, root))


def _state(catalog: Catalog, name: str) -> tuple[int, dict[str, str]]:
    """(version, doc_id -> content hash) of collection `name`, opened and checked whole."""
    backend = catalog.backend(name)
    try:
        snapshot = backend.open()
        snapshot.deep_check()
        return snapshot.version, dict(snapshot.store.hashes())
    finally:
        backend.close()


def _doc(doc_id: str, text: str) -> Document:
    return Document(doc_id=doc_id, title=doc_id, text=text, source=f"api:{doc_id}")


def test_an_index_built_before_collections_is_the_default_collection(engine: BackendName, tmp_path: Path) -> None:
    from tests.conftest import engine_backend

    backend = engine_backend(engine, tmp_path)  # exactly what the CLI made before collections existed
    build_index(SEEDS, backend, EMBEDDER)
    backend.close()
    catalog = _catalog(engine, tmp_path)
    try:
        assert catalog.names() == [DEFAULT_COLLECTION]
        assert catalog.info(DEFAULT_COLLECTION).manifest.counts.documents == 5
        assert catalog.recover() == []  # nothing of it is taken for a leftover
    finally:
        catalog.close()


def test_collections_are_independent(engine: BackendName, tmp_path: Path) -> None:
    catalog = _catalog(engine, tmp_path)
    try:
        build_index(SEEDS, catalog.target(DEFAULT_COLLECTION), EMBEDDER)
        assert catalog.create("notes", MODEL, CHUNKING) is True
        assert catalog.create("notes_2", MODEL, CHUNKING) is True
        assert catalog.names() == [DEFAULT_COLLECTION, "notes", "notes_2"]
        before = {n: _state(catalog, n) for n in catalog.names()}
        assert before["notes"] == (1, {}) and before["notes_2"] == (1, {})
        # The same document id in two collections: two documents.
        for name, text in (("notes", "Gannets nest on sea cliffs."), ("notes_2", "Puffins dig burrows.")):
            backend = catalog.backend(name)
            IndexWriter(backend, EMBEDDER).apply([_doc("same-id", text)])
            backend.close()
        after = {n: _state(catalog, n) for n in catalog.names()}
        assert after[DEFAULT_COLLECTION] == before[DEFAULT_COLLECTION]  # its version did not move
        assert after["notes"][0] == after["notes_2"][0] == 2
        assert after["notes"][1]["same-id"] != after["notes_2"][1]["same-id"]
        backend = catalog.backend("notes")
        assert backend.open().store.document("same-id").text == "Gannets nest on sea cliffs."  # type: ignore[union-attr]
        backend.close()
    finally:
        catalog.close()


def test_create_is_idempotent_and_refuses_other_settings(engine: BackendName, tmp_path: Path) -> None:
    catalog = _catalog(engine, tmp_path)
    try:
        assert catalog.create("a", MODEL, CHUNKING) is True
        assert catalog.create("a", MODEL, CHUNKING) is False
        other = chunking_info(ChunkingConfig(chunk_tokens=64, overlap_tokens=8))
        with pytest.raises(CollectionExistsError, match=r"chunk_tokens 128 .asked: 64.*drop it first"):
            catalog.create("a", MODEL, other)
        with pytest.raises(CollectionExistsError, match=r"model 'fake-hash' .asked: 'other-model'"):
            catalog.create("a", MODEL.model_copy(update={"id": "other-model"}), CHUNKING)
        assert catalog.info("a").manifest.chunking == CHUNKING
    finally:
        catalog.close()


def test_drop_rules(engine: BackendName, tmp_path: Path) -> None:
    catalog = _catalog(engine, tmp_path)
    try:
        build_index(SEEDS, catalog.target(DEFAULT_COLLECTION), EMBEDDER)
        with pytest.raises(LastCollectionError, match=r"only one left.*create another"):
            catalog.drop(DEFAULT_COLLECTION)
        with pytest.raises(CollectionNotFoundError, match="no collection 'ghost'"):
            catalog.drop("ghost")
        catalog.create("b", MODEL, CHUNKING)
        catalog.drop("b")
        assert catalog.names() == [DEFAULT_COLLECTION]
        with pytest.raises(CollectionNotFoundError):
            catalog.backend("b")
        catalog.create("b", MODEL, CHUNKING)  # the name is free again, and its index empty
        assert _state(catalog, "b") == (1, {})
        # The default collection may go while another is left; its folder (or prefix) still holds the others.
        catalog.drop(DEFAULT_COLLECTION)
        assert catalog.names() == ["b"]
        with pytest.raises(IndexNotFoundError):
            catalog.layout.backend(DEFAULT_COLLECTION).open()
        with pytest.raises(LastCollectionError, match="collection 'b' is the only one left"):
            catalog.drop("b")
    finally:
        catalog.close()


@pytest.mark.parametrize(
    "name", ["", "-lead", "_lead", "a/b", "a b", "a.b", "..", "x" * (MAX_NAME_CHARS + 1), "é", "a\n"]
)
def test_invalid_names_say_what_a_name_may_be(tmp_path: Path, name: str) -> None:
    catalog = _catalog(BackendName.local, tmp_path)
    with pytest.raises(CollectionNameError, match="letters, digits, '-' and '_'"):
        catalog.create(name, MODEL, CHUNKING)
    assert not (tmp_path / "index").exists() or catalog.names() == []


def test_milvus_names_spell_every_collection_name_apart() -> None:
    from indexer.storage.milvus.layout import decode, encode

    names = ["a", "a_b", "a-b", "a__b", "a_0b", "a-0b", "a_", "a-", "x_g1", "x-g1_chunks", "Z9-_-_"]
    spelled = [encode(n) for n in names]
    assert len(set(spelled)) == len(names)
    assert all(s.replace("_", "").isalnum() for s in spelled)
    assert [decode(s) for s in spelled] == names
    assert decode("a_b") is None and decode("a_") is None


# --- crash safety ---------------------------------------------------------------------------------------------


def _template(engine: BackendName, root: Path, with_target: bool) -> dict[str, tuple[int, dict[str, str]]]:
    """The default collection and `other` (and `target` when asked), each with documents; their states. Every
    connection is closed after, so that a Milvus Lite file is whole and free to copy."""
    catalog = _catalog(engine, root)
    try:
        for name in (DEFAULT_COLLECTION, "target") if with_target else (DEFAULT_COLLECTION,):
            with closing(catalog.target(name)) as backend:
                build_index(SEEDS, backend, EMBEDDER)
        catalog.create("other", MODEL, CHUNKING)
        with closing(catalog.backend("other")) as backend:
            IndexWriter(backend, EMBEDDER).apply([_doc("o1", "Terns fish in the shallows.")])
        return {n: _state(catalog, n) for n in catalog.names()}
    finally:
        catalog.close()


def _child(engine: BackendName, root: Path, action: str, stop: int) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.catalog_step", engine.value, str(root), action, "target", str(stop)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.stdout + proc.stderr[-2000:]


@pytest.mark.parametrize("action", ["create", "drop"])
def test_create_or_drop_killed_at_any_step_leaves_every_collection_loadable(
    engine: BackendName, tmp_path: Path, action: str
) -> None:
    template = tmp_path / "template"
    states = _template(engine, template, with_target=action == "drop")
    # A whole run counts the steps that change storage; then a copy is killed before each one in turn.
    whole = tmp_path / "whole"
    shutil.copytree(template, whole)
    out = _child(engine, whole, "create" if action == "create" else "drop", 0)
    assert "steps " in out, out
    total = int(out.split("steps ")[-1].split()[0])
    assert total >= 2, out
    catalog = _catalog(engine, whole)
    assert ("target" in catalog.names()) == (action == "create")  # the whole run did it, where this test looks
    catalog.close()
    for stop in range(1, total + 1):
        root = tmp_path / f"kill{stop}"
        shutil.copytree(template, root)
        out = _child(engine, root, action, stop)
        assert f"killed before step {stop}" in out, out
        catalog = _catalog(engine, root)
        try:
            catalog.recover()
            names = catalog.names()
            # Every other collection is loadable and unchanged, whatever the step.
            for name in (DEFAULT_COLLECTION, "other"):
                assert _state(catalog, name) == states[name], (stop, name)
            # The target is all there or not there at all.
            if "target" in names:
                expected = (1, {}) if action == "create" else states["target"]
                assert _state(catalog, "target") == expected, stop
            # And the action can be done now.
            if action == "create":
                catalog.create("target", MODEL, CHUNKING)
                assert _state(catalog, "target") == (1, {})
            else:
                if "target" in names:
                    catalog.drop("target")
                assert catalog.names() == [DEFAULT_COLLECTION, "other"]
            assert catalog.recover() == []
        finally:
            catalog.close()
        shutil.rmtree(root, ignore_errors=True)
