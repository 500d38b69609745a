"""Words by Unicode rules (UAX #29), with ICU's dictionaries where words are not separated by spaces.

ICU's word break iterator finds the words of any script: by spaces and punctuation where a script has them, and by
dictionary for Chinese, Japanese, Thai, Lao, Khmer and Burmese. It is what Lucene's and Elasticsearch's
`icu_tokenizer` use. Offsets are characters of the Python string (ICU counts UTF-16 units; they are mapped back),
so every word is `text[start:end]` exactly, whatever the script.
"""

from __future__ import annotations

import re
import threading
from typing import NamedTuple

import icu

# ICU's rule status of a word: 100-199 number, 200-299 letters, 300-399 kana, 400-499 ideographs; below 100 the
# piece is no word (spaces, punctuation, symbols, emoji).
WORD_NUMBER = 100
WORD_KANA = 300
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # two UTF-16 units each


class Word(NamedTuple):
    """One word of a text: `text[start:end]`, and ICU's kind of word (a rule status, see above)."""

    start: int
    end: int
    status: int


class _Local(threading.local):
    """A break iterator per thread: ICU's iterators keep their text and position, so none is shared."""

    def __init__(self) -> None:
        self.iterator = icu.BreakIterator.createWordInstance(icu.Locale.getRoot())


_LOCAL = _Local()


def _unit_to_char(text: str) -> list[int]:
    """For each UTF-16 unit offset of `text` (and its end), the character offset it falls on."""
    out: list[int] = []
    for i, ch in enumerate(text):
        out.append(i)
        if ord(ch) > 0xFFFF:
            out.append(i)  # the second unit of a surrogate pair: never a boundary ICU reports
    out.append(len(text))
    return out


def words(text: str) -> list[Word]:
    """The words of `text` (numbers, letters, kana, ideographs), in order; no spaces, punctuation or symbols."""
    if not text:
        return []
    iterator = _LOCAL.iterator
    iterator.setText(text)
    found: list[Word] = []
    start = iterator.first()
    for end in iterator:
        status = iterator.getRuleStatus()
        if status >= WORD_NUMBER:
            found.append(Word(start, end, status))
        start = end
    if found and _ASTRAL.search(text):
        char = _unit_to_char(text)
        found = [Word(char[w.start], char[w.end], w.status) for w in found]
    return found
