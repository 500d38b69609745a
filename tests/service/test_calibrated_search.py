"""A calibrated collection searches in its chosen mode where a request names none, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from indexer.calibrate import record
from indexer.manifest import Calibration, CandidateScore
from indexer.storage.base import Backend
from indexer.storage.settings import BackendName
from tests.conftest import fake_client, storage, wait_until

LEXICAL = Calibration(
    mode="lexical",
    chosen="lexical",
    questions=40,
    folds=5,
    judgments="judged/",
    calibrated_at=datetime(2026, 12, 2, tzinfo=UTC),
    held_out_ndcg_at_10=0.61,
    candidates=(CandidateScore(name="lexical", ndcg_at_10=0.62), CandidateScore(name="dense", ndcg_at_10=0.4)),
)


def test_a_calibration_recorded_meanwhile_becomes_the_default_and_a_request_still_chooses(
    seed_backend: Backend, engine: BackendName, tmp_path: Path
) -> None:
    settings = storage(engine, tmp_path).model_copy(update={"reload_interval": 0.05})
    with fake_client(settings) as client:
        assert client.get("/search", params={"q": "tides"}).json()["mode"] == "hybrid"
        defaults = client.get("/stats").json()["search_defaults"]
        assert defaults == {
            "mode": "hybrid",
            "fusion": "dbsf",
            "dense_weight": 0.5,
            "calibrated": False,
            "questions": None,
            "held_out_ndcg_at_10": None,
        }
        version = record(seed_backend, LEXICAL).version  # as `indexer calibrate` in another process does
        wait_until(lambda: client.get("/stats").json()["index_version"] == version, "the new version to be served")
        for url in ("/search", "/collections/default/search"):
            assert client.get(url, params={"q": "tides"}).json()["mode"] == "lexical"
            assert client.post(url, json={"query": "tides"}).json()["mode"] == "lexical"
            assert client.get(url, params={"q": "tides", "mode": "dense"}).json()["mode"] == "dense"
            assert client.post(url, json={"query": "tides", "mode": "hybrid"}).json()["fusion"] == "dbsf"
        stats = client.get("/stats").json()["search_defaults"]
        assert stats["mode"] == "lexical" and stats["calibrated"] is True
        assert (stats["questions"], stats["held_out_ndcg_at_10"]) == (40, 0.61)
    with fake_client(settings.model_copy(update={"use_calibration": False})) as client:
        assert client.get("/search", params={"q": "tides"}).json()["mode"] == "hybrid"
        assert client.get("/stats").json()["search_defaults"]["calibrated"] is False


def test_the_mcp_search_tool_uses_the_calibrated_mode_too(fake_seed_index: Path, tmp_path: Path) -> None:
    import asyncio
    import signal

    from indexer.storage.factory import as_backend
    from tests.conftest import KEY, start_fake_server
    from tests.service.test_mcp import connect

    backend = as_backend(fake_seed_index)
    record(backend, LEXICAL)
    backend.close()
    proc, base = start_fake_server(fake_seed_index, tmp_path / "server.log")

    async def search(**arguments: str) -> dict[str, object]:
        async with connect(base, KEY) as client:
            result = await client.call_tool("search", {"query": "tides", "k": 2, **arguments})
            assert not result.is_error and result.structured_content is not None
            content: dict[str, object] = result.structured_content
            return content

    try:
        assert asyncio.run(search())["mode"] == "lexical"
        assert asyncio.run(search(mode="dense"))["mode"] == "dense"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
