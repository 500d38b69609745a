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
