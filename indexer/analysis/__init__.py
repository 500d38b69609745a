"""Text analysis for BM25: the terms a passage is indexed under and a question is matched on, on both engines.

`UnicodeAnalyzer` serves every language and script; `EnglishAnalyzer` is what indexes built before it were
analysed with, kept so they are searched as they were built. `analyzer` picks one by the name a manifest records.
"""

from __future__ import annotations

from collections.abc import Mapping

from indexer.analysis.base import K1, AnalyzedPassage, AnalyzedQuery, Analyzer, B, Term
from indexer.analysis.english import EnglishAnalyzer
from indexer.analysis.languages import AUTO, LANGUAGES, supported
from indexer.analysis.unicode import UnicodeAnalyzer

CURRENT = UnicodeAnalyzer.name

__all__ = [
    "AUTO",
    "CURRENT",
    "K1",
    "LANGUAGES",
    "AnalyzedPassage",
    "AnalyzedQuery",
    "Analyzer",
    "B",
    "EnglishAnalyzer",
    "Term",
    "UnicodeAnalyzer",
    "analyzer",
    "supported",
]


def analyzer(name: str, language: str = AUTO, languages: Mapping[str, int] | None = None) -> Analyzer:
    """The analyzer a manifest names (`unicode-1`, `english-1`), set to the collection's language."""
    if name == EnglishAnalyzer.name:
        return EnglishAnalyzer()
    if name == UnicodeAnalyzer.name:
        return UnicodeAnalyzer(language, languages)
    raise ValueError(f"unknown analyzer {name!r}; this version knows {UnicodeAnalyzer.name} and {EnglishAnalyzer.name}")
