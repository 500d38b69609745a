"""Rules that strip scraped-web boilerplate from plain text before it is chunked.

Web pages saved as text carry the page around the article: ads, "See also" links to unrelated stories,
photo captions and credits (often twice), social-media blocks, comment forms, teaser lists, and the
headline repeated. None of it may reach the index. The rules, applied line by line in this order:

1. Whitespace: line endings become ``\\n``; runs of spaces and tabs inside a line become one space.
2. A headline written twice on one line ("X X") becomes "X".
3. End of article: a line such as "You May Also Like", "Related Posts", "MOST READ", "Leave a Reply" or
   "Post a Comment" in the second half of the text ends the article; it and everything after it go.
4. Boilerplate lines go: ad markers ("Advertisement. Scroll to continue reading."), caption toggles
   ("hide title", "toggle title"), navigation ("Previous Post Next Post", "Connect with us"), comment
   forms, "Follow Us On ..." and "Share on ..." lines, newsletter sign-ups, site self-promotion.
5. "See also ..." lines go: they link unrelated stories.
6. Image identifiers go: a line holding a token of 16 or more hex digits (e.g. "gettyimages 1243... s1100").
7. Photo credits go (a short line naming an agency such as Getty Images, AFP, Reuters, AP, Sputnik, written
   as a credit: with "/" or "via" or without closing punctuation), and so does the caption right before it.
   A line ending in an inline credit ("... Photo: AFP") is a caption and goes.
8. Teasers go: a line cut off with "..." or "…".
9. Fragments go: a line of one or two words without closing punctuation (section labels such as
   "DIPLOMACY", "Published", "on"). Kept anyway: a Markdown heading (``# ...``, without its ``#``) and
   the first line of the text unless it is all capitals, since a short first line is usually the title.
10. Repeats go: a line equal to an earlier one (ignoring case, spacing and an inline photo credit) is dropped,
    so repeated headlines, captions and paragraphs appear once.

Kept lines keep their paragraph grouping: lines of one block are joined by ``\\n``, blocks by a blank line.
"""

from __future__ import annotations

import re
from collections import Counter
from enum import StrEnum

RULES_VERSION = 2  # 2: paged formats lose running headers, footers and page numbers (`indexer.ingest.pages`)

_SPACES = re.compile(r"[ \t\u00a0]+")
_TERMINAL = re.compile(r"[.!?:;\"'\u201d\u2019)\]]$")
_HEX_ID = re.compile(r"\b[0-9a-f]{16,}\b", re.IGNORECASE)
_TEASER = re.compile(r"(\.\.\.|\u2026)\s*$")
_SEE_ALSO = re.compile(r"^see also\b", re.IGNORECASE)
_INLINE_CREDIT = re.compile(r"\b(photo|image|picture|credit)s?\s*:\s*[^.:]{1,60}\.?$", re.IGNORECASE)
_AGENCY = re.compile(
    r"\b(getty images|afp|reuters|associated press|ap photo|epa|shutterstock|sputnik|xinhua|"
    r"anadolu|bloomberg via|pool photo)\b",
    re.IGNORECASE,
)
_END_MARKERS = re.compile(
    r"^(you may also like|related (posts|articles|stories|news)|most read|more stories|read next|"
    r"recommended( for you)?|leave a (reply|comment)|post a comment|comments?)\W*$",
    re.IGNORECASE,
)
_BOILERPLATE = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^advertisement\W*(scroll to continue reading\W*)?$",
        r"^scroll to continue reading\W*$",
        r"^(hide|toggle|show) (title|caption)\W*$",
        r"^(previous|next) (post|article|story)( (previous|next) (post|article|story))?\W*$",
        r"^connect with us\W*$",
        r"^hi,? what are you looking for\W*$",
        r"^click to comment\W*$",
        r"^your email address will not be published\b.*$",
        r"^required fields are marked\b.*$",
        r"^follow us on\b.*$",
        r"^share (this|on|via)\b.*$",
        r"^(sign up|subscribe)\b.*\bnewsletter\b.*$",
        r"^hire us for\b.*$",
        r"^download free\b.*$",
        r"^exit mobile version\W*$",
        r"^.{0,40}\bsearch here.{0,10}$",
        r"^(skip to (main )?content|back to top|print this article)\W*$",
    )
]


def _normalise_line(line: str) -> str:
    return _SPACES.sub(" ", line).strip()


def _undouble(line: str) -> str:
    """'X X' -> 'X' when a line is one phrase written twice."""
    half, rest = divmod(len(line), 2)
    if rest == 1 and len(line) > 20 and line[:half] == line[half + 1 :] and line[half] == " ":
        return line[:half]
    return line


def _is_credit(line: str) -> bool:
    words = line.split()
    if len(words) > 12 or not _AGENCY.search(line):
        return False
    return "/" in line or " via " in line.lower() or not _TERMINAL.search(line)


