"""Calibration from judged questions: the choosing rule, its cross-validation, and the record in the manifest
that every later version (and an export) carries, on both engines."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from unittest import mock

import pytest

from indexer.building.builder import sync_index
from indexer.building.transfer import export, import_into
from indexer.building.writer import IndexWriter
from indexer.calibrate import (
    CANDIDATES,
    CHOICES,
    DEFAULT,
    RERANKED,
    calibrate,
    choose,
    cross_validate,
    folds_of,
    record,
)
from indexer.cli import main
from indexer.errors import ConfigError
from indexer.evaluate import load_beir
from indexer.ingest.chunking import ChunkingConfig
from indexer.judgments import read_judgments
from indexer.retrieval.defaults import DEFAULTS
from indexer.retrieval.rerank import RerankStage
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Backend
from indexer.storage.settings import BackendName
from indexer.types import Document
from tests.conftest import engine_backend
from tests.fakes import FakeEmbedder

QUESTIONS = 20


def make_judged_set(folder: Path, n: int = QUESTIONS) -> Path:
    """A BEIR set where the (fake) dense model finds every answer and BM25 none.

    Each document has a made-up word; its question has another word with the same first five letters (the fake
    model hashes five-letter prefixes, so they embed alike) but another stem (BM25 does not match it). Each
    question also has a decoy word that only the next document holds, which BM25 ranks first.
    """
    rng = random.Random(7)

    def word() -> str:
        return "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(5))

    prefixes, decoys = [word() for _ in range(n)], [word() + "ion" for _ in range(n)]
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": f"d{i}", "title": f"Entry {i}", "text": f"{prefixes[i]}ary {prefixes[i]}ary notes on the "
         f"{decoys[(i + 1) % n]} of things."}
        for i in range(n)
    ]  # fmt: skip
    queries = [{"_id": f"q{i}", "text": f"{prefixes[i]}ous {prefixes[i]}ous {decoys[(i + 2) % n]}"} for i in range(n)]
    for name, records in (("corpus.jsonl", corpus), ("queries.jsonl", queries)):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(n))
    )
    return folder


EMBEDDER = FakeEmbedder(dimension=512)  # wide enough that the made-up prefixes do not collide


@pytest.fixture
def judged(tmp_path: Path, engine: BackendName) -> tuple[Backend, Path]:
    folder = make_judged_set(tmp_path / "judged")
    backend = engine_backend(engine, tmp_path)
    sync_index(load_beir(folder).corpus, backend, EMBEDDER, ChunkingConfig(32, 8))
    return backend, folder


def test_choose_takes_the_best_of_dense_lexical_and_equal_hybrid_and_a_tie_keeps_the_default() -> None:
    questions = ["a", "b"]
    scores = {c.name: {"a": 0.5, "b": 0.5} for c in CANDIDATES}
    assert choose(scores, questions) == DEFAULT.name  # all equal
    scores["hybrid dbsf w=0.90"] = {"a": 1.0, "b": 1.0}  # a fine weight is evidence, not a choice
    assert choose(scores, questions) == DEFAULT.name
    scores["lexical"] = {"a": 0.9, "b": 0.2}
    assert choose(scores, questions) == "lexical"
    scores["dense"] = {"a": 0.6, "b": 0.6}
    assert choose(scores, questions) == "dense"


def test_cross_validation_scores_each_question_by_the_choice_made_without_it() -> None:
    scores = {c.name: dict.fromkeys("abcd", 0.0) for c in CANDIDATES}
    scores[DEFAULT.name] = dict.fromkeys("abcd", 0.5)
    scores["dense"] = {"a": 1.0, "b": 1.0, "c": 0.0, "d": 0.0}
    # Held out a and b, the choice sees c and d, where the default wins; held out c and d, it sees a and b, where
    # dense wins. In sample the two tie (0.5 each) and the default is chosen.
    held_out = cross_validate(scores, [["a", "b"], ["c", "d"]])
    assert held_out == {"a": 0.5, "b": 0.5, "c": 0.0, "d": 0.0}
    assert choose(scores, list("abcd")) == DEFAULT.name


def test_folds_deal_every_question_once_the_same_way_each_time() -> None:
    questions = [f"q{i}" for i in range(23)]
    folds = folds_of(questions, 5)
    assert sorted(q for fold in folds for q in fold) == sorted(questions)
    assert [len(f) for f in folds] == [5, 5, 5, 4, 4]
    assert folds_of(list(reversed(questions)), 5) == folds  # reproducible, whatever the input order
    assert folds_of(questions, 5, seed=1) != folds


def test_calibration_chooses_the_retriever_that_finds_the_answers(judged: tuple[Backend, Path]) -> None:
    backend, folder = judged
    queries, qrels = read_judgments(folder)
    searcher = Searcher(backend.open(), EMBEDDER)
    # Checked directly: dense puts every answer first, BM25 none in its ten.
    for qid, text in queries.items():
        dense = searcher.search(text, k=10, mode=Mode.dense, max_per_doc=1).hits
        lexical = searcher.search(text, k=10, mode=Mode.lexical, max_per_doc=1).hits
        assert dense[0].doc_id == next(iter(qrels[qid]))
        assert next(iter(qrels[qid])) not in [h.doc_id for h in lexical]
    calibration = calibrate(searcher, queries, qrels, judgments=str(folder), folds=4)
    assert (calibration.mode, calibration.fusion, calibration.dense_weight) == ("dense", None, None)
    assert calibration.chosen == "dense" and calibration.questions == QUESTIONS and calibration.folds == 4
    scores = {c.name: c.ndcg_at_10 for c in calibration.candidates}
    assert list(scores) == [c.name for c in CANDIDATES]
    assert scores["dense"] == 1.0 and scores["lexical"] == 0.0 and 0.0 < scores[DEFAULT.name] < 1.0
    assert calibration.held_out_ndcg_at_10 == 1.0  # every fold's choice is dense too


def test_the_record_is_a_new_version_that_later_writes_and_exports_carry(
    judged: tuple[Backend, Path], tmp_path: Path, engine: BackendName
) -> None:
    backend, folder = judged
    queries, qrels = read_judgments(folder)
    before = backend.open()
    calibration = calibrate(Searcher(before, EMBEDDER), queries, qrels, judgments=str(folder))
    after = record(backend, calibration)
    assert after.version == before.version + 1 and after.manifest.counts == before.manifest.counts
    assert backend.read_manifest().calibration == calibration
    # Searches that name no mode use the choice; a request's own mode wins.
    searcher = Searcher(after, EMBEDDER, defaults=DEFAULTS.calibrated(after.manifest.calibration))
    assert searcher.search("anything", k=1).mode is Mode.dense
    assert searcher.search("anything", k=1, mode=Mode.lexical).mode is Mode.lexical
    # A document write keeps it; an export carries it into another engine's collection.
    written = IndexWriter(backend, EMBEDDER).apply([Document("new", "New", "A new note.", "api", {})]).snapshot
    assert written is not None and written.manifest.calibration == calibration
    export(written, tmp_path / "out")
    other = engine_backend(BackendName.local if engine is BackendName.milvus else BackendName.milvus, tmp_path / "o")
    try:
        import_into(tmp_path / "out", other)
        assert other.read_manifest().calibration == calibration
    finally:
        other.close()
    # Clearing records a version without it; a rebuild that re-embeds (other chunking) starts without it too.
    assert record(backend, None).manifest.calibration is None
    record(backend, calibration)
    rebuilt = sync_index(load_beir(folder).corpus, backend, EMBEDDER, ChunkingConfig(48, 8))
    assert rebuilt.rebuild_reason is not None and backend.read_manifest().calibration is None
    backend.close()


def test_too_few_questions_or_a_missing_folder_is_a_clear_error(judged: tuple[Backend, Path], tmp_path: Path) -> None:
    backend, folder = judged
    queries, qrels = read_judgments(folder)
    searcher = Searcher(backend.open(), EMBEDDER)
    few = dict(list(queries.items())[:4])
    with pytest.raises(ConfigError, match=r"4 judged questions .* at least 5"):
        calibrate(searcher, few, qrels, judgments="few")
    with pytest.raises(ConfigError, match=r"qrels/test\.tsv is missing"):
        read_judgments(tmp_path / "nothing")
    backend.close()


def test_cli_calibrate_dry_run_record_query_and_uncalibrate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_judged_set(tmp_path / "judged")
    data = tmp_path / "data"
    sync_index(load_beir(folder).corpus, data, EMBEDDER, ChunkingConfig(32, 8))
    with mock.patch("indexer.cli.options.load_embedder", lambda *a, **k: EMBEDDER):
        assert main(["calibrate", str(data), str(folder), "--dry-run", "--json", str(tmp_path / "c.json")]) == 0
        out = capsys.readouterr().out
        assert "| dense (chosen) | 1.0000 |" in out and "nothing recorded" in out
        assert json.loads((tmp_path / "c.json").read_text())["chosen"] == "dense"
        assert main(["collections", "show", "default", "--index", str(data)]) == 0
        assert json.loads(capsys.readouterr().out)["manifest"]["calibration"] is None
        assert main(["calibrate", str(data), str(folder)]) == 0
        assert "searches that name no mode use dense" in capsys.readouterr().out
        assert main(["query", str(data), "notes on things"]) == 0
        assert "(dense," in capsys.readouterr().out
        assert main(["query", str(data), "notes on things", "--mode", "hybrid"]) == 0
        assert "(hybrid," in capsys.readouterr().out
        assert main(["uncalibrate", str(data)]) == 0
        assert main(["query", str(data), "notes on things"]) == 0
        assert "(hybrid," in capsys.readouterr().out
        assert main(["calibrate", str(data), str(folder), "--folds", "1"]) == 2
        assert "at least 2 folds" in capsys.readouterr().err


def test_eval_reports_the_calibrated_choice_cross_validated(tmp_path: Path) -> None:
    from indexer.evaluate import evaluate, format_table

    folder = make_judged_set(tmp_path / "judged")
    report = evaluate(load_beir(folder), EMBEDDER, ChunkingConfig(32, 8), baselines=False, progress=False)
    rows = {row.system: row for row in report.rows}
    calibrated = rows["seekr calibrated (5-fold cross-validated)"]
    # Every fold's choice is dense here, so each question is ranked as dense ranks it.
    assert calibrated.per_query == rows["seekr dense"].per_query
    assert calibrated.metrics == rows["seekr dense"].metrics and calibrated.metrics["nDCG@10"] == 1.0
    assert "| seekr calibrated (5-fold cross-validated) | 1.0000 |" in format_table(report)


class _Oracle:
    """A reranker that knows the answers: a passage holding the question's made-up word (its first five letters
    then `ary`) scores 1, any other 0. A test double behind the real interface, as the fake embedder is."""

    model_id = "oracle"

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        return [float(f"{question[:5]}ary" in p) for p in passages]


def test_with_a_reranker_the_reranked_settings_are_candidates_and_the_choice_says_whether_to_rerank(
    judged: tuple[Backend, Path],
) -> None:
    backend, folder = judged
    queries, qrels = read_judgments(folder)
    snapshot = backend.open()
    searcher = Searcher(snapshot, EMBEDDER, stages=[RerankStage(_Oracle(), 20)])
    calibration = calibrate(searcher, queries, qrels, judgments=str(folder), folds=4)
    scores = {c.name: c.ndcg_at_10 for c in calibration.candidates}
    assert list(scores) == [c.name for c in (*CANDIDATES, *RERANKED)]
    # The oracle lifts the default's answers to the top; BM25's ten hold none, so reranking them cannot help.
    assert scores[DEFAULT.name] < scores[f"{DEFAULT.name} + reranker"] == 1.0
    assert scores["lexical + reranker"] == scores["lexical"] == 0.0
    # Dense alone already ranks every answer first: a tie keeps the setting without the reranker (cheaper).
    assert calibration.chosen == "dense" and calibration.rerank is False
    calibrated = Searcher(snapshot, EMBEDDER, defaults=DEFAULTS.calibrated(calibration), stages=searcher.stages)
    assert calibrated.search("anything", k=3).rerank == "off"
    assert (calibrated.search("anything", k=3, rerank=True).rerank or "").startswith("reranked")
    # Where dense and lexical are worse than the reranked default, the rule takes it, and searches then rerank.
    names = [c.name for c in (*CHOICES, *RERANKED)]
    made_up = {n: dict.fromkeys(queries, 0.5) for n in scores}
    made_up[f"{DEFAULT.name} + reranker"] = dict.fromkeys(queries, 0.9)
    assert choose(made_up, list(queries), (*CHOICES, *RERANKED)) == f"{DEFAULT.name} + reranker"
    assert names[0] == DEFAULT.name
    # Without a reranker, nothing reranked is judged and the record says so.
    plain = calibrate(Searcher(snapshot, EMBEDDER), queries, qrels, judgments=str(folder), folds=4)
    assert plain.rerank is None and not any("reranker" in c.name for c in plain.candidates)
