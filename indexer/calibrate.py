"""Calibration from judged questions: choose a collection's search defaults, with evidence, and record them.

Which retriever is the weak one depends on the collection (on cranfield dense and BM25 are close and fusing
them gains; on an entity collection BM25 is far weaker and fusion loses to dense alone), and no label-free
rule can know it in advance (docs/fusion-study.md). A few judged questions can. Each candidate setting (dense,
lexical, rrf, dbsf at dense weights 0.1..0.9) ranks every judged question, one passage per document as
`indexer eval` does, and is scored by nDCG@10.

The rule chooses among three settings only: dense alone, lexical alone, or both with equal weights (the
default). Which retriever to trust is what a collection decides; a finer weight fitted on a few dozen questions
mostly fits their noise. Measured by subsampling on the shared sets (`python -m bench calibration-study`), the
argmax over all twelve settings lost 0.002-0.006 nDCG@10 on held-out questions against this rule, on both sets,
at every size from 20 questions up.
Every candidate's score is still recorded as evidence. The rule's own worth is measured by k-fold
cross-validation: each question is scored by the choice made on the other folds, so the recorded held-out
figure is what the rule gives on questions it did not see.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from indexer.errors import ConfigError
from indexer.judgments import Qrels, per_query_ndcg, ranked_run
from indexer.manifest import Calibration, CandidateScore
from indexer.progress import progress_bar
from indexer.retrieval.fusion import DEFAULT_DENSE_WEIGHT, Fusion
from indexer.retrieval.results import Mode, StageScore
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Backend, Snapshot

DEFAULT_FOLDS = 5
MIN_QUESTIONS = 5  # fewer cannot be split into folds that each hold a question out
DEPTH = 10  # nDCG@10 reads the first ten documents
WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

Scores = Mapping[str, Mapping[str, float]]  # candidate name -> question id -> nDCG@10


@dataclass(frozen=True)
class Candidate:
    """One search setting a calibration may choose."""

    mode: Mode
    fusion: Fusion | None = None
    dense_weight: float | None = None
    rerank: bool = False  # the collection's reranker re-scores the first units

    @property
    def name(self) -> str:
        """How the setting is shown: `dense`, `lexical`, `hybrid rrf`, `hybrid dbsf w=0.70`, `+ reranker`."""
        if self.mode is not Mode.hybrid or self.fusion is None:
            name = self.mode.value
        elif self.fusion is Fusion.rrf:
            name = "hybrid rrf"
        else:
            name = f"hybrid dbsf w={self.dense_weight or DEFAULT_DENSE_WEIGHT:.2f}"
        return f"{name} + reranker" if self.rerank else name

    def rank(self, searcher: Searcher, question: str, depth: int = DEPTH) -> list[str]:
        """Document ids for `question` under this setting, best first (one passage per document)."""
        result = searcher.search(
            question,
            k=depth,
            mode=self.mode,
            fusion=self.fusion,
            dense_weight=self.dense_weight,
            max_per_doc=1,
            highlight=False,
            rerank=self.rerank,
        )
        return [hit.doc_id for hit in result.hits]


DEFAULT = Candidate(Mode.hybrid, Fusion.dbsf, DEFAULT_DENSE_WEIGHT)
CANDIDATES: tuple[Candidate, ...] = (
    Candidate(Mode.dense),
    Candidate(Mode.lexical),
    Candidate(Mode.hybrid, Fusion.rrf),
    *(Candidate(Mode.hybrid, Fusion.dbsf, w) for w in WEIGHTS),
)
CHOICES = (DEFAULT, Candidate(Mode.dense), Candidate(Mode.lexical))  # what `choose` picks from, default first
# With a reranker, each choice again with it re-scoring (after the choices without it: a tie keeps them).
RERANKED = tuple(dataclasses.replace(c, rerank=True) for c in CHOICES)


def candidates_for(searcher: Searcher) -> tuple[tuple[Candidate, ...], tuple[Candidate, ...]]:
    """(the candidates judged, the ones a calibration chooses from) for `searcher`: with the reranked choices
    where it has a reranker stage."""
    if searcher.has_stage(StageScore.rerank):
        return (*CANDIDATES, *RERANKED), (*CHOICES, *RERANKED)
    return CANDIDATES, CHOICES


def judge(
    searcher: Searcher,
    queries: Mapping[str, str],
    qrels: Qrels,
    candidates: Sequence[Candidate] = CANDIDATES,
    *,
    progress: bool = False,
) -> dict[str, dict[str, float]]:
    """nDCG@10 of every candidate on every judged question."""
    scores: dict[str, dict[str, float]] = {}
    judged = {qid: qrels[qid] for qid in queries}
    with progress_bar(total=len(candidates) * len(queries), desc="judging", unit="q", enabled=progress) as bar:
        for candidate in candidates:
            rankings = {}
            for qid, text in queries.items():
                rankings[qid] = candidate.rank(searcher, text)
                bar.update(1)
            scores[candidate.name] = per_query_ndcg(judged, ranked_run(rankings))
    return scores


def mean_over(scores: Mapping[str, float], questions: Sequence[str]) -> float:
    """Mean nDCG@10 of one candidate over `questions`."""
    return statistics.fmean(scores[q] for q in questions)


def choose(scores: Scores, questions: Sequence[str], choices: Sequence[Candidate] = CHOICES) -> str:
    """The best of `choices` on `questions` by mean nDCG@10 (a tie goes to the earlier one: the default)."""
    names = [c.name for c in choices]
    return max(names, key=lambda name: mean_over(scores[name], questions))


Rule = Callable[[Scores, Sequence[str]], str]


def folds_of(questions: Sequence[str], folds: int, seed: int = 0) -> list[list[str]]:
    """`questions` shuffled (reproducibly) and dealt into `folds` folds."""
    order = sorted(questions)
    random.Random(seed).shuffle(order)
    return [order[i::folds] for i in range(folds)]


def cross_validated_choices(scores: Scores, folds: Sequence[Sequence[str]], rule: Rule = choose) -> dict[str, str]:
    """For each question, the candidate `rule` chose on the other folds."""
    choices: dict[str, str] = {}
    for n, fold in enumerate(folds):
        chosen = rule(scores, [q for m, other in enumerate(folds) if m != n for q in other])
        choices.update(dict.fromkeys(fold, chosen))
    return choices


def cross_validate(scores: Scores, folds: Sequence[Sequence[str]], rule: Rule = choose) -> dict[str, float]:
    """Each question's nDCG@10 under the candidate `rule` chose on the other folds."""
    return {q: scores[name][q] for q, name in cross_validated_choices(scores, folds, rule).items()}


