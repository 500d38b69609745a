"""What a passage's highlight needs, worked out once when the passage is indexed and stored beside it.

- `SentenceTerms`: the passage's sentences (offsets into its text) and the keyword terms of each, as the
  analyzer named in it made them, in the language it analysed the passage in. A highlight then counts a
  question's terms per sentence without analysing the passage again.
- Sentence vectors: one per sentence, pooled from the model's token states of the passage while it was embedded
  (late chunking: no extra forward pass), stored as int8 rows with a scale each.

Both are stored as text (every engine has a text column; Milvus has no bytes type), and either may be absent: a
passage indexed before they existed, or by a model whose token states are not at hand (an embedding server), is
highlighted as before, by analysing and embedding at search time.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FORMAT = 1
# Stored text longer than this is not kept (Milvus's VARCHAR holds 65,535 bytes; the passage then is highlighted
# at search time, as before).
MAX_STORED = 60_000

Span = tuple[int, int]


@dataclass(frozen=True)
class SentenceTerms:
    """The sentences of a passage and the terms of each (in order, with repeats), as `analysis` made them in
    `language`."""

    analysis: str
    language: str
    spans: tuple[Span, ...]
    terms: tuple[tuple[str, ...], ...]

    def dump(self) -> str | None:
        """The stored form (None: too long to store)."""
        flat = [offset for span in self.spans for offset in span]
        raw = json.dumps(
            {"f": FORMAT, "a": self.analysis, "l": self.language, "s": flat, "t": [" ".join(t) for t in self.terms]},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return raw if len(raw.encode()) <= MAX_STORED else None

    @classmethod
    def load(cls, raw: str | None) -> SentenceTerms | None:
        """The stored form read back; None for none, or one of another format."""
        if not raw:
            return None
        data = json.loads(raw)
        if data.get("f") != FORMAT:
            return None
        flat = data["s"]
        spans = tuple((flat[i], flat[i + 1]) for i in range(0, len(flat), 2))
        terms = tuple(tuple(t.split(" ")) if t else () for t in data["t"])
        return cls(data["a"], data["l"], spans, terms)


def dump_vectors(vectors: npt.NDArray[np.float32]) -> str | None:
    """Rows of `vectors` as stored: a float32 scale per row, then the rows in int8 (None: too long to store)."""
    rows = np.asarray(vectors, dtype=np.float32)
    scale = np.abs(rows).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    quantised = np.round(rows / scale[:, None]).astype(np.int8)
    raw = base64.b64encode(scale.astype("<f4").tobytes() + quantised.tobytes()).decode("ascii")
    return raw if len(raw) <= MAX_STORED else None


def load_vectors(raw: str | None, dimension: int) -> npt.NDArray[np.float32] | None:
    """Stored rows read back as float32 (None: none, or not rows of `dimension`)."""
    if not raw:
        return None
    try:
        data = base64.b64decode(raw, validate=True)
    except binascii.Error:
        return None
    if len(data) % (4 + dimension):
        return None
    n = len(data) // (4 + dimension)
    scale = np.frombuffer(data, dtype="<f4", count=n)
    rows = np.frombuffer(data, dtype=np.int8, offset=4 * n).reshape(n, dimension)
    out: npt.NDArray[np.float32] = rows.astype(np.float32) * scale[:, None]
    return out
