"""The analyzer for every language (manifest analyzer `unicode-1`).

1. Words by Unicode rules, with dictionaries for scripts written without spaces (`segment`); a word is split at
   the marks Unicode lets stand inside it (apostrophes, periods, commas: "l'homme", "U.S.", "1,000"), as every
   index was before, so English rankings stay where they were.
2. Each word normalised (`normalize`: NFKC, case folding, Arabic and Devanagari spelling variants).
3. Hangul words become overlapping syllable pairs (Elasticsearch's `cjk_bigram`): Korean writes particles onto
   the word ("서울에서" holds "서울"), and pairs match the word inside. Runs of ideographs and kana give their
   overlapping character pairs besides their dictionary words: a name or term the dictionary splits wrongly is
   still matched by its pairs (measured: `python -m bench segmenters`, docs/languages.md).
4. A word in its language's own script is stemmed with that language's Snowball stemmer; words of other scripts
   (an English name in a Chinese passage) are matched as written. Letters alone are no word: a single letter or
   digit is left out, as it always was; a single ideograph, kana or Hangul syllable is kept (it is a word).
5. English passages leave out English stop words; a question leaves out its language's function words (where
   a list exists) unless nothing else is left.

A passage's language is the collection's language, or detected per passage (`auto`). A question is analysed as
the passages of its language were: its language is chosen among those holding at least 5% of the collection's
passages in its script (one such language: that one; several: the likeliest by the detector's probabilities
weighed by each language's share, and the question is matched on the terms of the others too), so an English
question is stemmed as English passages were even where the detector would have misread it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping

import Stemmer
from bm25s import stopwords as bm25s_stopwords

from indexer.analysis.base import AnalyzedPassage, AnalyzedQuery, Analyzer, Term
from indexer.analysis.languages import (
    AUTO,
    LANGUAGES,
    SCRIPT_DEFAULT,
    UNDETERMINED,
    Detector,
    dominant_script,
    script_of,
)
from indexer.analysis.normalize import normalize
from indexer.analysis.segment import WORD_KANA, words

# A word's pieces between the marks Unicode lets stand inside a word (apostrophes, periods, colons, commas,
# middle dots, and their full-width and other forms): "l'homme", "can't", "U.S.", "1,000" and "3.14" are matched
# by their pieces, as every index was before this analyzer (so English rankings did not move).
_INSIDE_MARKS = (
    "'\u2019\u2018.,:;\u00b7\u0387\u055f\u05f3\u05f4\u066b\u066c\u2024\u2027"
    "\ufe50\ufe52\ufe54\ufe55\uff07\uff0c\uff0e\uff1a\uff1b"
)
_PIECES = re.compile(f"[^{_INSIDE_MARKS}]+")
_MARKS = frozenset(_INSIDE_MARKS)
_PARTS = re.compile(r"[^\W\d_]{2,}|\d{2,}")  # the letter and digit runs of a word that mixes them
_HANGUL = "Hang"
# Stop words of passages (English only, as before) and function words of questions (bm25s' lists).
_INDEX_STOP = {"en": frozenset(bm25s_stopwords.STOPWORDS_EN)}
_QUERY_STOP = {
    "en": frozenset(bm25s_stopwords.STOPWORDS_EN_PLUS),
    "de": frozenset(bm25s_stopwords.STOPWORDS_GERMAN),
    "nl": frozenset(bm25s_stopwords.STOPWORDS_DUTCH),
    "fr": frozenset(bm25s_stopwords.STOPWORDS_FRENCH),
    "es": frozenset(bm25s_stopwords.STOPWORDS_SPANISH),
    "pt": frozenset(bm25s_stopwords.STOPWORDS_PORTUGUESE),
    "it": frozenset(bm25s_stopwords.STOPWORDS_ITALIAN),
    "ru": frozenset(bm25s_stopwords.STOPWORDS_RUSSIAN),
    "sv": frozenset(bm25s_stopwords.STOPWORDS_SWEDISH),
}
_NONE: frozenset[str] = frozenset()
QUERY_CANDIDATES = 20  # languages the detector ranks for a question
# A language with fewer of a script's passages is no candidate for questions in that script: mostly passages the
# detector misread (names, lists), whose stemmer would take an English question away from English passages.
MIN_SHARE = 0.05


class _Stemmers(threading.local):
    """Snowball stemmers by algorithm, one set per thread (a PyStemmer object keeps state between calls)."""

    def __init__(self) -> None:
        self.by_name: dict[str, Stemmer.Stemmer] = {}

    def get(self, name: str) -> Stemmer.Stemmer:
        stemmer = self.by_name.get(name)
        if stemmer is None:
            stemmer = self.by_name[name] = Stemmer.Stemmer(name)
        return stemmer


_STEMMERS = _Stemmers()
_DETECTOR: Detector | None = None
_DETECTOR_LOCK = threading.Lock()


def _detector() -> Detector:
    """The language detector, loaded on first use (its model is read once per process)."""
    global _DETECTOR
    with _DETECTOR_LOCK:
        if _DETECTOR is None:
            _DETECTOR = Detector()
        return _DETECTOR


class UnicodeAnalyzer(Analyzer):
    """Every script and language (see the module doc). `language` is `auto` or a code of `LANGUAGES`;
    `languages` counts the collection's passages per language (what questions are matched against)."""

    name = "unicode-1"

    def __init__(self, language: str = AUTO, languages: Mapping[str, int] | None = None) -> None:
        if language != AUTO and language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}")
        self.language = language
        self._languages = dict(languages or {})

    @property
    def setting(self) -> str:
        return f"{self.name}:{self.language}"

    def passage(self, text: str) -> AnalyzedPassage:
        """A passage as it is indexed: in the collection's language, or its own detected one."""
        language = self.language if self.language != AUTO else _detector().language(text)
        return AnalyzedPassage(language, self._analyse(text, language, _INDEX_STOP.get(language, _NONE)))

    def stems(self, text: str, language: str | None = None) -> list[Term]:
        """The indexed terms of `text` analysed as `language` (None: as a passage of the collection is)."""
        if language is None:
            return self.passage(text).terms
        return self._analyse(text, language, _INDEX_STOP.get(language, _NONE))

    def query(self, query: str) -> AnalyzedQuery:
        """A question as it is matched; a word joining letters and digits ("FY2018") also by its runs.

        Where the collection holds several languages of the question's script that stem differently, the
        question is analysed in each of them and matched on all their terms, so a question the detector
        misreads still meets the passages of its language; the language reported is the likeliest.
        """
        languages = self.query_languages(query)
        language = languages[0]
        function_words = frozenset().union(*(_QUERY_STOP.get(code, _NONE) for code in languages))
        content: list[str] = []
        first: list[str] = []
        for code in languages:
            stop = _INDEX_STOP.get(code, _NONE)
            stems = self._analyse(query, code, stop)
            first = first or [stem for _, _, stem in stems]
            for start, end, stem in stems:
                word = query[start:end].casefold()
                if word in function_words:
                    continue
                content.append(stem)
                if any(c.isdigit() for c in word) and any(c.isalpha() for c in word):
                    parts = [p for p in _PARTS.findall(word) if p != word]
                    content.extend(t for p in parts for _, _, t in self._analyse(p, code, stop))
        return AnalyzedQuery(language, list(dict.fromkeys(content or first)))

    def query_languages(self, query: str) -> list[str]:
        """The languages a question is analysed in, likeliest first: the collection's language; else, among the
        languages holding at least `MIN_SHARE` of the collection's passages in the question's script, the
        likeliest by the detector's probabilities weighed by their shares, then the others that stem otherwise."""
        if self.language != AUTO:
            return [self.language]
        script = dominant_script(query)
        if script is None:
            return [UNDETERMINED]
        in_script = {code: n for code, n in self._languages.items() if n > 0 and _writes(code, script)}
        total = sum(in_script.values())
        held = sorted(
            (code for code, n in in_script.items() if n >= MIN_SHARE * total),
            key=lambda code: -in_script[code],
        )
        if not held:
            # No passage is in a language of this script: its words stand in passages of other languages, where
            # they were not stemmed. Matched as written too, then.
            detected = _detector().language(query)
            return [detected] if _stemmer(detected) is None else [detected, UNDETERMINED]
        if len({_stemmer(code) for code in held}) == 1:
            return held[:1]  # every candidate analyses this script alike (or there is one)
        # A short English question in a collection that is also German stays English: the prior counts.
        ranked = dict(_detector().ranked(query, k=QUERY_CANDIDATES))
        best = max(held, key=lambda code: ranked.get(code, 0.0) * in_script[code])
        if ranked.get(best, 0.0) <= 0:
            best = held[0]
        others = {_stemmer(best)}
        rest = []
        for code in held:
            if _stemmer(code) not in others:
                others.add(_stemmer(code))
                rest.append(code)
        return [best, *rest]

    def _analyse(self, text: str, language: str, stop: frozenset[str]) -> list[Term]:
        lang = LANGUAGES.get(language)
        stemmer = lang.stemmer if lang is not None else None
        spans: list[Term] = []
        to_stem: list[int] = []  # positions in `spans` of words the language's stemmer takes
        latin_stemmed = stemmer is not None and lang is not None and "Latn" in lang.scripts
        run: list[int] = []  # start offsets of the characters of the current run of ideographs and kana
        run_end = -1
        for word in words(text):
            piece = text[word.start : word.end]
            if piece.isascii() and piece.isalnum():  # the common case, kept fast: a plain ASCII word
                if len(piece) < 2:
                    continue
                term = piece.lower()  # NFKC changes no ASCII, and case folding is lower-casing there
                if term in stop:
                    continue
                if latin_stemmed:
                    to_stem.append(len(spans))
                spans.append((word.start, word.end, term))
                continue
            if word.status >= WORD_KANA:
                if word.start != run_end:
                    spans.extend(_pairs(text, run, run_end))
                    run = []
                run.extend(range(word.start, word.end))
                run_end = word.end
            for start, end in _parts(piece, word.start):
                part = text[start:end]
                script = script_of(next((c for c in part if c.isalpha()), part[0]))
                if end - start < 2 and word.status < WORD_KANA and script != _HANGUL:
                    continue
                term = normalize(part, script)
                if not term or term in stop:
                    continue
                if script == _HANGUL and len(term) > 2:
                    spans.extend((start, end, term[i : i + 2]) for i in range(len(term) - 1))
                    continue
                if stemmer is not None and lang is not None and script in lang.scripts:
                    to_stem.append(len(spans))
                spans.append((start, end, term))
        spans.extend(_pairs(text, run, run_end))
        if to_stem and stemmer is not None:
            stems = _STEMMERS.get(stemmer).stemWords([spans[i][2] for i in to_stem])
            for i, stem in zip(to_stem, stems, strict=True):
                spans[i] = (spans[i][0], spans[i][1], stem)
        return spans


def _parts(piece: str, offset: int) -> list[tuple[int, int]]:
    """The spans of `piece` (at `offset`) between the marks inside words (see `_INSIDE_MARKS`)."""
    if _MARKS.isdisjoint(piece):
        return [(offset, offset + len(piece))]
    return [(offset + m.start(), offset + m.end()) for m in _PIECES.finditer(piece)]


def _pairs(text: str, run: list[int], end: int) -> list[Term]:
    """Overlapping pairs of the characters starting at `run` (adjacent; the last one ends at `end`)."""
    bounds = [*run[1:], end]
    return [
        (run[i], bounds[i + 1], pair)
        for i in range(len(run) - 1)
        if (pair := normalize(text[run[i] : bounds[i + 1]], "Hani"))
    ]


def _stemmer(code: str) -> str | None:
    """The Snowball stemmer of language `code` (None: none)."""
    known = LANGUAGES.get(code)
    return known.stemmer if known is not None else None


def _writes(code: str, script: str) -> bool:
    """Whether language `code` is written in `script` (kana counted as Han, as `dominant_script` does)."""
    lang = LANGUAGES.get(code)
    if lang is None:
        return SCRIPT_DEFAULT.get(script) == code
    return script in lang.scripts
