"""RTF, with striprtf: the plain text, paragraphs as they are."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from striprtf.striprtf import rtf_to_text

from indexer.ingest.readers.base import Block, Extracted, SkipKind, Unreadable

_to_text: Callable[..., str] = rtf_to_text  # striprtf has no type hints


def read_rtf(path: Path) -> Extracted:
    """The document's paragraphs (RTF is 7-bit text with escapes; its code page is read from the file)."""
    raw = path.read_bytes().decode("latin-1")
    if not raw.lstrip().startswith("{\\rtf"):
        raise Unreadable(SkipKind.corrupt, "not an RTF file (it does not start with {\\rtf)")
    try:
        text = _to_text(raw, errors="ignore")
    except (ValueError, IndexError) as exc:
        raise Unreadable(SkipKind.corrupt, f"damaged RTF ({exc})") from exc
    return Extracted([Block(p) for p in text.split("\n\n")])
