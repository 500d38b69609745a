"""The evaluation command on a small BEIR fixture, and the metrics against hand-computed values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.errors import ConfigError
from indexer.evaluate import evaluate, format_table, load_beir
from indexer.ingest.chunking import ChunkingConfig
from indexer.judgments import read_qrels, score_run
from indexer.storage.local.backend import LocalBackend
from indexer.storage.settings import BackendName
from tests.fakes import FakeEmbedder

FIXTURE = Path(__file__).parent / "fixtures" / "beir-mini"


def test_metrics_match_hand_computed_values() -> None:
    qrels = {"1": {"a": 2, "b": 1}, "2": {"c": 1}}
    run = {"1": {"x": 3.0, "a": 2.0, "b": 1.0}, "2": {"z": 1.0}}
    # q1: DCG = 2/log2(3) + 1/log2(4) = 1.76186; IDCG = 2 + 1/log2(3) = 2.63093; nDCG = 0.66967. q2: 0.
    m = score_run(qrels, run)
    assert m["nDCG@10"] == pytest.approx((2 / 1.5849625 + 0.5) / (2 + 1 / 1.5849625) / 2, abs=1e-5)
    assert m["MRR@10"] == pytest.approx(0.25)
    assert m["Recall@10"] == pytest.approx(0.5)
    assert score_run(qrels, {"1": {"a": 2.0, "b": 1.0}})["nDCG@10"] == pytest.approx(0.5)  # missing query = 0


def test_qrels_with_and_without_header(tmp_path: Path) -> None:
    (tmp_path / "with.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t2\n1\td2\t0\n")
    (tmp_path / "without.tsv").write_text("1 d1 2\n1 d2 0\n")
    assert read_qrels(tmp_path / "with.tsv") == read_qrels(tmp_path / "without.tsv") == {"1": {"d1": 2, "d2": 0}}
    (tmp_path / "bad.tsv").write_text("1\td1\t2\n1\td2\tvery\n")
    with pytest.raises(ConfigError, match="not a number"):
        read_qrels(tmp_path / "bad.tsv")


def test_load_beir_keeps_judged_queries_and_skips_empty_docs() -> None:
    ds = load_beir(FIXTURE)
    assert set(ds.queries) == {"q1", "q2", "q3", "q4"}
    assert len(ds.corpus.documents) == 7 and ds.corpus.skipped[0].path == "corpus.jsonl:7"
    d2 = next(d for d in ds.corpus.documents if d.doc_id == "d2")
    assert d2.text.startswith("Volcanoes\n\n") and d2.title == "Volcanoes"


def test_missing_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"corpus\.jsonl is missing"):
        load_beir(tmp_path)


def test_evaluate_fixture_end_to_end(tmp_path: Path) -> None:
    ds = load_beir(FIXTURE)
    report = evaluate(ds, FakeEmbedder(), ChunkingConfig(32, 8), backend=LocalBackend(tmp_path / "idx"), progress=False)
    systems = [r.system for r in report.rows]
    assert systems == [
        "seekr dense",
        "seekr lexical",
        "seekr hybrid (dbsf, default)",
        "seekr hybrid (rrf)",
        "seekr default (no mode named)",
        "baseline dense (whole docs, IndexFlatIP)",
        "baseline BM25 (bm25s, whole docs)",
        "baseline BM25 (ICU words, bm25s, whole docs)",
    ]
    assert report.chunks > report.documents  # the long document was split
    for row in report.rows:
        assert set(row.metrics) == {"nDCG@10", "Recall@10", "Recall@100", "MRR@10"}
        assert all(0.0 <= v <= 1.0 for v in row.metrics.values())
        assert row.mean_query_ms > 0 and row.p95_query_ms >= 0
    lexical = next(r for r in report.rows if r.system == "seekr lexical")
    assert lexical.metrics["MRR@10"] == pytest.approx(1.0)  # every judged query shares rare words with its answer
    assert lexical.metrics["Recall@100"] == pytest.approx(1.0)
    dense = report.rows[0]
    assert set(dense.per_query) == set(ds.qrels) and dense.wins == dense.losses == 0
    for row in report.rows[1:]:
        assert row.wins is not None and row.losses is not None
        wins = sum(1 for q, v in row.per_query.items() if v > dense.per_query[q] + 1e-9)
        assert row.wins == wins and row.wins + row.losses <= len(ds.qrels)
    mean = sum(lexical.per_query.values()) / len(lexical.per_query)
    assert mean == pytest.approx(lexical.metrics["nDCG@10"])
    table = format_table(report)
    assert "| seekr hybrid (dbsf, default) |" in table and "won / lost" in table
    assert json.loads(json.dumps(report.to_json()))["rows"][0]["system"] == "seekr dense"


def test_fusion_study_reports_every_condition_system_and_split(tmp_path: Path) -> None:
    from bench.fusion_study import CALIBRATED, format_study, study
    from indexer.calibrate import CANDIDATES, CHOICES

    result = study(load_beir(FIXTURE), FakeEmbedder(), tmp_path / "idx")
    assert list(result) == [
        "as built",
        "weak lexical",
        "weak dense",
        "weak dense (half question)",
        "weak lexical (half question)",
    ]
    for systems in result.values():
        assert list(systems) == [*(c.name for c in CANDIDATES), CALIBRATED]
        for splits in systems.values():
            assert list(splits) == ["odd", "even (held out)", "all"]
            assert all(0.0 <= v <= 1.0 for v in splits.values())
        # The calibrated row is one of dense, lexical and equal hybrid on the held-out questions.
        held_out = systems[CALIBRATED]["even (held out)"]
        assert held_out in {systems[c.name]["even (held out)"] for c in CHOICES}
    # The weak conditions weaken the retriever they name and leave the other alone.
    assert result["weak lexical"]["dense"] == result["as built"]["dense"]
    assert result["weak dense"]["lexical"] == result["as built"]["lexical"]
    assert result["weak dense (half question)"]["lexical"] == result["as built"]["lexical"]
    assert result["weak dense (half question)"]["dense"]["all"] < result["as built"]["dense"]["all"]
    assert result["weak lexical (half question)"]["dense"] == result["as built"]["dense"]
    assert result["weak lexical (half question)"]["lexical"]["all"] < result["as built"]["lexical"]["all"]
    table = format_study(result)
    assert "| weak dense | hybrid dbsf w=0.50 (default) |" in table and table.count("(weight chosen on odd)") == 5
    assert table.count(f"| {CALIBRATED} |") == 5


@pytest.mark.milvus
def test_milvus_evaluates_like_local() -> None:
    """Both engines rank with the project's own fusion and the same BM25: the same figures, per question."""
    ds = load_beir(FIXTURE)
    config = ChunkingConfig(32, 8)
    local = evaluate(ds, FakeEmbedder(), config, baselines=False, progress=False)
    milvus = evaluate(ds, FakeEmbedder(), config, engine=BackendName.milvus, baselines=False, progress=False)
    assert (local.backend, milvus.backend) == ("local", "milvus")
    for ours, theirs in zip(local.rows, milvus.rows, strict=True):
        assert ours.system == theirs.system
        assert theirs.per_query == pytest.approx(ours.per_query, abs=1e-9)
