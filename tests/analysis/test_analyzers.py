"""The analyzer for every language: words in every script, offsets exact, questions analysed as their passages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.analysis import EnglishAnalyzer, UnicodeAnalyzer, analyzer, supported
from indexer.analysis.languages import Detector

AUTO = UnicodeAnalyzer()


def _terms(text: str, a: UnicodeAnalyzer = AUTO) -> list[str]:
    return [t for _, _, t in a.passage(text).terms]


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        # Dictionary words, not one run of characters; then the run's overlapping pairs.
        ("锣鼓经是什么？", "zh", ["锣鼓", "经", "是", "什么", "锣鼓", "鼓经", "经是", "是什", "什么"]),
        (
            "東京は日本の首都",
            "ja",
            ["東京", "は", "日本", "の", "首都", "東京", "京は", "は日", "日本", "本の", "の首", "首都"],
        ),
        ("ภาษาไทยง่ายนิดเดียว", "th", ["ภาษา", "ไทย", "ง่าย", "นิด", "เดียว"]),
        ("서울에서 만나요", "ko", ["서울", "울에", "에서", "만나", "나요"]),  # Hangul pairs match "서울"
        ("Die Katzen sitzen auf der Matte", "de", ["die", "katz", "sitz", "auf", "der", "matt"]),
        ("Привет, как дела у друзей?", "ru", None),
    ],
)
def test_words_and_stems_of_each_script(text: str, language: str, expected: list[str] | None) -> None:
    analysed = AUTO.passage(text)
    assert analysed.language == language
    if expected is not None:
        assert [t for _, _, t in analysed.terms] == expected


def test_normalisation_folds_width_case_and_script_variants() -> None:
    assert _terms("ＦＵＬＬ１２３ Straße") == _terms("full123 STRASSE")
    arabic = UnicodeAnalyzer("ar")
    # Harakat and the hamza forms of alef are spelling variants: the same term.
    assert _terms("الْكِتَابُ", arabic) == _terms("الكتاب", arabic)
    assert _terms("أحمد", arabic) == _terms("احمد", arabic)
    hindi = UnicodeAnalyzer("hi")
    assert _terms("क़लम", hindi) == _terms("कलम", hindi)  # nukta


def test_english_keeps_its_stop_words_stems_and_the_letter_digit_split() -> None:
    query = AUTO.query("What did they do at the FY2018 summit in Samarkand?")
    assert query.language == "en"
    assert query.terms == ["fy2018", "fy", "2018", "summit", "samarkand"]
    assert "the" not in _terms("the summit")  # English passages leave out English stop words


def test_a_question_is_analysed_as_the_passages_of_its_script_were() -> None:
    # A German collection: a short German question is stemmed as German even where the detector hesitates.
    german = UnicodeAnalyzer("auto", {"de": 90, "zh": 10})
    assert german.query("Katzen").language == "de"
    assert german.query("Katzen").terms == ["katz"]
    assert german.query("猫在哪里").language == "zh"
    mixed = UnicodeAnalyzer("auto", {"en": 50, "de": 50})
    assert mixed.query("Where do the cats sleep at night?").language == "en"
    assert mixed.query("Wo schlafen die Katzen in der Nacht?").language == "de"


def test_a_collection_language_is_used_for_every_text() -> None:
    assert UnicodeAnalyzer("de").passage("The cats are sleeping").language == "de"
    with pytest.raises(ValueError, match="unknown language"):
        UnicodeAnalyzer("xx")
    assert "auto" in supported() and "zh" in supported() and "xx" not in supported()


def test_the_analyzer_an_index_records_is_the_one_it_gets() -> None:
    assert isinstance(analyzer("english-1"), EnglishAnalyzer)
    assert isinstance(analyzer("unicode-1", "ja"), UnicodeAnalyzer)
    with pytest.raises(ValueError, match="unknown analyzer"):
        analyzer("english-0")


_PIECES = st.sampled_from(
    [
        "Hello world. ",
        "锣鼓经是什么？",
        "東京は日本の首都です。",
        "ภาษาไทย",
        "서울에서",
        "مرحبا 123 بالعالم",  # right-to-left with numbers
        "😀🎉",
        "e\u0301te\u0301 ",  # combining marks
        "𠀋𠀋字",  # characters outside the BMP (two UTF-16 units each)
        "...!?",
        "ÅNGSTRÖM Ⅻ ﬁ ",
        "\u200b\u00a8 ",
        "Ωμέγα",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=8).map("".join))
def test_offsets_stay_exact_and_nothing_fails_on_any_text(text: str) -> None:
    for a in (AUTO, UnicodeAnalyzer("zh"), UnicodeAnalyzer("ar")):
        analysed = a.passage(text)
        for start, end, term in analysed.terms:
            assert 0 <= start < end <= len(text)
            assert text[start:end].strip() == text[start:end]  # a word, never a space
            assert term and not any(c.isspace() for c in term)  # Milvus splits terms on spaces
        a.query(text)  # a question of any text is analysed without error


def test_the_detector_reads_short_text_offline() -> None:
    detector = Detector()
    assert detector.language("Where did Wang Yi meet Lavrov") == "en"
    assert detector.language("锣鼓经是什么？") == "zh"
    assert detector.language("!!!") == "und"


def test_a_few_misread_passages_never_take_a_question_away_from_the_main_language() -> None:
    # Names and lists are sometimes read as another language: 5 of 286 passages here. The detector reads this
    # question as Polish, but Polish holds under 5% of the Latin-script passages, so it is analysed as English.
    collection = UnicodeAnalyzer("auto", {"en": 281, "pl": 5})
    query = collection.query("kazoka pozoka nuvoka pozoka luvoka")
    assert query.language == "en" and query.terms == ["kazoka", "pozoka", "nuvoka", "luvoka"]


def test_a_question_is_matched_on_each_languages_terms_where_several_share_a_script() -> None:
    both = UnicodeAnalyzer("auto", {"en": 60, "de": 40})
    query = both.query("Wo schlafen die Katzen?")
    assert query.language == "de"
    assert "katz" in query.terms and "katzen" in query.terms  # German's stem, and English's reading of the word
    assert "die" not in query.terms and "wo" not in query.terms  # function words of either language left out
