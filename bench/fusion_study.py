"""`python -m bench fusion-study DATASET_DIR`: hybrid fusion against its better half, also when one half is weak.

Indexes the BEIR corpus once with the project's pipeline, then runs every judged query (one passage per
document, as `indexer eval` does) under five conditions:

- `as built`: both retrievers see the whole question;
- `weak lexical`: BM25 indexes each passage's document title only, not the passage;
- `weak dense`: the vectors are made from each passage's first 32 tokens only (BM25 sees all of it);
- `weak dense (half question)`, harsher: the model embeds only the first half of each question's words;
- `weak lexical (half question)`, the same for BM25: it scores only the first half of each question's words.

For each condition it reports nDCG@10 of dense, lexical and each fusion, on the odd-numbered questions (the
split a choice may look at), the even-numbered ones (held out) and all; beside them the dbsf weight a user would
pick from the odd questions, and what `indexer calibrate` chooses from them (its `all` column: 5-fold
cross-validated, each question scored by a choice made without it). A fusion method earns its place as the
default only if, in every condition and on the held-out split, it stays at or above the better single mode.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np

from bench.studies import header, index_dataset, study_main
from indexer.analysis import Analyzer
from indexer.calibrate import DEFAULT, DEFAULT_FOLDS, choose, cross_validate, folds_of, judge
from indexer.embed.base import BATCH_SIZE, Embedder, Vectors, WrappedEmbedder
from indexer.evaluate import BeirDataset
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import LexicalScores, LexicalSearch, lexical_analyzer
from indexer.storage.local.postings import Postings
from indexer.storage.local.segment import Segment
from indexer.storage.local.snapshot import IndexSnapshot, LiveSegment


def _first_half(text: str) -> str:
    words = text.split()
    return " ".join(words[: max(1, len(words) // 2)])


class _HalfQuestionLexical:
    """BM25 shown only the first half of each query's words."""

    def __init__(self, inner: LexicalSearch) -> None:
        self._inner = inner

    @property
    def analyzer(self) -> Analyzer:
        return self._inner.analyzer

    def query(self, query: str) -> LexicalScores | None:
        return self._inner.query(_first_half(query))

    def stems(self, text: str, language: str | None = None) -> list[tuple[int, int, str]]:
        return self._inner.stems(text, language)

    def terms(self, query: str) -> list[str]:
        return self._inner.terms(_first_half(query))


class _HalfQuestionLexicalSnapshot(IndexSnapshot):
    """A snapshot whose BM25 is shown only the first half of each query (vectors and store as built)."""

    @cached_property
    def lexical(self) -> _HalfQuestionLexical:  # type: ignore[override]
        return _HalfQuestionLexical(super().lexical)


class _WeakDense(WrappedEmbedder):
    """The real embedder, shown only the first half of each query (passages are embedded as built)."""

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> Vectors:
        return self._inner.encode_queries([_first_half(t) for t in texts], batch_size=batch_size)


TRUNCATED_TOKENS = 32


def _replace_segments(snapshot: IndexSnapshot, make: Callable[[Segment], Segment]) -> IndexSnapshot:
    """The same snapshot with each segment replaced by `make(segment)` (same chunk ids, same tombstones)."""
    live = []
    for seg in snapshot.segments:
        new = make(seg.segment)
        rows = np.searchsorted(new.postings.ids, seg.tombstones.chunk_ids)
        info = seg.info.model_copy(
            update={"tokens": int(new.postings.lengths.sum()), "deleted_tokens": int(new.postings.lengths[rows].sum())}
        )
        live.append(LiveSegment(new, info, seg.tombstones))
    return IndexSnapshot(snapshot.path, snapshot.manifest, tuple(live))


def _weak_vectors(snapshot: IndexSnapshot, embedder: Embedder) -> IndexSnapshot:
    """The same snapshot with vectors made from each passage's first TRUNCATED_TOKENS tokens only."""

    def weak(segment: Segment) -> Segment:
        ids = segment.postings.ids.tolist()
        records = segment.store.chunks(ids)
        texts = []
        for i in ids:
            text = records[i].matched(snapshot.manifest.chunking.passage_context)
            spans = embedder.token_spans(text)
            texts.append(text[: spans[TRUNCATED_TOKENS - 1][1]] if len(spans) > TRUNCATED_TOKENS else text)
        vectors = faiss.IndexIDMap2(faiss.IndexFlatIP(embedder.dimension))
        vectors.add_with_ids(embedder.encode(texts), np.asarray(ids, dtype=np.int64))
        return dataclasses.replace(segment, vectors=vectors)

    return _replace_segments(snapshot, weak)


