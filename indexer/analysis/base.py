"""What an analyzer is: text in, the terms BM25 indexes and matches out, each with its place in the text."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

K1 = 1.5
B = 0.75

Term = tuple[int, int, str]  # (start, end, term): `text[start:end]` is the word the term was made from


@dataclass(frozen=True)
class AnalyzedPassage:
    """A passage's language (as analysed) and its terms in order, stop words left out."""

    language: str
    terms: list[Term]


@dataclass(frozen=True)
class AnalyzedQuery:
    """A question's language (as analysed) and the distinct terms it is matched on, in order."""

    language: str
    terms: list[str]


class Analyzer(ABC):
    """Turns text into the terms BM25 matches on. One instance is safe to share between threads."""

    name: str  # recorded in the manifest: an index is always searched with the analyzer that built it

    @property
    def setting(self) -> str:
        """What the terms it makes depend on besides the text (a passage's stored terms are valid while it holds):
        its name, and what it is set to."""
        return self.name

    @abstractmethod
    def passage(self, text: str) -> AnalyzedPassage:
        """A passage as it is indexed."""

    @abstractmethod
    def stems(self, text: str, language: str | None = None) -> list[Term]:
        """The indexed terms of `text` analysed as `language` (None: as a passage of the collection is)."""

    @abstractmethod
    def query(self, query: str) -> AnalyzedQuery:
        """A question as it is matched: its language, and its terms without a question's function words."""

    def terms(self, query: str) -> list[str]:
        """The distinct terms `query` is matched on."""
        return self.query(query).terms
