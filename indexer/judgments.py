"""Judged questions in BEIR format, and the metrics that score a ranking against them.

A judgments folder holds `queries.jsonl` (one `{"_id", "text"}` per line) and `qrels/test.tsv` (query id,
document id, grade). Metrics come from `ir-measures` (trec_eval underneath): nDCG@10 with graded gains, Recall@10
and @100 (any grade >= 1 is relevant), MRR@10.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

from indexer.errors import ConfigError

MEASURES = ("nDCG@10", "Recall@10", "Recall@100", "MRR@10")  # in ir-measures' names
DEPTH = 100  # documents ranked per question

Run = dict[str, dict[str, float]]  # query id -> document id -> score (higher is better)
Qrels = dict[str, dict[str, int]]  # query id -> document id -> grade


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file of a BEIR folder."""
    if not path.is_file():
        raise ConfigError(f"{path} is missing; a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/test.tsv")
    records: list[dict[str, Any]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path}:{n}: not a JSON object ({exc})") from None
        if not isinstance(record, dict):
            raise ConfigError(f"{path}:{n}: not a JSON object")
        records.append(record)
    return records


def read_qrels(path: Path) -> Qrels:
    """qrels TSV (query-id, corpus-id, score), with or without a header line."""
    if not path.is_file():
        raise ConfigError(f"{path} is missing; BEIR relevance judgments live in qrels/test.tsv")
    qrels: Qrels = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 3:
            continue
        try:
            grade = int(float(parts[-1]))
        except ValueError:
            if n == 0:
                continue  # header
            raise ConfigError(f"{path}:{n + 1}: relevance {parts[-1]!r} is not a number") from None
        qrels.setdefault(parts[0], {})[parts[1]] = grade
    return qrels


def read_judgments(folder: Path) -> tuple[dict[str, str], Qrels]:
    """(queries, qrels) of a judgments folder: only questions that are judged and have a text are kept."""
    qrels = read_qrels(folder / "qrels" / "test.tsv")
    queries = {
        str(q["_id"]): str(q["text"])
        for q in read_jsonl(folder / "queries.jsonl")
        if str(q.get("_id")) in qrels and str(q.get("text") or "").strip()
    }
    return queries, {qid: qrels[qid] for qid in queries}


def ranked_run(rankings: dict[str, list[str]]) -> Run:
    """A run from ranked document ids (best first), with scores strictly decreasing with rank so that
    trec_eval's tie-breaking never reorders them."""
    return {qid: {doc: float(DEPTH - i) for i, doc in enumerate(docs)} for qid, docs in rankings.items()}


def _ir_measures() -> ModuleType:
    # Imported when scoring, so that the commands that never score do not need the eval extra.
    try:
        import ir_measures
    except ImportError as exc:
        raise ConfigError(f"scoring needs the eval extra: pip install 'seekr[eval]' ({exc})") from exc
    return ir_measures


def score_run(qrels: Qrels, run: Run) -> dict[str, float]:
    """Mean metrics over the judged queries (queries missing from the run count as zero)."""
    ir = _ir_measures()
    measures = {name: ir.parse_measure(name) for name in MEASURES}
    results = ir.calc_aggregate(list(measures.values()), qrels, run)
    return {name: float(results.get(measure, 0.0)) for name, measure in measures.items()}


def per_query_ndcg(qrels: Qrels, run: Run) -> dict[str, float]:
    """nDCG@10 of each judged query (0 for a query missing from the run)."""
    ir = _ir_measures()
    scores = dict.fromkeys(qrels, 0.0)
    for metric in ir.iter_calc([ir.parse_measure("nDCG@10")], qrels, run):
        scores[metric.query_id] = float(metric.value)
    return scores
