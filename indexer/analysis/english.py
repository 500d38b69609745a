"""The analyzer of indexes built before languages were analysed (manifest analyzer `english-1`).

Tokens are runs of two or more word characters, lower-cased, English stop words removed and Snowball
(Porter 2) stemmed (bm25s' tokenizer with PyStemmer). A query also loses a question's function words (see
`Analyzer.terms`); documents keep them. K1 and B are the BM25 parameters both engines score with.
"""

from __future__ import annotations

import logging
import re

import Stemmer
from bm25s.tokenization import Tokenizer

from indexer.analysis.base import AnalyzedPassage, AnalyzedQuery, Analyzer, Term

# bm25s sets its own logger to DEBUG, which floods any application log handler with per-build messages.
logging.getLogger("bm25s").setLevel(logging.WARNING)

STOPWORDS = "en"
# A question's function words: NLTK's English list as bm25s ships it (interrogatives, pronouns, auxiliaries).
QUERY_STOPWORDS = "en_plus"
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_PARTS = re.compile(r"[^\W\d_]{2,}|\d{2,}")  # the letter and digit runs of a token that mixes them


def tokenizer(stopwords: str = STOPWORDS) -> Tokenizer:
    """bm25s' tokenizer set up as this analyzer: the one that builds a segment's postings vocabulary."""
    return Tokenizer(lower=True, splitter=_TOKEN.pattern, stopwords=stopwords, stemmer=Stemmer.Stemmer("english"))


class EnglishAnalyzer(Analyzer):
    """Every text as English: what every index was analysed with before `UnicodeAnalyzer`. Kept so such an index
    is searched exactly as it was built until it is rebuilt."""

    name = "english-1"

    def __init__(self) -> None:
        self._stop = frozenset(tokenizer().stopwords)
        self._query_stop = frozenset(tokenizer(QUERY_STOPWORDS).stopwords)
        self._stemmer = Stemmer.Stemmer("english")

    def passage(self, text: str) -> AnalyzedPassage:
        """A passage as it is indexed: English."""
        return AnalyzedPassage("en", self.stems(text))

    def stems(self, text: str, language: str | None = None) -> list[Term]:
        """(start, end, stem) of each indexed term in `text`, stop words left out; every text is English."""
        spans = [(m.start(), m.end(), w) for m in _TOKEN.finditer(text) if (w := m.group().lower()) not in self._stop]
        stems = self._stemmer.stemWords([w for _, _, w in spans])  # one call: a passage has hundreds of words
        return [(start, end, stem) for (start, end, _), stem in zip(spans, stems, strict=True)]

    def query(self, query: str) -> AnalyzedQuery:
        """A question as it is matched (see `terms`)."""
        return AnalyzedQuery("en", self.terms(query))

    def terms(self, query: str) -> list[str]:
        """The query's distinct terms, in order of first occurrence, a question's function words left out.

        Like an Elasticsearch `search_analyzer` with a longer stop list than the index's: "Who is Blinken?"
        is about Blinken, and a passage sharing only "who" with it is no match. Documents keep these words
        indexed, so a query made of nothing else ("The Who") is matched on all of them.

        A term joining letters and digits ("FY2018", "H100s") is also matched on its runs of two or more
        letters or digits ("fy", "2018"), as Elasticsearch's word delimiter splits on numerics: a question
        writes "FY2018" where the text says "2018". Passages are indexed as they are, so this changes nothing
        for questions without such terms.
        """
        stems = self.stems(query)
        content: list[str] = []
        for start, end, stem in stems:
            word = query[start:end].lower()
            if word in self._query_stop:
                continue
            content.append(stem)
            if not (word.isalpha() or word.isdigit()):
                parts = [p for p in _PARTS.findall(word) if p != word and p not in self._stop]
                content.extend(self._stemmer.stemWords(parts))
        return list(dict.fromkeys(content or [stem for _, _, stem in stems]))
