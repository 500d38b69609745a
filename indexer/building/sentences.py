"""What a passage's highlight needs, worked out while it is indexed (see `indexer.sentences`): its sentences, the
terms of each as the collection's analyzer makes them, and a vector per sentence from the same forward pass that
embeds the passage."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import replace

from indexer.analysis import Analyzer
from indexer.embed.base import Vectors
from indexer.ingest.chunking import sentences_of
from indexer.sentences import SentenceTerms, Span, dump_vectors
from indexer.types import Chunk


def sentence_terms(text: str, spans: Sequence[Span], analyzer: Analyzer) -> SentenceTerms:
    """The terms of each sentence of `text` (a term lying across sentences belongs to none, as at search time)."""
    analysed = analyzer.passage(text)
    starts = [start for start, _ in spans]
    per: list[list[str]] = [[] for _ in spans]
    for start, end, term in analysed.terms:
        i = bisect_right(starts, start) - 1
        if i >= 0 and end <= spans[i][1]:
            per[i].append(term)
    return SentenceTerms(analyzer.setting, analysed.language, tuple(spans), tuple(tuple(t) for t in per))


def marked(
    chunk: Chunk,
    spans: Sequence[Span],
    analyzer: Analyzer | None,
    vectors: Vectors | None,
    reads: Callable[[str], bool] = lambda _language: True,
) -> Chunk:
    """`chunk` with its sentences' terms (when `analyzer` is given) and vectors to store. The vectors are kept
    when given and the model `reads` the passage's language: elsewhere its similarities choose a sentence no
    better than chance, and no dense highlight is given."""
    terms = sentence_terms(chunk.text, spans, analyzer) if analyzer is not None else None
    keep = vectors is not None and len(vectors) == len(spans) and (terms is None or reads(terms.language))
    return replace(
        chunk,
        sentences=terms.dump() if terms is not None else None,
        sentence_vectors=dump_vectors(vectors) if keep and vectors is not None else None,
    )


def relabelled(chunk: Chunk, analyzer: Analyzer) -> Chunk:
    """`chunk` with its sentences' terms made again by `analyzer` if another analysis made them (its vectors
    kept: only the keyword analysis changed)."""
    found = SentenceTerms.load(chunk.sentences)
    if found is not None and found.analysis == analyzer.setting:
        return chunk
    spans = found.spans if found is not None else tuple(sentences_of(chunk.text))
    return replace(chunk, sentences=sentence_terms(chunk.text, spans, analyzer).dump())