def calibrate(
    searcher: Searcher,
    queries: Mapping[str, str],
    qrels: Qrels,
    *,
    judgments: str,
    folds: int = DEFAULT_FOLDS,
    progress: bool = False,
) -> Calibration:
    """Choose `searcher`'s collection's defaults from its judged questions, with the evidence."""
    questions = sorted(q for q in queries if q in qrels)
    if len(questions) < max(MIN_QUESTIONS, folds):
        raise ConfigError(
            f"{len(questions)} judged questions found in {judgments}; calibration needs at least "
            f"{max(MIN_QUESTIONS, folds)} (and about 50 to beat the better single mode reliably, see "
            "docs/evaluation.md)"
        )
    candidates, choices = candidates_for(searcher)
    scores = judge(searcher, {q: queries[q] for q in questions}, qrels, candidates, progress=progress)

    def rule(scores: Scores, questions: Sequence[str]) -> str:
        return choose(scores, questions, choices)

    chosen = rule(scores, questions)
    held_out = cross_validate(scores, folds_of(questions, folds), rule)
    candidate = next(c for c in candidates if c.name == chosen)
    return Calibration(
        mode=candidate.mode.value,
        fusion=candidate.fusion.value if candidate.fusion is not None else None,
        dense_weight=candidate.dense_weight,
        rerank=candidate.rerank if choices != CHOICES else None,
        chosen=chosen,
        questions=len(questions),
        folds=folds,
        judgments=judgments,
        calibrated_at=datetime.now(UTC),
        held_out_ndcg_at_10=round(statistics.fmean(held_out.values()), 4),
        candidates=tuple(
            CandidateScore(name=n, ndcg_at_10=round(mean_over(s, questions), 4)) for n, s in scores.items()
        ),
    )


def record(backend: Backend, calibration: Calibration | None) -> Snapshot:
    """Commit a new version of `backend`'s index that records `calibration` (None: clears it); nothing else
    changes. Every later version carries it until the next calibration, or a rebuild that re-embeds."""
    with backend.write_lock():
        base = backend.open()
        tx = backend.transaction(base, base.manifest.model, base.manifest.chunking)
        tx.calibrate(calibration)
        return tx.commit()


def format_calibration(calibration: Calibration) -> str:
    """The calibration as lines of text: every candidate's score, the choice and its held-out figure."""
    lines = [
        f"{calibration.questions} judged questions from {calibration.judgments}",
        "",
        "| setting | nDCG@10 |",
        "| --- | ---: |",
    ]
    for candidate in calibration.candidates:
        mark = " (chosen)" if candidate.name == calibration.chosen else ""
        lines.append(f"| {candidate.name}{mark} | {candidate.ndcg_at_10:.4f} |")
    lines += [
        "",
        f"chosen: {calibration.chosen} (from dense, lexical and hybrid with equal weights); the choosing rule "
        f"scores {calibration.held_out_ndcg_at_10:.4f} on held-out questions ({calibration.folds}-fold "
        "cross-validation)",
    ]
    return "\n".join(lines)
