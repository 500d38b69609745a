"""Passage highlights: the sentence of a passage that best matches the query, as offsets into the passage.

Two ways to choose it, and the hit says which was used:
- lexical: the sentence holding the most distinct query terms (stemmed as the BM25 index stems them),
  ties broken by the number of matches, then by position;
- dense: the sentence whose embedding is most similar to the query's (one batched encode).
Every mode uses lexical when a query term occurs in the passage, and dense otherwise (lexical mode, which
never runs the model, then has no highlight; nor has a question in a language the model was not trained on,
whose similarities choose no better than chance: the bundled English model on Chinese text). The passage is
analysed in the question's language, as the passages the question is matched against were.

Dense highlights have a fixed budget per search: among the first `DENSE_RANKS` hits (those a person reads),
the sentences of the passages without a lexical highlight, `DENSE_SENTENCES` of them at most, each cut to
`DENSE_SENTENCE_TOKENS` model tokens, in one forward pass. A passage past the budget has no highlight.
Lexical highlights are found for every hit, and only in hits with a lexical score; a passage's analysis is
remembered (`PASSAGE_CACHE`), since the hits of one collection recur from question to question. Without the
budget, a k=100 search embedded every sentence of every hit: 34 times the search's own time on Russian text,
where few words matched before analysis knew the language.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.analysis import Analyzer, Term
from indexer.embed.base import Embedder, Vectors
from indexer.ingest.chunking import sentence_spans
from indexer.storage.base import LexicalSearch

DENSE_RANKS = 10
DENSE_SENTENCES = 8
DENSE_SENTENCE_TOKENS = 32


@dataclass(frozen=True)
class Highlight:
    """Spans (start, end) into the passage text, and the method that chose them."""

    method: str
    spans: tuple[tuple[int, int], ...]


def best_lexical(text: str, terms: Sequence[tuple[int, int, str]], query_terms: set[str]) -> Highlight | None:
    """The sentence with the most distinct query terms; None when no query term occurs.

    `terms` are the (start, end, stem) of the passage's terms, `query_terms` the query's stems.
    """
    matches = [t for t in terms if t[2] in query_terms]
    if not matches:
        return None
    best: tuple[int, int, int] | None = None
    best_span = (0, 0)
    for index, (start, end) in enumerate(sentence_spans(text) or [(0, len(text))]):
        inside = [term for s, e, term in matches if s >= start and e <= end]
        key = (len(set(inside)), len(inside), -index)
        if inside and (best is None or key > best):
            best, best_span = key, (start, end)
    return Highlight("lexical", (best_span,)) if best is not None else None


def best_dense(
    texts: Sequence[str], query_vec: Vectors, embedder: Embedder, budget: int = DENSE_SENTENCES
) -> list[Highlight]:
    """For the first passages of `texts` whose sentences fit in `budget`, the sentence most similar to the query
    (all embedded in one batch, each cut to `DENSE_SENTENCE_TOKENS` tokens); fewer highlights than passages when
    the budget runs out."""
    spans: list[list[tuple[int, int]]] = []
    for text in texts:
        found = sentence_spans(text) or [(0, len(text))]
        if sum(len(sp) for sp in spans) + len(found) > budget:
            break
        spans.append(found)
    flat = [_cut(t[s:e], embedder) for t, sp in zip(texts, spans, strict=False) for s, e in sp]
    if not flat:
        return []
    sims = embedder.encode(flat) @ query_vec[0]
    out, offset = [], 0
    for sp in spans:
        best = int(np.argmax(sims[offset : offset + len(sp)]))
        out.append(Highlight("dense", (sp[best],)))
        offset += len(sp)
    return out


def highlights(
    lexical: LexicalSearch,
    query: str,
    query_vec: Vectors | None,
    embedder: Embedder,
    texts: dict[int, str],
    matching: Collection[int] | None = None,
    reads: Callable[[str], bool] = lambda _language: True,
) -> dict[int, Highlight]:
    """The highlight of each passage in `texts` (chunk id -> passage text).

    Lexical first in every mode: it needs no model call, and only passages in `matching` (those with a lexical
    score; None: all) can hold a query term. Dense only for passages sharing no query term, in the order of
    `texts` (rank order), within the budget (see the module doc), and only if the model `reads` the question's
    language.
    """
    analysed = lexical.analyzer.query(query)
    query_terms = set(analysed.terms)
    out: dict[int, Highlight] = {}
    for cid, text in texts.items():
        if matching is not None and cid not in matching:
            continue
        terms = _passage_terms(lexical.analyzer, analysed.language, text)
        found = best_lexical(text, terms, query_terms)
        if found is not None:
            out[cid] = found
    need = [cid for cid in list(texts)[:DENSE_RANKS] if cid not in out]
    if need and query_vec is not None and reads(analysed.language):
        for cid, found in zip(need, best_dense([texts[c] for c in need], query_vec, embedder), strict=False):
            out[cid] = found
    return out


# Passages analysed for highlights, by (analyzer, language, text): the hits of one collection recur across
# questions, and analysing a passage costs about 0.1 ms, 10 ms for a k=100 search.
PASSAGE_CACHE = 4096
_cache: OrderedDict[tuple[str, str, str], list[Term]] = OrderedDict()
_cache_lock = threading.Lock()


def _passage_terms(analyzer: Analyzer, language: str, text: str) -> list[Term]:
    """`analyzer.stems(text, language)`, remembered for the last `PASSAGE_CACHE` passages."""
    key = (analyzer.name, language, text)
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    terms = analyzer.stems(text, language)
    with _cache_lock:
        _cache[key] = terms
        while len(_cache) > PASSAGE_CACHE:
            _cache.popitem(last=False)
    return terms


def _cut(sentence: str, embedder: Embedder) -> str:
    """`sentence` up to its first `DENSE_SENTENCE_TOKENS` model tokens (its start says what it is about)."""
    spans = embedder.token_spans(sentence)
    return sentence if len(spans) <= DENSE_SENTENCE_TOKENS else sentence[: spans[DENSE_SENTENCE_TOKENS - 1][1]]
