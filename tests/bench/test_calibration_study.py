"""`bench calibration-study` on a small judged set where dense finds every answer and BM25 none."""

from __future__ import annotations

from pathlib import Path

from bench.calibration_study import format_study, study
from indexer.calibrate import CANDIDATES
from indexer.evaluate import load_beir
from tests.fakes import FakeEmbedder
from tests.test_calibrate import make_judged_set


def test_every_draw_picks_dense_and_loses_nothing_held_out(tmp_path: Path) -> None:
    dataset = load_beir(make_judged_set(tmp_path / "judged"))
    means, figures = study(dataset, FakeEmbedder(dimension=512), tmp_path / "index", sizes=[5, 10, 20], draws=30)
    assert list(means) == [c.name for c in CANDIDATES] and means["dense"] == 1.0 and means["lexical"] == 0.0
    assert list(figures) == ["5", "10"]  # 20 of 20 questions leaves none held out
    for rules in figures.values():
        three = rules["calibrate (3 choices)"]
        assert three["gain"] == 0.0 and three["no_worse"] == 1.0  # dense, the better single mode, every time
        assert three["default_gain"] < 0  # equal-weight hybrid loses here
        assert rules["argmax (12 candidates)"]["gain"] <= 0.0
    table = format_study(dataset, means, figures)
    assert "| 10 | calibrate (3 choices) | +0.0000 | 100% |" in table
