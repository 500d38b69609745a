"""Passage highlights: the sentence of a passage that best matches the query, as offsets into the passage.

Two ways to choose it, and the hit says which was used:
- lexical: the sentence holding the most distinct query terms (stemmed as the BM25 index stems them),
  ties broken by the number of matches, then by position;
- dense: the sentence whose vector is most similar to the query's.
Every mode uses lexical when a query term occurs in the passage, and dense otherwise (lexical mode, which
never runs the model, then has no highlight; nor has a question, or a passage, in a language the model was not
trained on, whose similarities choose no better than chance: the bundled English model on Chinese text).

Both read what the index stored with each passage when it was embedded (`indexer.sentences`): its sentences,
their terms as the collection's analyzer made them, and a vector per sentence pooled from the model's token
states in the passage's own forward pass. A highlight then costs no analysis and no model call.

A passage without them (indexed before they were stored, by an embedding server's model whose token states are
not at hand, or under another analysis than the question's) is analysed at search time in the question's
language (the analysis remembered: `PASSAGE_CACHE`), and its dense highlight has a fixed budget per search:
among the first `DENSE_RANKS` hits (those a person reads), `DENSE_SENTENCES` sentences at most, each cut to
`DENSE_SENTENCE_TOKENS` model tokens, in one forward pass; a passage past the budget has no highlight. Without
stored sentences or the budget, a k=100 search embedded every sentence of every hit: 34 times the search's own
time on Russian text.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.analysis import Analyzer, Term
from indexer.embed.base import Embedder, Vectors
from indexer.ingest.chunking import sentences_of
from indexer.sentences import SentenceTerms, load_vectors
from indexer.storage.base import LexicalSearch
from indexer.types import ChunkRecord

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
    spans = sentences_of(text)
    inside = [[term for s, e, term in matches if s >= start and e <= end] for start, end in spans]
    return best_sentence(spans, inside, query_terms)


def best_sentence(
    spans: Sequence[tuple[int, int]], terms: Sequence[Sequence[str]], query_terms: set[str]
) -> Highlight | None:
    """Of the sentences `spans` with terms `terms`, the one holding the most distinct query terms, then the most
    matches, then the first; None when none holds a query term."""
    best: tuple[int, int, int] | None = None
    best_span = (0, 0)
    for index, (span, held) in enumerate(zip(spans, terms, strict=True)):
        inside = [term for term in held if term in query_terms]
        key = (len(set(inside)), len(inside), -index)
        if inside and (best is None or key > best):
            best, best_span = key, span
    return Highlight("lexical", (best_span,)) if best is not None else None


def best_dense(
    texts: Sequence[str], query_vec: Vectors, embedder: Embedder, budget: int = DENSE_SENTENCES
) -> list[Highlight]:
    """For the first passages of `texts` whose sentences fit in `budget`, the sentence most similar to the query
    (all embedded in one batch, each cut to `DENSE_SENTENCE_TOKENS` tokens); fewer highlights than passages when
    the budget runs out."""
    spans: list[list[tuple[int, int]]] = []
    for text in texts:
        found = sentences_of(text)
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
    records: dict[int, ChunkRecord],
    matching: Collection[int] | None = None,
    reads: Callable[[str], bool] = lambda _language: True,
) -> dict[int, Highlight]:
    """The highlight of each passage of `records` (chunk id -> stored passage, in rank order).

    Lexical first in every mode: it needs no model call, and only passages in `matching` (those with a lexical
    score; None: all) can hold a query term. Dense only for passages sharing no query term, and only if the model
    `reads` the question's language and the passage's: from the sentence vectors stored with the passage where it
    has them, else within the budget (see the module doc).
    """
    analysed = lexical.analyzer.query(query)
    query_terms = set(analysed.terms)
    stored: dict[int, SentenceTerms | None] = {}

    def marks_of(cid: int) -> SentenceTerms | None:
        """The passage's stored sentences, read once for both choices."""
        if cid not in stored:
            stored[cid] = SentenceTerms.load(records[cid].sentences)
        return stored[cid]

    out: dict[int, Highlight] = {}
    for cid, record in records.items():
        if matching is None or cid in matching:
            found = _lexical(lexical.analyzer, analysed.language, query_terms, record, marks_of(cid))
            if found is not None:
                out[cid] = found
    if query_vec is None or not reads(analysed.language):
        return out
    need: list[int] = []  # passages without stored sentence vectors
    for cid, record in records.items():
        if cid in out:
            continue
        marks = marks_of(cid)
        if marks is not None and not reads(marks.language):
            continue  # a passage in a language the model was not trained on: its similarities choose no better
        found = _stored_dense(query_vec, record, marks)
        if found is None:
            need.append(cid)
        else:
            out[cid] = found
    first = set(list(records)[:DENSE_RANKS])
    need = [cid for cid in need if cid in first]
    if need:
        for cid, found in zip(need, best_dense([records[c].text for c in need], query_vec, embedder), strict=False):
            out[cid] = found
    return out


def _lexical(
    analyzer: Analyzer, language: str, query_terms: set[str], record: ChunkRecord, marks: SentenceTerms | None
) -> Highlight | None:
    """The lexical highlight of `record`: from its stored sentence terms (`marks`) when the analysis that made them
    is the question's (`analyzer` in `language`), else by analysing the passage now."""
    if marks is not None and marks.analysis == analyzer.setting and marks.language == language:
        return best_sentence(marks.spans, marks.terms, query_terms)
    return best_lexical(record.text, _passage_terms(analyzer, language, record.text), query_terms)


def _stored_dense(query_vec: Vectors, record: ChunkRecord, marks: SentenceTerms | None) -> Highlight | None:
    """The dense highlight of `record` (its stored sentence terms: `marks`) from its stored sentence vectors; None
    when it has none."""
    vectors = load_vectors(record.sentence_vectors, query_vec.shape[1])
    if vectors is None:
        return None
    spans = marks.spans if marks is not None else tuple(sentences_of(record.text))
    if len(spans) != len(vectors):
        return None
    return Highlight("dense", (spans[int(np.argmax(vectors @ query_vec[0]))],))


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