def _is_boilerplate(line: str) -> bool:
    return any(p.match(line) for p in _BOILERPLATE)


def _is_fragment(line: str) -> bool:
    return len(line.split()) <= 2 and not _TERMINAL.search(line)


def _dedupe_key(line: str) -> str:
    return _INLINE_CREDIT.sub("", line).strip().lower()


def _blocks(raw: str) -> list[tuple[int, str]]:
    """Rule 1: (block index, line) pairs of the non-empty lines, so paragraph grouping survives line removal."""
    lines: list[tuple[int, str]] = []
    block = 0
    for raw_line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = _normalise_line(raw_line)
        if not line:
            block += 1
            continue
        lines.append((block, line))
    return lines


def _join(kept: list[tuple[int, str]]) -> str:
    out: list[str] = []
    prev_block: int | None = None
    for blk, line in kept:
        if prev_block is not None:
            out.append("\n" if blk == prev_block else "\n\n")
        out.append(line)
        prev_block = blk
    return "".join(out)


def normalise_text(raw: str) -> str:
    """Rule 1 alone: line endings and spacing normalised, paragraphs kept, no line removed.

    For text that is not a scraped page (documents sent through the API): it loses nothing but whitespace.
    """
    return _join(_blocks(raw))


class Cleaning(StrEnum):
    """Where the scraped-page rules apply (`--cleaning`, `SEEKR_CLEANING`)."""

    auto = "auto"  # HTML, and text that looks like a saved web page (see `looks_scraped`)
    web = "web"  # every file
    none = "none"  # no file: only whitespace is normalised


# Lines a scraped page carries and a user's own text does not. Two or more make a text "look scraped": one can
# happen in real prose (an abstract quoting a 16-digit number, a passage ending in "...").
_PAGE_SIGNALS = 2


def looks_scraped(raw: str) -> bool:
    """Whether `raw` carries the furniture of a saved web page (ads, share and follow lines, photo credits and
    credited captions, image ids, "See also" links, end-of-article markers) on at least two lines."""
    signals = 0
    for _, line in _blocks(raw):
        if (
            _is_boilerplate(line)
            or _END_MARKERS.match(line)
            or _SEE_ALSO.match(line)
            or _HEX_ID.search(line)
            or _is_credit(line)
            or _INLINE_CREDIT.search(line)
        ):
            signals += 1
            if signals >= _PAGE_SIGNALS:
                return True
    return False


def _removal(i: int, line: str, credits: set[int], captions: set[int], first: bool) -> str | None:
    """The rule that removes line `i`, or None to keep it."""
    if i in credits:
        return "photo credit"
    if i in captions:
        return "caption"
    if _is_boilerplate(line):
        return "boilerplate"
    if _SEE_ALSO.match(line):
        return "see also"
    if _HEX_ID.search(line):
        return "image id"
    if _INLINE_CREDIT.search(line):
        return "caption"
    if _TEASER.search(line):
        return "teaser"
    if _is_fragment(line) and (not first or line.isupper()):
        return "fragment"
    return None


def clean_text(raw: str) -> str:
    """Apply the rules in this module's docstring to `raw` and return the cleaned text ('' if nothing left)."""
    return clean_report(raw)[0]


def clean_report(raw: str) -> tuple[str, Counter[str]]:
    """`clean_text`, and how many lines each rule removed."""
    removed: Counter[str] = Counter()
    lines = [(blk, _undouble(line)) for blk, line in _blocks(raw)]

    half = len(lines) // 2
    for i, (_, line) in enumerate(lines):
        if i >= half and _END_MARKERS.match(line):
            removed["end of article"] += len(lines) - i
            lines = lines[:i]
            break

    credits = {i for i, (_, line) in enumerate(lines) if _is_credit(line)}
    captions = {i - 1 for i in credits if i > 0 and (i - 1) not in credits}

    kept: list[tuple[int, str]] = []
    seen: set[str] = set()
    for i, (blk, line) in enumerate(lines):
        if line.startswith("#"):
            line = line.lstrip("#").strip()
            if not line:
                continue
        elif (rule := _removal(i, line, credits, captions, first=not kept)) is not None:
            removed[rule] += 1
            continue
        key = _dedupe_key(line)
        if key in seen:
            removed["repeat"] += 1
            continue
        seen.add(key)
        kept.append((blk, line))

    return _join(kept), removed


def split_title(cleaned: str, max_chars: int = 200) -> str:
    """The document's title: its first line (a Markdown heading without its `#`), cut to `max_chars`."""
    first = cleaned.split("\n", 1)[0].strip()
    first = first.lstrip("#").strip() if first.startswith("#") else first
    return first if len(first) <= max_chars else first[: max_chars - 1].rstrip() + "\u2026"