def _weak_lexical(snapshot: IndexSnapshot) -> IndexSnapshot:
    """The same snapshot with BM25 over each chunk's document title alone."""

    def titles(segment: Segment) -> Segment:
        ids = segment.postings.ids.tolist()
        records = segment.store.chunks(ids)
        analyzer = lexical_analyzer(snapshot.manifest.lexical)
        return dataclasses.replace(segment, postings=Postings.build(ids, [records[i].title for i in ids], analyzer))

    return _replace_segments(snapshot, titles)


CALIBRATED = "calibrated (indexer calibrate)"


def study(dataset: BeirDataset, embedder: Embedder, index_dir: Path) -> dict[str, dict[str, dict[str, float]]]:
    """condition -> system -> split -> mean nDCG@10."""
    snapshot = index_dataset(dataset, embedder, index_dir)
    conditions = {
        "as built": Searcher(snapshot, embedder),
        "weak lexical": Searcher(_weak_lexical(snapshot), embedder),
        "weak dense": Searcher(_weak_vectors(snapshot, embedder), embedder),
        "weak dense (half question)": Searcher(snapshot, _WeakDense(embedder)),
        "weak lexical (half question)": Searcher(
            _HalfQuestionLexicalSnapshot(snapshot.path, snapshot.manifest, snapshot.segments), embedder
        ),
    }
    qids = sorted(dataset.queries, key=lambda q: (len(q), q))
    splits = {"odd": qids[0::2], "even (held out)": qids[1::2], "all": qids}
    result: dict[str, dict[str, dict[str, float]]] = {}
    for condition, searcher in conditions.items():
        per_query = judge(searcher, dataset.queries, dataset.qrels)
        result[condition] = {
            system: {split: float(np.mean([scores[q] for q in ids])) for split, ids in splits.items()}
            for system, scores in per_query.items()
        }
        # What `indexer calibrate` would choose from the odd questions, judged on the held-out ones; and its
        # 5-fold cross-validated score over all of them.
        chosen = per_query[choose(per_query, splits["odd"])]
        held_out = cross_validate(per_query, folds_of(qids, DEFAULT_FOLDS))
        result[condition][CALIBRATED] = {
            "odd": float(np.mean([chosen[q] for q in splits["odd"]])),
            "even (held out)": float(np.mean([chosen[q] for q in splits["even (held out)"]])),
            "all": float(np.mean(list(held_out.values()))),
        }
    return result


def format_study(result: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown: one row per condition and system, one column per split, plus the margin over the better half."""
    splits = list(next(iter(next(iter(result.values())).values())))
    lines = [
        "| condition | system | " + " | ".join(splits) + " | vs better single mode (held out) |",
        "| --- | --- | " + " | ".join("---:" for _ in splits) + " | ---: |",
    ]
    held_out = splits[1]
    for condition, systems in result.items():
        best = max(systems["dense"][held_out], systems["lexical"][held_out])
        # The weight a user would pick from the odd questions, judged on the held-out ones.
        weighted = {name: v for name, v in systems.items() if name.startswith("hybrid dbsf w=")}
        chosen = max(weighted, key=lambda name: weighted[name][splits[0]])
        shown = [
            ("dense", "dense"),
            ("lexical", "lexical"),
            (DEFAULT.name, f"{DEFAULT.name} (default)"),
            ("hybrid rrf", "hybrid rrf"),
            (chosen, f"{chosen} (weight chosen on odd)"),
            (CALIBRATED, CALIBRATED),
        ]
        for system, label in shown:
            values = systems[system]
            margin = "" if system in {"dense", "lexical"} else f"{values[held_out] - best:+.4f}"
            cells = " | ".join(f"{values[s]:.4f}" for s in splits)
            lines.append(f"| {condition} | {label} | {cells} | {margin} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the study and print its table."""
    return study_main(
        argv,
        prog="fusion-study",
        description=__doc__,
        run=lambda dataset, embedder, tmp, _: study(dataset, embedder, tmp / "index"),
        show=lambda dataset, result: f"{header(dataset)}\n\n{format_study(result)}",
    )


if __name__ == "__main__":
    sys.exit(main())
