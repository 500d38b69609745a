"""`python -m bench long-queries DATASET_DIR`: a paragraph as the question, embedded truncated or as the mean of
its pieces.

ArguAna's questions are whole arguments ("find the counter-argument to this"). No such set is shared here, so
this builds ArguAna-like questions from a BEIR set's own judgments: for each question with at least three relevant
documents, the text of its two best-judged documents, joined, is the new question ("find documents like this
text"), and its other relevant documents are the answers. The two documents of the question itself are left out
of its ranking.

Each question is then asked dense and hybrid, with the question embedded two ways:

- **truncated** (what the service does by default): the model embeds the first `max_seq_length` tokens (as
  sentence-transformers does);
- **mean of pieces** (`SEEKR_LONG_QUESTIONS=mean`, `indexer.retrieval.query.embed_query`): the question is cut into
  pieces of at most the model's length (in its own tokens), each piece is embedded, and the normalised mean of
  the pieces' vectors is the query vector.

BM25 scores every term of the question either way.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from bench.studies import index_dataset, study_main
from indexer.calibrate import DEPTH
from indexer.embed.base import Embedder
from indexer.evaluate import BeirDataset
from indexer.judgments import Qrels, per_query_ndcg, ranked_run
from indexer.retrieval.results import LongQuestions, Mode
from indexer.retrieval.searcher import Searcher

QUESTION_DOCUMENTS = 2  # relevant documents joined into one question


def paragraph_questions(dataset: BeirDataset) -> tuple[dict[str, str], Qrels, dict[str, set[str]]]:
    """(questions, their answers, the documents each question is made of)."""
    texts = {d.doc_id: d.text for d in dataset.corpus.documents}
    questions: dict[str, str] = {}
    qrels: Qrels = {}
    made_of: dict[str, set[str]] = {}
    for qid, judged in dataset.qrels.items():
        relevant = sorted((d for d, g in judged.items() if g > 0 and d in texts), key=lambda d: (-judged[d], d))
        if len(relevant) < QUESTION_DOCUMENTS + 1:
            continue
        used = relevant[:QUESTION_DOCUMENTS]
        questions[qid] = "\n\n".join(texts[d] for d in used)
        qrels[qid] = {d: judged[d] for d in relevant[QUESTION_DOCUMENTS:]}
        made_of[qid] = set(used)
    return questions, qrels, made_of


def study(dataset: BeirDataset, embedder: Embedder, index_dir: Path) -> dict[str, float | int]:
    """nDCG@10 per mode and way of embedding, and the questions' sizes."""
    snapshot = index_dataset(dataset, embedder, index_dir)
    questions, qrels, made_of = paragraph_questions(dataset)
    lengths = [len(embedder.token_spans(q)) for q in questions.values()]
    result: dict[str, float | int] = {
        "questions": len(questions),
        "median characters": int(statistics.median(len(q) for q in questions.values())),
        "median tokens": int(statistics.median(lengths)),
        "longer than the model reads": sum(n > embedder.max_tokens for n in lengths),
    }
    for way, searcher in (
        ("truncated", Searcher(snapshot, embedder)),  # the first window: what the service does
        ("mean of pieces", Searcher(snapshot, embedder, long_questions=LongQuestions.mean)),
    ):
        for mode in (Mode.dense, Mode.hybrid):
            rankings = {}
            for qid, text in questions.items():
                hits = searcher.search(text, k=DEPTH + QUESTION_DOCUMENTS, mode=mode, max_per_doc=1, highlight=False)
                rankings[qid] = [h.doc_id for h in hits.hits if h.doc_id not in made_of[qid]][:DEPTH]
            scores = per_query_ndcg(qrels, ranked_run(rankings))
            result[f"{mode.value}, {way}"] = statistics.fmean(scores.values())
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the study and print its figures."""
    return study_main(
        argv,
        prog="long-queries",
        description=__doc__,
        run=lambda dataset, embedder, tmp, _: study(dataset, embedder, tmp / "index"),
        show=lambda dataset, result: json.dumps(result, indent=2),
    )


if __name__ == "__main__":
    sys.exit(main())
