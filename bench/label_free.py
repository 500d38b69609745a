"""`python -m bench label-free DATASET_DIR`: label-free ways to weigh dense against lexical, against the fixed ones.

Indexes the BEIR corpus once with the project's pipeline and reports nDCG@10 over every judged question (one
passage per document) for:

- the fixed settings (`indexer.calibrate.CANDIDATES`): dense, lexical, rrf, dbsf at weights 0.1..0.9;
- **per-query score shapes**: each retriever's top score in standard deviations above the mean of its 100
  candidates (z), and the dbsf dense weight z_dense / (z_dense + z_lexical); also with the mean of the top five;
- **self-supervised (inverse cloze)**: from a sample of the corpus (at most 2,000 documents), 300 sentences are
  held out of their documents and asked as questions whose answer is their own document. The setting that best
  finds them is chosen (among all twelve, and among dense, lexical and equal hybrid), then judged on the real
  questions.

No judged question is used to choose anything here: the judgments only score the choices.
"""

from __future__ import annotations

import random
import re
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.studies import header, index_dataset, study_main
from indexer.building.builder import sync_index
from indexer.calibrate import Candidate, choose, judge, mean_over
from indexer.embed.base import Embedder
from indexer.evaluate import BeirDataset
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.folder import FolderReport
from indexer.judgments import Qrels, per_query_ndcg, ranked_run
from indexer.retrieval.fusion import Fusion
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.local.backend import LocalBackend

POOL_DOCUMENTS = 2000
PSEUDO_QUESTIONS = 300
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

Weigher = Callable[[Searcher, str], float]


def _z(scores: Sequence[float], top: int) -> float:
    """How far the mean of the `top` best scores stands above the whole list, in standard deviations."""
    if len(scores) < 3:
        return 0.0
    values = np.asarray(scores, dtype=np.float64)
    spread = float(values.std()) or 1e-9
    return float((values[:top].mean() - values.mean()) / spread)


def z_weigher(top: int) -> Weigher:
    """A per-query dense weight from the two lists' score shapes."""

    def weight(searcher: Searcher, question: str) -> float:
        z = []
        for mode in (Mode.dense, Mode.lexical):
            hits = searcher.search(question, k=100, mode=mode, max_per_doc=1, highlight=False).hits
            z.append(max(0.0, _z([h.score for h in hits], top)))
        return z[0] / (z[0] + z[1]) if z[0] + z[1] > 0 else 0.5

    return weight


def per_query_rule(searcher: Searcher, queries: dict[str, str], qrels: Qrels, weigher: Weigher) -> float:
    """Mean nDCG@10 when each question's dbsf weight comes from `weigher`."""
    rankings = {}
    for qid, text in queries.items():
        weight = min(1.0, max(0.0, weigher(searcher, text)))
        rankings[qid] = Candidate(Mode.hybrid, Fusion.dbsf, weight).rank(searcher, text)
    scores = per_query_ndcg({q: qrels[q] for q in queries}, ranked_run(rankings))
    return statistics.fmean(scores.values())


def inverse_cloze(
    dataset: BeirDataset, embedder: Embedder, index_dir: Path, seed: int = 0
) -> tuple[dict[str, dict[str, float]], dict[str, tuple[str, str]]]:
    """(every fixed setting's nDCG@10 on each pseudo-question, the pseudo-questions: id -> (text, the document it
    was held out of)). The index of the sampled documents, without those sentences, is left in `index_dir`."""
    rng = random.Random(seed)
    documents = dataset.corpus.documents
    pool = rng.sample(documents, min(POOL_DOCUMENTS, len(documents)))
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    changed = {}
    for doc in rng.sample(pool, min(PSEUDO_QUESTIONS, len(pool))):
        # Not the first sentence: it often names the title, which every passage of the document carries.
        sentences = [s for s in _SENTENCE_END.split(doc.text)[1:] if len(s.split()) >= 6]
        if not sentences:
            continue
        held_out = rng.choice(sentences)
        changed[doc.doc_id] = replace(doc, text=doc.text.replace(held_out, " ", 1))
        qid = f"cloze-{len(queries)}"
        queries[qid], qrels[qid] = held_out[:1000], {doc.doc_id: 1}
    folder = FolderReport(documents=[changed.get(d.doc_id, d) for d in pool])
    backend = LocalBackend(index_dir)
    sync_index(folder, backend, embedder, ChunkingConfig())
    asked = {qid: (text, next(iter(qrels[qid]))) for qid, text in queries.items()}
    return judge(Searcher(backend.open(), embedder), queries, qrels), asked


def study(dataset: BeirDataset, embedder: Embedder, workdir: Path) -> dict[str, float | str | int]:
    """Every label-free rule's mean nDCG@10 on the judged questions (and what the inverse cloze chose)."""
    searcher = Searcher(index_dataset(dataset, embedder, workdir / "index"), embedder)
    fixed = judge(searcher, dataset.queries, dataset.qrels)
    result: dict[str, float | str | int] = {name: mean_over(s, list(s)) for name, s in fixed.items()}
    for top in (1, 5):
        result[f"per query: z of the top {top}"] = per_query_rule(
            searcher, dataset.queries, dataset.qrels, z_weigher(top)
        )
    cloze, asked = inverse_cloze(dataset, embedder, workdir / "cloze")
    result["inverse cloze: pseudo-questions"] = len(asked)
    if not asked:  # no document has a second sentence to hold out
        return result
    best = max(cloze, key=lambda name: mean_over(cloze[name], list(cloze[name])))
    three = choose(cloze, list(cloze[best]))
    result["inverse cloze: best of 12"] = best
    result["inverse cloze: best of 12, judged"] = result[best]
    result["inverse cloze: best of 3"] = three
    result["inverse cloze: best of 3, judged"] = result[three]
    return result


def format_study(dataset: BeirDataset, result: dict[str, float | str | int]) -> str:
    """Markdown: one row per rule."""
    lines = [header(dataset), ""]
    lines += ["| rule | nDCG@10 or choice |", "| --- | ---: |"]
    for rule, value in result.items():
        lines.append(f"| {rule} | {value:.4f} |" if isinstance(value, float) else f"| {rule} | {value} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the study and print its table."""
    return study_main(
        argv,
        prog="label-free",
        description=__doc__,
        run=lambda dataset, embedder, tmp, _: study(dataset, embedder, tmp),
        show=format_study,
    )


if __name__ == "__main__":
    sys.exit(main())
