"""Query and passage prompts: the text some models need in front of what they embed.

Retrieval models trained asymmetrically expect a marker on each side: e5 `query: ` / `passage: `, bge a query
instruction, nomic `search_query: ` / `search_document: `. Without it their quality drops well below what they are
known for. A model folder names its prompts in `config_sentence_transformers.json` (`prompts`, keyed `query` and
`passage` or `document`); models published before that convention are recognised by name. The prompts an index
was built with are recorded in its manifest, and queries must get the same ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from indexer.embed.base import BATCH_SIZE, Embedder, Prompts, Spans, Vectors, WrappedEmbedder
from indexer.manifest import ModelInfo

CONFIG_FILE = "config_sentence_transformers.json"
_PASSAGE_KEYS = ("passage", "document", "corpus", "doc")
_QUERY_KEYS = ("query", "search_query")

BGE_QUERY = "Represent this sentence for searching relevant passages: "


@dataclass(frozen=True)
class _Family:
    pattern: re.Pattern[str]
    prompts: Prompts


# Models whose folders do not record their prompts; matched on the model's name (hub id or folder name).
KNOWN_FAMILIES = (
    _Family(re.compile(r"(^|[/:])(multilingual-)?e5-(small|base|large)(-v2)?$", re.I), Prompts("query: ", "passage: ")),
    _Family(re.compile(r"(^|[/:])bge-(small|base|large)-en(-v1\.5)?$", re.I), Prompts(BGE_QUERY, "")),
    _Family(
        re.compile(r"(^|[/:])nomic-embed-text(-v1(\.5)?)?(:latest)?$", re.I),
        Prompts("search_query: ", "search_document: "),
    ),
    _Family(re.compile(r"(^|[/:])snowflake-arctic-embed-(xs|s|m|l)$", re.I), Prompts(BGE_QUERY, "")),
)


def configured_prompts(folder: Path) -> Prompts | None:
    """The prompts `folder`'s sentence-transformers config names (None: it names none, or has no config)."""
    path = folder / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    prompts = config.get("prompts") if isinstance(config, dict) else None
    if not isinstance(prompts, dict):
        return None
    query = next((prompts[k] for k in _QUERY_KEYS if isinstance(prompts.get(k), str)), "")
    passage = next((prompts[k] for k in _PASSAGE_KEYS if isinstance(prompts.get(k), str)), "")
    return Prompts(query, passage) if query or passage else None


def known_prompts(name: str) -> Prompts:
    """The prompts of a known model family named `name` (no prompts for any other name)."""
    stem = name.rstrip("/")
    return next((f.prompts for f in KNOWN_FAMILIES if f.pattern.search(stem)), Prompts())


def model_prompts(name: str, folder: Path | None) -> Prompts:
    """A model's own prompts: those its folder's config names, else those of its family, else none."""
    if folder is not None and (configured := configured_prompts(folder)) is not None:
        return configured
    return known_prompts(name)


class PromptedEmbedder(WrappedEmbedder):
    """`inner` with `prompts` put in front of passages (`encode`) and queries (`encode_queries`).

    Passages leave room for their prompt: `max_tokens` is the model's less the passage prompt's tokens, so a
    chunk and its prompt fit what the model reads.
    """

    def __init__(self, inner: Embedder, prompts: Prompts) -> None:
        super().__init__(inner)
        self._prompts = prompts
        self._prompt_tokens = len(inner.token_spans(prompts.passage)) if prompts.passage else 0

    @property
    def prompts(self) -> Prompts:
        return self._prompts

    @property
    def max_tokens(self) -> int:
        return self._inner.max_tokens - self._prompt_tokens

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        prefix = self._prompts.passage
        texts = [prefix + t for t in texts] if prefix else texts
        return self._inner.encode(texts, batch_size=batch_size, progress=progress)

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, batch_size: int = BATCH_SIZE, progress: bool = False
    ) -> tuple[Vectors, list[Vectors]] | None:
        prefix = self._prompts.passage
        if prefix:  # the spans move with the text behind the prompt
            texts = [prefix + t for t in texts]
            spans = [[(s + len(prefix), e + len(prefix)) for s, e in sp] for sp in spans]
        return super().encode_spans(texts, spans, batch_size=batch_size, progress=progress)

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> Vectors:
        prefix = self._prompts.query
        return self._inner.encode_queries([prefix + t for t in texts] if prefix else texts, batch_size=batch_size)


def with_prompts(embedder: Embedder, prompts: Prompts) -> Embedder:
    """`embedder` with `prompts` (itself when there are none)."""
    return PromptedEmbedder(embedder, prompts) if prompts.query or prompts.passage else embedder


def recorded_prompts(model: ModelInfo) -> Prompts:
    """The prompts an index's manifest records (queries must get these)."""
    return Prompts(model.query_prompt, model.passage_prompt)
