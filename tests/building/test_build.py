"""Incremental builds, the manifest, and the versioned directory layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from indexer.building.builder import build_index
from indexer.errors import IndexCorruptError, IndexLockedError, IndexNotFoundError, ManifestMismatchError
from indexer.ingest.chunking import ChunkingConfig
from indexer.storage.local.versions import CURRENT_FILE, open_index, write_lock
from tests.fakes import FakeEmbedder


def test_first_build_then_unchanged_embeds_nothing(seeds_copy: Path, tmp_path: Path) -> None:
    emb = FakeEmbedder()
    index_dir = tmp_path / "idx"
    first = build_index(seeds_copy, index_dir, emb)
    assert (first.documents, first.added, first.version) == (5, 5, 1)
    assert first.embedded_chunks == first.chunks == emb.encoded > 0
    again = build_index(seeds_copy, index_dir, emb)
    assert again.embedded_chunks == 0 and not again.changed
    assert again.unchanged == 5 and again.version == 1
    assert emb.encoded == first.chunks
    assert sorted(p.name for p in index_dir.iterdir() if not p.name.startswith(".")) == [
        CURRENT_FILE,
        "segments",
        "v000001",
    ]


def test_changed_file_reembeds_only_that_document(seeds_copy: Path, tmp_path: Path) -> None:
    emb = FakeEmbedder()
    index_dir = tmp_path / "idx"
    build_index(seeds_copy, index_dir, emb)
    before = open_index(index_dir)
    changed = seeds_copy / "002_ed85d81760ff91a2.txt"
    changed.write_text(changed.read_text().replace("in Shian,", "in Xi'an,"))
    emb.encoded = 0
    report = build_index(seeds_copy, index_dir, emb)
    after = open_index(index_dir)
    assert (report.updated, report.added, report.unchanged, report.version) == (1, 0, 4, 2)
    n_changed = sum(1 for d in after.store.documents() if d.doc_id == changed.name for _ in range(d.n_chunks))
    assert report.embedded_chunks == emb.encoded == n_changed
    # Unchanged documents keep their chunk ids and vectors.
    old = {d.doc_id: d.content_hash for d in before.store.documents()}
    assert {k: v for k, v in after.store.hashes().items() if k != changed.name} == {
        k: v for k, v in old.items() if k != changed.name
    }
    kept_ids = [cid for cid, rec in before.store.chunks(before.store.chunk_ids()).items() if rec.doc_id != changed.name]
    for cid in kept_ids:
        np.testing.assert_array_equal(before.vectors.reconstruct(cid), after.vectors.reconstruct(cid))
    assert "Xi'an" in " ".join(r.text for r in after.store.chunks(after.store.chunk_ids()).values())


def test_deleted_file_leaves_index(seeds_copy: Path, tmp_path: Path) -> None:
    emb = FakeEmbedder()
    index_dir = tmp_path / "idx"
    build_index(seeds_copy, index_dir, emb)
    (seeds_copy / "003_7de0760080f69b82.txt").unlink()
    report = build_index(seeds_copy, index_dir, emb)
    snap = open_index(index_dir)
    assert report.deleted == 1 and report.embedded_chunks == 0
    assert "003_7de0760080f69b82.txt" not in snap.store.hashes()
    assert all(r.doc_id != "003_7de0760080f69b82.txt" for r in snap.store.chunks(snap.store.chunk_ids()).values())
    assert snap.vectors.ntotal == snap.manifest.counts.chunks == len(snap.store.chunk_ids())
    assert snap.lexical.scores("Lance Gore Stimson") is None  # its words left the lexical index too


def test_manifest_records_what_was_built(fake_seed_index: Path) -> None:
    data = json.loads((fake_seed_index / "v000001" / "manifest.json").read_text())
    assert data["model"] == {
        "id": "fake-hash",
        "dimension": 64,
        "normalized": True,
        "max_tokens": 254,
        "runtime": "fake",
        "query_prompt": "",
        "passage_prompt": "",
        "endpoint": None,
        "reranker": None,
        "languages": None,  # the fake model has no card: it is taken to read every language
    }
    assert data["lexical"]["analyzer"] == "unicode-1" and data["lexical"]["language"] == "auto"
    assert data["lexical"]["languages"] == {"en": data["counts"]["chunks"]}
    assert data["chunking"]["chunk_tokens"] == ChunkingConfig().chunk_tokens
    assert data["counts"]["documents"] == 5 and data["counts"]["chunks"] > 5
    # One line per segment, none per document: a commit costs what it changes.
    (segment,) = data["segments"]
    assert segment["documents"] == 5 and segment["chunks"] == data["counts"]["chunks"] and segment["tokens"] > 0
    assert segment["hnsw"] is False and segment["deletes"] is None and "documents" not in data
    assert data["next_chunk_id"] == data["counts"]["chunks"] + 1
    assert data["vectors"]["ann_min_chunks"] > 0 and data["vectors"]["hnsw_ef_search"] > 0
    assert data["created_at"] and data["package_version"] and data["format_version"] == 2


def test_model_change_triggers_full_rebuild(seeds_copy: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "idx"
    build_index(seeds_copy, index_dir, FakeEmbedder())
    other = FakeEmbedder(dimension=32, model_id="other-model")
    report = build_index(seeds_copy, index_dir, other)
    assert report.rebuild_reason and "model changed" in report.rebuild_reason
    assert report.embedded_chunks == report.chunks
    assert open_index(index_dir).manifest.model.id == "other-model"


def test_chunking_change_triggers_full_rebuild(seeds_copy: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "idx"
    build_index(seeds_copy, index_dir, FakeEmbedder())
    report = build_index(seeds_copy, index_dir, FakeEmbedder(), ChunkingConfig(64, 16))
    assert report.rebuild_reason == "chunking or cleaning settings changed"


def test_check_model_message(fake_seed_index: Path) -> None:
    manifest = open_index(fake_seed_index).manifest
    with pytest.raises(ManifestMismatchError, match=r"built with model 'fake-hash' \(dimension 64\).*'x'"):
        manifest.check_model("x", 384)


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="python -m indexer build"):
        open_index(tmp_path / "nothing")


def test_inconsistent_version_is_detected(fake_seed_index: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(fake_seed_index, broken)
    manifest = broken / "v000001" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["counts"]["chunks"] += 1
    manifest.write_text(json.dumps(data))
    with pytest.raises(IndexCorruptError, match="inconsistent"):
        open_index(broken)
    data["counts"]["chunks"] -= 1
    manifest.write_text(json.dumps(data))
    (segment,) = (broken / "segments").iterdir()
    (segment / "vectors.faiss").unlink()
    with pytest.raises(IndexCorruptError, match="missing"):
        open_index(broken)


def test_second_writer_is_refused(fake_seed_index: Path, seeds_copy: Path) -> None:
    with write_lock(fake_seed_index), pytest.raises(IndexLockedError, match="another process"):
        build_index(seeds_copy, fake_seed_index, FakeEmbedder())


def test_old_versions_are_pruned(seeds_copy: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "idx"
    for i in range(4):
        (seeds_copy / "extra.txt").write_text(f"Extra document number {i} about ships.")
        build_index(seeds_copy, index_dir, FakeEmbedder())
    versions = sorted(p.name for p in index_dir.iterdir() if p.name.startswith("v"))
    assert versions == ["v000003", "v000004"]
    assert (index_dir / CURRENT_FILE).read_text().strip() == "v000004"


def test_missing_source_folder(tmp_path: Path) -> None:
    from indexer.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        build_index(tmp_path / "nope", tmp_path / "idx", FakeEmbedder())


def test_unusable_index_is_rebuilt(seeds_copy: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "idx"
    build_index(seeds_copy, index_dir, FakeEmbedder())
    (segment,) = (index_dir / "segments").iterdir()
    shutil.rmtree(segment / "lexical")  # e.g. a damaged disk
    with pytest.raises(IndexCorruptError):
        open_index(index_dir)
    report = build_index(seeds_copy, index_dir, FakeEmbedder())
    assert report.rebuild_reason and "unusable" in report.rebuild_reason
    assert report.version == 2 and open_index(index_dir).manifest.counts.documents == 5


def test_recover_removes_uncommitted_leftovers(fake_seed_index: Path) -> None:
    from indexer.storage.local.versions import recover

    (fake_seed_index / ".tmp-v000002-dead").mkdir()
    shutil.copytree(fake_seed_index / "v000001", fake_seed_index / "v000002")  # renamed, never made current
    (fake_seed_index / ".CURRENT.abcd").write_text("v000002\n")
    (fake_seed_index / "segments" / "s000002-dead").mkdir()  # written by a killed writer or merge
    (live,) = [p for p in (fake_seed_index / "segments").iterdir() if p.name != "s000002-dead"]
    (live / "deletes-v000002.npz").write_bytes(b"")  # tombstones of a version never committed
    repaired = recover(fake_seed_index)
    assert sorted(repaired) == sorted(
        [
            "removed uncommitted .tmp-v000002-dead",
            "removed uncommitted v000002",
            "removed uncommitted .CURRENT.abcd",
            "removed uncommitted segments/s000002-dead",
        ]
    )
    assert not (live / "deletes-v000002.npz").exists()
    assert sorted(p.name for p in fake_seed_index.iterdir()) == [
        ".lock",
        ".merge.lock",
        "CURRENT",
        "segments",
        "v000001",
    ]
    assert recover(fake_seed_index) == []
    assert open_index(fake_seed_index).version == 1


def test_build_with_nothing_to_do_still_removes_leftovers(fake_seed_index: Path, seeds_copy: Path) -> None:
    # A writer killed after making its version current but before pruning leaves files behind; the next
    # build has nothing to embed, and must clean up all the same.
    (fake_seed_index / ".tmp-v000001-dead").mkdir()
    report = build_index(seeds_copy, fake_seed_index, FakeEmbedder())
    assert not report.changed and report.version == 1
    assert report.repairs == ["removed uncommitted .tmp-v000001-dead"]
    assert not (fake_seed_index / ".tmp-v000001-dead").exists()
    assert build_index(seeds_copy, fake_seed_index, FakeEmbedder()).repairs == []


def test_recover_without_an_index_has_nothing_to_do(tmp_path: Path) -> None:
    from indexer.storage.local.versions import recover

    assert recover(tmp_path / "missing") == []
    assert not (tmp_path / "missing").exists()


def test_read_only_index_is_served_but_not_written(
    fake_seed_index: Path, seeds_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indexer.errors import IndexReadOnlyError
    from indexer.storage.local.versions import recover

    real_open = Path.open

    def no_write(self: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        if self.name == ".lock":  # as a non-root user would find a root-owned index (tests run as root)
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", no_write)
    assert recover(fake_seed_index) == []
    assert open_index(fake_seed_index).version == 1
    with pytest.raises(IndexReadOnlyError, match="permission denied"):
        build_index(seeds_copy, fake_seed_index, FakeEmbedder())


def test_index_of_the_old_format_is_rebuilt_keeping_api_documents(seeds_copy: Path, tmp_path: Path) -> None:
    """An index written by the one-store-per-version format (1) is rebuilt; its API documents survive."""
    from indexer.building.writer import IndexWriter
    from indexer.types import Document

    index_dir = tmp_path / "idx"
    build_index(seeds_copy, index_dir, FakeEmbedder())
    IndexWriter(index_dir, FakeEmbedder()).apply([Document("note", "A note", "Notes about river barges.", "api")])
    # What format 1 looked like: a version directory holding its own store.sqlite and a manifest.
    segment = max((index_dir / "segments").iterdir(), key=lambda p: p.name)  # the API write's segment
    old = index_dir / "v000009"
    old.mkdir()
    shutil.copy(segment / "store.sqlite", old / "store.sqlite")
    (old / "manifest.json").write_text(json.dumps({"format_version": 1, "documents": {}}))
    (index_dir / CURRENT_FILE).write_text("v000009\n")
    with pytest.raises(IndexCorruptError, match="format version 1"):
        open_index(index_dir)
    report = build_index(seeds_copy, index_dir, FakeEmbedder())
    assert report.rebuild_reason and "format version 1" in report.rebuild_reason
    snap = open_index(index_dir)
    assert snap.store.origins() == {**{p.name: "build" for p in seeds_copy.iterdir()}, "note": "api"}
