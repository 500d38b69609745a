"""`python -m bench calibration-study DATASET_DIR`: how many judged questions `indexer calibrate` needs.

Indexes the BEIR corpus once with the project's pipeline and scores every candidate setting on every judged
question (`indexer.calibrate.judge`). Then, for each calibration size n, it draws n questions at random many
times, lets the choosing rule pick a setting from those n, and scores the pick on the questions not drawn
(held out). It reports, per n, the mean held-out nDCG@10 of the pick minus that of the better single mode
(dense or lexical, whichever is better on the held-out questions), and how often the pick is no worse than that
by more than 0.005. Two rules are compared: calibrate's (the best of dense, lexical and equal-weight hybrid) and
the plain argmax over all twelve candidates, which also fits the dbsf weight.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.studies import header, index_dataset, study_main
from indexer.calibrate import CANDIDATES, DEFAULT, Rule, Scores, choose, judge, mean_over
from indexer.embed.base import Embedder
from indexer.evaluate import BeirDataset
from indexer.retrieval.searcher import Searcher

TOLERANCE = 0.005  # "no worse than the better single mode" allows this much


def argmax_all(scores: Scores, questions: Sequence[str]) -> str:
    """The best of every candidate on `questions` (ties: the earlier one)."""
    return choose(scores, questions, CANDIDATES)


RULES: dict[str, Rule] = {"calibrate (3 choices)": choose, "argmax (12 candidates)": argmax_all}


def subsample(
    scores: Scores, sizes: Sequence[int], draws: int, seed: int = 0
) -> dict[str, dict[str, dict[str, float]]]:
    """size -> rule -> {gain, no_worse, default_gain}: means over `draws` random calibration sets of that size."""
    questions = sorted(scores[DEFAULT.name])
    out: dict[str, dict[str, dict[str, float]]] = {}
    for n in sizes:
        if not 0 < n < len(questions):
            continue  # nothing would be held out
        rng = random.Random(seed)
        gains: dict[str, list[float]] = {name: [] for name in RULES}
        default_gains = []
        for _ in range(draws):
            drawn = rng.sample(questions, n)
            held_out = sorted(set(questions) - set(drawn))
            better = max(mean_over(scores["dense"], held_out), mean_over(scores["lexical"], held_out))
            default_gains.append(mean_over(scores[DEFAULT.name], held_out) - better)
            for name, rule in RULES.items():
                gains[name].append(mean_over(scores[rule(scores, drawn)], held_out) - better)
        out[str(n)] = {
            name: {
                "gain": statistics.fmean(values),
                "no_worse": sum(v >= -TOLERANCE for v in values) / len(values),
                "default_gain": statistics.fmean(default_gains),
            }
            for name, values in gains.items()
        }
    return out


def study(
    dataset: BeirDataset, embedder: Embedder, index_dir: Path, sizes: Sequence[int], draws: int
) -> tuple[dict[str, float], dict[str, dict[str, dict[str, float]]]]:
    """(every candidate's mean nDCG@10 on all questions, the subsampling figures)."""
    scores = judge(Searcher(index_dataset(dataset, embedder, index_dir), embedder), dataset.queries, dataset.qrels)
    means = {name: mean_over(s, list(s)) for name, s in scores.items()}
    return means, subsample(scores, sizes, draws)


def format_study(dataset: BeirDataset, means: dict[str, float], figures: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown: the candidates on all questions, then one row per size and rule."""
    lines = [header(dataset), ""]
    lines += ["| setting | nDCG@10 (all questions) |", "| --- | ---: |"]
    lines += [f"| {setting} | {value:.4f} |" for setting, value in means.items()]
    lines += [
        "",
        "| judged questions | rule | held-out gain over the better single mode | no worse (within 0.005) "
        "| default's gain |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for n, rules in figures.items():
        for rule, f in rules.items():
            lines.append(f"| {n} | {rule} | {f['gain']:+.4f} | {f['no_worse']:.0%} | {f['default_gain']:+.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the study and print its tables."""

    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--sizes", default="10,20,30,50", help="calibration sizes (default: %(default)s)")
        parser.add_argument("--draws", type=int, default=400, help="random draws per size (default: %(default)s)")

    return study_main(
        argv,
        prog="calibration-study",
        description=__doc__,
        arguments=arguments,
        run=lambda dataset, embedder, tmp, args: study(
            dataset, embedder, tmp / "index", [int(n) for n in args.sizes.split(",")], args.draws
        ),
        show=lambda dataset, result: format_study(dataset, *result),
        to_json=lambda result: {"means": result[0], "subsampling": result[1]},
    )


if __name__ == "__main__":
    sys.exit(main())
