"""`bench long-queries`: paragraph questions made from judgments, asked with the query embedded both ways."""

from __future__ import annotations

import json
from pathlib import Path

from bench.long_queries import paragraph_questions, study
from indexer.evaluate import load_beir
from tests.fakes import FakeEmbedder


def _beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        {
            "_id": f"d{i}",
            "title": f"Doc {i}",
            "text": f"Harbour cranes load ships at quay {i}. The tide sets the hour. " * 6,
        }
        for i in range(6)
    ]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(c) + "\n" for c in corpus))
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "cranes"}\n{"_id": "q2", "text": "tides"}\n')
    judged = "q1\td3\t2\nq1\td1\t1\nq1\td4\t2\nq1\td5\t1\nq2\td2\t1\nq2\td0\t1\n"  # q2: too few to split
    (folder / "qrels" / "test.tsv").write_text(judged)
    return folder


def test_a_question_is_its_two_best_judged_documents_and_the_others_answer_it(tmp_path: Path) -> None:
    dataset = load_beir(_beir(tmp_path / "set"))
    questions, qrels, made_of = paragraph_questions(dataset)
    assert list(questions) == ["q1"] and made_of["q1"] == {"d3", "d4"}  # grade 2 first, ties by id
    assert qrels == {"q1": {"d1": 1, "d5": 1}}
    texts = {d.doc_id: d.text for d in dataset.corpus.documents}
    assert questions["q1"] == texts["d3"] + "\n\n" + texts["d4"]


def test_the_study_reports_both_ways_in_both_modes(tmp_path: Path) -> None:
    result = study(load_beir(_beir(tmp_path / "set")), FakeEmbedder(max_tokens=130), tmp_path / "index")
    assert result["questions"] == 1 and result["longer than the model reads"] == 1
    for key in ("dense, truncated", "dense, mean of pieces", "hybrid, truncated", "hybrid, mean of pieces"):
        assert 0.0 <= float(result[key]) <= 1.0
