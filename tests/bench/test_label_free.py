"""`bench label-free` on the small BEIR fixture: every rule is reported, and the inverse cloze asks sentences held
out of the documents, never a judged question."""

from __future__ import annotations

from pathlib import Path

from bench.label_free import format_study, inverse_cloze, study
from indexer.calibrate import CANDIDATES, CHOICES
from indexer.evaluate import load_beir
from indexer.storage.local.versions import open_index
from tests.fakes import FakeEmbedder

FIXTURE = Path(__file__).parent.parent / "fixtures" / "beir-mini"


def test_every_rule_is_reported_and_the_cloze_choice_is_judged_on_the_real_questions(tmp_path: Path) -> None:
    dataset = load_beir(FIXTURE)
    result = study(dataset, FakeEmbedder(), tmp_path)
    for candidate in CANDIDATES:
        assert 0.0 <= float(result[candidate.name]) <= 1.0
    assert 0.0 <= float(result["per query: z of the top 1"]) <= 1.0
    assert int(result["inverse cloze: pseudo-questions"]) > 0
    best, three = str(result["inverse cloze: best of 12"]), str(result["inverse cloze: best of 3"])
    assert result["inverse cloze: best of 12, judged"] == result[best]
    assert three in {c.name for c in CHOICES} and result["inverse cloze: best of 3, judged"] == result[three]
    assert "| per query: z of the top 5 |" in format_study(dataset, result)


def test_pseudo_questions_are_sentences_held_out_of_their_documents(tmp_path: Path) -> None:
    dataset = load_beir(FIXTURE)
    scores, asked = inverse_cloze(dataset, FakeEmbedder(), tmp_path / "cloze")
    original = {d.doc_id: d.text for d in dataset.corpus.documents}
    indexed = open_index(tmp_path / "cloze").store
    assert len(asked) > 0 and set(scores) == {c.name for c in CANDIDATES}
    for qid, (text, doc_id) in asked.items():
        assert text in original[doc_id] and not original[doc_id].startswith(text)  # never the first sentence
        stored = indexed.document(doc_id)
        assert stored is not None and text not in stored.text  # held out of what is searched
        assert set(scores["dense"]) == set(asked) and qid in scores["lexical"]
