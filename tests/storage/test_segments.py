"""Segments, tombstones and merges: a segmented index answers exactly as one index over its live chunks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import bm25s
import pytest

from indexer.building.writer import IndexWriter
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.local import segment as segment_module
from indexer.storage.local.backend import LocalBackend
from indexer.storage.local.merge import SEGMENTS_PER_TIER, merge, merge_all, plan
from indexer.storage.local.snapshot import IndexSnapshot
from indexer.storage.local.versions import SEGMENTS_DIR, open_index, recover
from indexer.types import Document, Filter
from tests.conftest import ROOT
from tests.fakes import PASSAGES_ALONE, FakeEmbedder

QUERIES = ["Shanghai Cooperation Organization summit", "river barges cargo", "Putin Xi meeting Samarkand"]


def _doc(i: int, topic: str = "river barges") -> Document:
    text = f"Note {i} about {topic}. " + " ".join(f"Sentence {j} on {topic} and cargo number {i}." for j in range(3))
    return Document(f"note-{i}", f"Note {i}", text, "api", {"n": i, "even": i % 2 == 0})


def _churn(index_dir: Path, writer: IndexWriter) -> None:
    """Several segments with tombstones: single upserts, replacements and deletes, seeds included."""
    for i in range(6):
        writer.apply([_doc(i)])
    writer.apply([_doc(2, "Shanghai summit cargo")])  # replaces: tombstone in an API segment
    writer.apply(deletes=["note-4"])
    seed = sorted(open_index(index_dir).store.origins())[0]
    writer.apply(deletes=[seed])  # a tombstone in the build's segment


def _bm25_reference(snapshot: IndexSnapshot, query: str) -> dict[int, float]:
    """bm25s over the live chunks alone, built from scratch: what one unsegmented index would score."""
    ids = snapshot.store.chunk_ids()
    records = snapshot.store.chunks(ids)
    texts = [records[i].matched(snapshot.manifest.chunking.passage_context) for i in ids]
    analyzer = snapshot.lexical.analyzer
    reference = bm25s.BM25()
    reference.index([[t for _, _, t in analyzer.passage(text).terms] for text in texts], show_progress=False)
    scores = reference.get_scores(analyzer.terms(query))
    return {i: float(s) for i, s in zip(ids, scores, strict=True) if s > 0}


def _check_exact(snapshot: IndexSnapshot, embedder: FakeEmbedder) -> None:
    """Dense and lexical results equal brute force over the live chunks, with and without a filter."""
    ids = snapshot.store.chunk_ids()
    vectors = snapshot.vectors.reconstruct_batch(ids)
    searcher = Searcher(snapshot, embedder, defaults=PASSAGES_ALONE)
    for query in QUERIES:
        cosine = dict(zip(ids, (vectors @ embedder.encode([query])[0]).tolist(), strict=True))
        expected_dense = sorted(cosine, key=lambda c: (-cosine[c], c))[:5]
        hits = searcher.search(query, k=5, mode=Mode.dense, highlight=False).hits
        assert [h.chunk_id for h in hits] == expected_dense
        bm25 = _bm25_reference(snapshot, query)
        hits = searcher.search(query, k=5, mode=Mode.lexical, highlight=False).hits
        assert [h.chunk_id for h in hits] == sorted(bm25, key=lambda c: (-bm25[c], c))[:5]
        assert [h.score for h in hits] == pytest.approx([bm25[h.chunk_id] for h in hits], rel=1e-5)
        where = Filter(metadata=(("even", True),))
        allowed = set(snapshot.store.filtered_chunk_ids(where))
        hits = searcher.search(query, k=5, mode=Mode.dense, where=where, highlight=False).hits
        assert [h.chunk_id for h in hits] == sorted(allowed, key=lambda c: (-cosine[c], c))[:5]


def test_writes_add_segments_and_tombstones_and_answers_stay_exact(
    fake_seed_index: Path, fake_embedder: FakeEmbedder
) -> None:
    writer = IndexWriter(fake_seed_index, fake_embedder)
    _churn(fake_seed_index, writer)
    snapshot = open_index(fake_seed_index)
    snapshot.deep_check()
    assert len(snapshot.segments) > 5
    assert any(s.info.deleted_chunks for s in snapshot.segments)  # tombstones in play
    assert "note-4" not in snapshot.store.hashes() and snapshot.store.document("note-2") is not None
    assert "cargo" in (snapshot.store.document("note-2") or _doc(0)).text.lower()
    assert snapshot.manifest.counts.documents == 5 - 1 + 6 - 1
    _check_exact(snapshot, fake_embedder)


def test_a_write_leaves_existing_segments_untouched(fake_seed_index: Path, fake_embedder: FakeEmbedder) -> None:
    """A write costs what it changes: one new segment directory, one tombstone file, one small manifest."""
    segments = fake_seed_index / SEGMENTS_DIR
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in segments.rglob("*") if p.is_file()}
    manifest_before = (fake_seed_index / "v000001" / "manifest.json").stat().st_size
    seed = sorted(open_index(fake_seed_index).store.origins())[0]
    IndexWriter(fake_seed_index, fake_embedder).apply([_doc(1)], deletes=[seed])
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in segments.rglob("*") if p.is_file()}
    assert all(after[p] == v for p, v in before.items())  # nothing rewritten
    added = sorted(str(p.relative_to(segments)) for p in set(after) - set(before))
    assert len({a.split("/")[0] for a in added if "deletes-" not in a}) == 1
    assert [a for a in added if "deletes-" in a] == [f"{before and next(iter(before)).parent.name}/deletes-v000002.npz"]
    manifest_after = (fake_seed_index / "v000002" / "manifest.json").stat().st_size
    assert manifest_after < 2 * manifest_before  # one more segment line, no per-document entries


def test_merge_keeps_answers_and_drops_deleted_chunks(fake_seed_index: Path, fake_embedder: FakeEmbedder) -> None:
    writer = IndexWriter(fake_seed_index, fake_embedder)
    _churn(fake_seed_index, writer)
    before = open_index(fake_seed_index)
    live = before.store.hashes()
    merged = merge(fake_seed_index, before, [s.name for s in before.segments])
    assert merged is not None and len(merged.segments) == 1
    (only,) = merged.segments
    assert only.info.deleted_chunks == 0 and only.segment.chunks == merged.manifest.counts.chunks
    assert merged.store.hashes() == live
    merged.deep_check()
    _check_exact(merged, fake_embedder)
    # The merged-away segments' files go once no kept version names them.
    writer.apply([_doc(9)])
    writer.apply([_doc(10)])
    names = {p.name for p in (fake_seed_index / SEGMENTS_DIR).iterdir()}
    assert not names & {s.name for s in before.segments}


def test_writes_during_a_merge_are_not_lost(fake_seed_index: Path, fake_embedder: FakeEmbedder) -> None:
    """A document deleted or replaced after the merge read its snapshot stays deleted or replaced."""
    writer = IndexWriter(fake_seed_index, fake_embedder)
    _churn(fake_seed_index, writer)
    stale = open_index(fake_seed_index)
    writer.apply(deletes=["note-1"])  # lands between the merge's read and its commit
    writer.apply([_doc(3, "Samarkand summit")])
    merged = merge(fake_seed_index, stale, [s.name for s in stale.segments])
    assert merged is not None
    merged.deep_check()
    assert "note-1" not in merged.store.hashes()
    assert "samarkand" in (merged.store.document("note-3") or _doc(0)).text.lower()
    assert merged.manifest.counts.documents == stale.manifest.counts.documents - 1
    _check_exact(merged, fake_embedder)


def test_policy_merges_a_full_tier_and_mostly_deleted_segments(
    fake_seed_index: Path, fake_embedder: FakeEmbedder
) -> None:
    writer = IndexWriter(fake_seed_index, fake_embedder)
    for i in range(SEGMENTS_PER_TIER - 2):
        writer.apply([_doc(i)])
    assert plan(open_index(fake_seed_index).manifest.segments) == []  # 7 small segments: under the tier's limit
    writer.apply([_doc(100)])
    names = plan(open_index(fake_seed_index).manifest.segments)
    assert len(names) == SEGMENTS_PER_TIER
    assert writer.needs_merge()
    snapshot = writer.merge()
    assert len(snapshot.manifest.segments) == 1 and plan(snapshot.manifest.segments) == []
    seeds = sorted(snapshot.store.origins())[:4]
    writer.apply(deletes=seeds)
    assert plan(open_index(fake_seed_index).manifest.segments) == [snapshot.manifest.segments[0].name]  # mostly deleted


def test_large_segments_use_hnsw_with_filters_and_deletes(
    fake_seed_index: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segment_module, "ANN_MIN_CHUNKS", 10)
    writer = IndexWriter(fake_seed_index, fake_embedder)
    _churn(fake_seed_index, writer)
    snapshot = merge_all(fake_seed_index, open_index(fake_seed_index))
    snapshot = merge(fake_seed_index, snapshot, [s.name for s in snapshot.segments]) or snapshot
    assert all(s.segment.hnsw for s in snapshot.segments)
    writer.apply(deletes=["note-0"])  # a tombstone inside the graph
    snapshot = open_index(fake_seed_index)
    assert snapshot.segments[0].info.deleted_chunks > 0
    # On this small collection the graph search is exact, so every comparison with brute force holds.
    _check_exact(snapshot, fake_embedder)
    hits = Searcher(snapshot, fake_embedder).search("river barges", k=50, mode=Mode.dense).hits
    assert "note-0" not in {h.doc_id for h in hits}


def _merge_child(index_dir: Path, stage: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.gated_merge", str(index_dir), stage],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stage", ["building", "committing"])
def test_merge_killed_midway_keeps_the_index(fake_seed_index: Path, fake_embedder: FakeEmbedder, stage: str) -> None:
    """kill -9 while the merged segment is being written, or just before the pointer swap: nothing changes."""
    writer = IndexWriter(fake_seed_index, fake_embedder)
    _churn(fake_seed_index, writer)
    before = open_index(fake_seed_index)
    proc = _merge_child(fake_seed_index, stage)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the child blocks right after printing it: no race with the kill
    assert line.strip() == f"at {stage}", proc.stderr.read() if proc.stderr else ""
    proc.kill()
    proc.wait()
    assert recover(fake_seed_index)  # it removed what the merge left
    after = open_index(fake_seed_index)
    assert after.version == before.version
    assert [s.name for s in after.segments] == [s.name for s in before.segments]
    after.deep_check()
    assert after.store.hashes() == before.store.hashes()
    merged = IndexWriter(fake_seed_index, fake_embedder).merge()  # a later merge completes
    merged.deep_check()
    assert merged.store.hashes() == before.store.hashes()


def test_merge_command(fake_seed_index: Path, fake_embedder: FakeEmbedder, capsys: pytest.CaptureFixture[str]) -> None:
    from indexer.cli import main

    _churn(fake_seed_index, IndexWriter(fake_seed_index, fake_embedder))
    live = open_index(fake_seed_index).store.hashes()
    assert main(["merge", str(fake_seed_index), "--all"]) == 0
    assert "1 segments (was " in capsys.readouterr().out
    after = open_index(fake_seed_index)
    assert len(after.segments) == 1 and after.store.hashes() == live


def test_a_stopped_merge_leaves_nothing(fake_seed_index: Path, fake_embedder: FakeEmbedder) -> None:
    """A merge asked to stop (the service shutting down) commits nothing and removes its partial segment."""
    import threading

    writer = IndexWriter(fake_seed_index, fake_embedder)
    _churn(fake_seed_index, writer)
    before = open_index(fake_seed_index)
    stop = threading.Event()
    stop.set()
    assert merge(fake_seed_index, before, [s.name for s in before.segments], stop=stop) is None
    after = open_index(fake_seed_index)
    assert after.version == before.version
    on_disk = {p.name for p in (fake_seed_index / SEGMENTS_DIR).iterdir()}
    assert on_disk == {s.name for s in before.segments}


def test_writer_adopts_a_newer_version_and_shares_its_segments(
    fake_seed_index: Path, fake_embedder: FakeEmbedder
) -> None:
    """After another process commits, the service's writer reuses the segments its searcher opened."""
    ours = IndexWriter(fake_seed_index, fake_embedder)
    ours.apply([_doc(1)])
    IndexWriter(fake_seed_index, fake_embedder).apply([_doc(2)])  # another process
    older = ours.snapshot
    assert older is not None
    newer = LocalBackend(fake_seed_index).open(reuse=older)  # what the service's refresh opens
    ours.adopt(newer)
    ours.adopt(older)  # an older version is ignored
    assert ours.snapshot is newer
    ours.apply([_doc(3)])
    opened = {s.name: s.segment for s in newer.segments}
    after = ours.snapshot
    assert after is not None and "note-2" in after.store.hashes()
    assert all(s.segment is opened[s.name] for s in after.segments if s.name in opened)
