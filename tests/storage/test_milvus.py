"""The Milvus engine's own guarantees, on Milvus Lite: versions kept in rows, recovery, generations, purging.

What both engines must do alike is tested by the backend-neutral tests (the `engine` fixture).
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.building.builder import build_index, chunking_info, model_info
from indexer.building.writer import IndexWriter
from indexer.errors import BackendError, IndexNotFoundError
from indexer.ingest.chunking import ChunkingConfig
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.milvus import MilvusBackend
from indexer.storage.milvus.expressions import in_list, row_data
from indexer.storage.milvus.schema import chunk_fields
from indexer.storage.milvus.snapshot import MilvusSnapshot
from indexer.storage.milvus.versions import KEEP_SECONDS, KEEP_VERSIONS
from indexer.storage.settings import BackendName
from indexer.types import Document, Filter
from service.settings import Settings
from tests.fakes import FakeEmbedder

pytestmark = pytest.mark.milvus


@pytest.fixture
def backend(tmp_path: Path, seeds_copy: Path) -> Iterator[MilvusBackend]:
    backend = MilvusBackend(str(tmp_path / "m.db"), "seekr")
    build_index(seeds_copy, backend, FakeEmbedder())
    yield backend
    backend.close()


def _doc(doc_id: str, text: str, source: str = "api") -> Document:
    return Document(doc_id, "", text, source, {})


def _lexical_ids(snapshot: MilvusSnapshot, query: str, embedder: FakeEmbedder | None = None) -> list[str]:
    searcher = Searcher(snapshot, embedder or FakeEmbedder())
    return [h.doc_id for h in searcher.search(query, k=10, mode=Mode.lexical).hits]


def test_a_snapshot_keeps_its_version_while_writes_go_on(backend: MilvusBackend) -> None:
    before = backend.open()
    victim = sorted(before.store.hashes())[0]
    IndexWriter(backend, FakeEmbedder()).apply([_doc("walrus", "A walrus colony on the ice shelf.")], [victim])
    after = backend.open()
    assert after.version == before.version + 1
    assert victim in before.store.hashes() and "walrus" not in before.store.hashes()
    assert victim not in after.store.hashes() and "walrus" in after.store.hashes()
    assert _lexical_ids(before, "walrus colony") == [] and _lexical_ids(after, "walrus colony") == ["walrus"]
    before.deep_check()
    after.deep_check()


def test_recover_undoes_a_write_that_never_committed(backend: MilvusBackend) -> None:
    base = backend.open()
    victim, other = sorted(base.store.hashes())[:2]
    embedder = FakeEmbedder()
    tx = backend.transaction(base, model_info(embedder), chunking_info(ChunkingConfig()))
    from indexer.building.builder import prepare_updates

    tx.delete([victim])
    tx.add(
        prepare_updates([_doc("ghost", "A ghost write about puffins.")], {"ghost": "api"}, embedder, ChunkingConfig())
    )
    # A writer that died between inserting the marked copies of a document and deleting the originals.
    names, conn = base.names, backend.conn
    originals = conn.query(names.chunks, f"{base.live} and {in_list('doc_id', [other])}", ["chunk_id", "doc_id"])
    full = conn.query(
        names.chunks,
        in_list("chunk_id", [r["chunk_id"] for r in originals]),
        chunk_fields(conn, names.chunks),
    )
    conn.insert(names.chunks, [{**row_data(r), "deleted_at": base.version + 1} for r in full])

    assert backend.current_version() == base.version  # nothing committed
    repairs = backend.recover()
    assert repairs and "undid" in repairs[0]
    again = backend.open()
    again.deep_check()
    assert again.store.hashes() == base.store.hashes()
    assert sorted(again.store.chunk_ids()) == sorted(base.store.chunk_ids())
    assert (
        conn.count(names.chunks, "deleted_at > 0") == 0 and conn.count(names.chunks, f"version > {base.version}") == 0
    )
    assert backend.recover() == []


def test_a_rebuild_writes_a_new_generation_and_drops_the_old_later(backend: MilvusBackend, seeds_copy: Path) -> None:
    old = backend.open()
    other = FakeEmbedder(model_id="fake-other")
    report = build_index(seeds_copy, backend, other)
    assert report.rebuild_reason is not None and "model changed" in report.rebuild_reason
    new = backend.open()
    assert new.names.generation == old.names.generation + 1 and new.manifest.model.id == "fake-other"
    assert new.store.hashes() == old.store.hashes()
    assert _lexical_ids(old, "Wang Yi") == _lexical_ids(new, "Wang Yi", other)  # the old generation still serves
    IndexWriter(backend, other).apply([_doc("late", "A later write.")])
    listed = backend.conn.client.list_collections()
    assert old.names.chunks not in listed and new.names.chunks in listed


@pytest.mark.parametrize("keep_seconds", [0.0, KEEP_SECONDS])
def test_rows_no_kept_version_sees_are_purged(tmp_path: Path, seeds_copy: Path, keep_seconds: float) -> None:
    backend = MilvusBackend(str(tmp_path / "m.db"), "seekr", keep_seconds=keep_seconds)
    build_index(seeds_copy, backend, FakeEmbedder())
    writer = IndexWriter(backend, FakeEmbedder())
    snapshots = []
    writes = KEEP_VERSIONS + 3
    for i in range(writes):
        writer.apply([_doc("churn", f"Version {i} of a document about narwhals.")])
        snapshots.append(backend.open())
    names, conn = snapshots[-1].names, backend.conn
    copies = conn.count(names.docs, in_list("doc_id", ["churn"]))
    if keep_seconds == 0:
        # The copies the last KEEP_VERSIONS versions can see are left, the live one among them.
        assert copies == KEEP_VERSIONS
        assert conn.count(backend.versions.meta_collection, "version >= 0") == KEEP_VERSIONS
    else:
        # Every version committed in the last KEEP_SECONDS stays readable, however many there were.
        assert copies == writes
    kept = snapshots[-KEEP_VERSIONS:] if keep_seconds == 0 else snapshots
    for snapshot in kept:
        snapshot.deep_check()
        assert len(Searcher(snapshot, FakeEmbedder()).search("narwhals", k=3, mode=Mode.lexical).hits) == 1
    backend.close()


def test_no_index_is_a_clear_error(tmp_path: Path) -> None:
    backend = MilvusBackend(str(tmp_path / "empty.db"), "seekr")
    with pytest.raises(IndexNotFoundError, match="--backend milvus"):
        backend.open()
    assert backend.current_version() is None
    backend.close()


def test_an_unreachable_server_is_a_clear_error() -> None:
    backend = MilvusBackend("http://127.0.0.1:9", "seekr")  # discard port: nothing listens
    with pytest.raises(BackendError, match=r"cannot connect to Milvus at http://127.0.0.1:9.*SEEKR_MILVUS_URI"):
        backend.open()


def _lite_server_pid(db: str) -> int:
    from milvus_lite.server_manager import server_manager_instance

    return int(server_manager_instance._servers[str(Path(db).resolve())]._p.pid)  # where milvus-lite keeps it


def test_a_hung_server_fails_the_call_after_the_timeout(backend: MilvusBackend) -> None:
    """A call past `timeout` (SEEKR_MILVUS_TIMEOUT) is a BackendError (a 503), not a request that never ends.

    The server is stopped, not slowed: the search cannot succeed, so only the timeout can end it."""
    hung = MilvusBackend(backend.uri, backend.prefix, timeout=5.0)  # shares the client, with its own timeout
    searcher = Searcher(hung.open(), FakeEmbedder())
    pid = _lite_server_pid(backend.uri)
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(BackendError, match=r"failed to search .*: DEADLINE_EXCEEDED after at most 5 s"):
            searcher.search("Astana", k=3, mode=Mode.dense)
    finally:
        os.kill(pid, signal.SIGCONT)
    hung.close()  # one user of the shared client gone: the other backend keeps working
    assert Searcher(backend.open(), FakeEmbedder()).search("Astana", k=3, mode=Mode.dense).hits


def test_a_lite_file_cannot_serve_several_workers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="opens in one process only"):
        Settings(backend=BackendName.milvus, milvus_uri=str(tmp_path / "m.db"), workers=2)


@pytest.mark.parametrize("engine", [BackendName.local, BackendName.milvus])
def test_source_prefix_with_like_wildcards_is_literal(engine: BackendName, tmp_path: Path) -> None:
    """Milvus LIKE cannot escape % and _: such a prefix is still matched literally."""
    from tests.conftest import engine_backend

    src = tmp_path / "src"
    for folder in ("a_b", "a%b", "axb"):
        (src / folder).mkdir(parents=True)
        (src / folder / "note.txt").write_text(f"A note about otters kept in {folder}.")
    backend = engine_backend(engine, tmp_path)
    build_index(src, backend, FakeEmbedder())
    searcher = Searcher(backend.open(), FakeEmbedder())
    for prefix in ("a_b/", "a%b/", "axb/"):
        hits = searcher.search("otters", k=5, where=Filter(source_prefix=prefix)).hits
        assert [h.source for h in hits] == [f"{prefix}note.txt"]
    backend.close()


@pytest.mark.slow
def test_readme_milvus_lite_commands_run_as_written(tmp_path: Path) -> None:
    """The docs' Milvus Lite build and query lines, typed as they are, with the bundled model."""
    import os
    import re
    import subprocess
    import sys

    from tests.conftest import ROOT, SEEDS

    readme = (ROOT / "docs" / "milvus.md").read_text(encoding="utf-8")
    section = readme.split("## Beyond one machine", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None
    lines = [line for line in block.group(1).splitlines() if line.startswith("python -m indexer") and ".db" in line]
    assert [line.split()[3] for line in lines] == ["build", "query"]
    (tmp_path / "seeds").symlink_to(SEEDS)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    outputs = []
    for line in lines:
        words = [sys.executable if w == "python" else w for w in line.split('"')[0].split()]
        words += [q for q in re.findall(r'"([^"]*)"', line)]
        done = subprocess.run(words, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert "committed version 1 at milvus ./seekr.db collection seekr" in outputs[0]
    assert "documents: 5 (5 added" in outputs[0]
    assert "Wang Yi" in outputs[1].split("\n2. ")[0]  # the first hit is about him


def _temp_milvus_logs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("milvus*") if p.is_file()}


def test_milvus_lite_logs_beside_its_file_never_in_the_temp_folder(backend: MilvusBackend, tmp_path: Path) -> None:
    before = _temp_milvus_logs()
    backend.open().deep_check()  # the fixture's backend started a server for m.db
    beside = tmp_path / "m.db.logs"
    assert any(p.name.startswith("milvus") for p in beside.iterdir()), "Milvus Lite wrote no log beside its file"
    chosen = tmp_path / "chosen-logs"
    other = MilvusBackend(str(tmp_path / "other.db"), "seekr", log_dir=chosen)
    try:
        assert other.current_version() is None  # connects: starts a second server
    finally:
        other.close()
    assert any(p.name.startswith("milvus") for p in chosen.iterdir())
    assert _temp_milvus_logs() == before
    assert "GLOG_log_dir" not in os.environ  # set for a server's start only
