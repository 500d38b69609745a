"""What a word is matched as: its compatibility form, case-folded, and its script's spelling variants folded.

- NFKC: full-width letters and digits become ASCII, ligatures and compatibility characters their plain letters.
- Case folding (Unicode's, not lower-casing: German ß matches ss, Greek final sigma matches sigma).
- Arabic script, as Lucene's `ArabicNormalizer` does: diacritics (harakat) and tatweel removed; alef with hamza or
  madda written as bare alef, alef maksura as yeh, teh marbuta as heh.
- Devanagari, as the core of Lucene's `HindiNormalizer`: nukta removed, chandrabindu written as anusvara.
"""

from __future__ import annotations

import re
import unicodedata

# Arabic harakat (fathatan .. sukun, and the later marks up to U+065F), superscript alef, and tatweel.
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")
_ARABIC_LETTERS = str.maketrans(
    {"\u0622": "\u0627", "\u0623": "\u0627", "\u0625": "\u0627", "\u0649": "\u064a", "\u0629": "\u0647"}
)
_DEVANAGARI = str.maketrans({"\u093c": None, "\u0901": "\u0902"})


def normalize(word: str, script: str) -> str:
    """`word` as it is matched; `script` is its ISO 15924 code (Latn, Arab, Deva, ...)."""
    # Compatibility forms can hold a space (U+00A8 is space + diaeresis): a term never does (Milvus splits on them).
    folded = "".join(unicodedata.normalize("NFKC", word).casefold().split())
    if script == "Arab":
        return _ARABIC_MARKS.sub("", folded).translate(_ARABIC_LETTERS)
    if script == "Deva":
        return folded.translate(_DEVANAGARI)
    return folded
