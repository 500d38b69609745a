"""`python -m bench segmenters DATASET_DIR ...`: how words are found, compared as BM25 over whole documents.

For each BEIR folder, plain BM25 (bm25s, k1=1.5, b=0.75) over each document's title and text, tokenised four ways,
each question ranked, nDCG@10 (one relevant document per question in the sets this was made for):

- `icu`: ICU's words (dictionaries for Chinese, Japanese, Thai, ...), NFKC, case folding: what seekr's analyzer
  starts from;
- `bigrams`: ICU's words, with runs of Han, kana and Hangul as overlapping character pairs (Elasticsearch's
  `cjk_bigram`), the fallback that needs no dictionary;
- `icu+bigrams`: both;
- `icu+unigrams`: ICU's words, and each character of a Han or kana word.

The measurement that chose ICU's words: docs/languages.md.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import bm25s
import icu

_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_BREAKER = icu.BreakIterator.createWordInstance(icu.Locale.getRoot())


def icu_words(text: str) -> list[str]:
    """ICU's words of `text`, NFKC and case-folded."""
    text = unicodedata.normalize("NFKC", text).casefold()
    _BREAKER.setText(text)
    words, start = [], _BREAKER.first()
    for end in _BREAKER:
        if _BREAKER.getRuleStatus() >= 100:
            words.append(text[start:end])
        start = end
    return words


def _is_cjk(word: str) -> bool:
    return all(_CJK.match(c) for c in word)


def bigrams(text: str) -> list[str]:
    """ICU's words with each run of CJK words as overlapping character pairs."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        joined = "".join(run)
        out.extend([joined] if len(joined) == 1 else [joined[i : i + 2] for i in range(len(joined) - 1)])
        run.clear()

    for word in icu_words(text):
        if _is_cjk(word):
            run.append(word)
            continue
        if run:
            flush()
        out.append(word)
    if run:
        flush()
    return out


def icu_and_bigrams(text: str) -> list[str]:
    """Both of the above."""
    return icu_words(text) + [b for b in bigrams(text) if len(b) == 2 and _is_cjk(b)]


def icu_and_unigrams(text: str) -> list[str]:
    """ICU's words, and each character of a CJK word of several."""
    words = icu_words(text)
    return words + [c for w in words if len(w) > 1 and _is_cjk(w) for c in w]


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {
    "icu": icu_words,
    "bigrams": bigrams,
    "icu+bigrams": icu_and_bigrams,
    "icu+unigrams": icu_and_unigrams,
}


def _read(folder: Path) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, set[str]]]:
    with (folder / "corpus.jsonl").open(encoding="utf-8") as f:
        docs = [(d["_id"], f"{d.get('title') or ''}\n{d['text']}") for d in map(json.loads, f)]
    with (folder / "queries.jsonl").open(encoding="utf-8") as f:
        queries = {q["_id"]: q["text"] for q in map(json.loads, f)}
    qrels: dict[str, set[str]] = {}
    for line in (folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2].strip().lstrip("-").isdigit() and int(parts[2]) > 0:
            qrels.setdefault(parts[0], set()).add(parts[1])
    return docs, queries, qrels


def measure(folder: Path, tokenize: Callable[[str], list[str]]) -> dict[str, float]:
    """nDCG@10 (binary) of BM25 over `folder` tokenised by `tokenize`, and its indexing seconds."""
    docs, queries, qrels = _read(folder)
    started = time.perf_counter()
    retriever = bm25s.BM25(k1=1.5, b=0.75)
    retriever.index([tokenize(text) for _, text in docs], show_progress=False)
    seconds = time.perf_counter() - started
    vocab = retriever.vocab_dict
    total = 0.0
    asked = [q for q in qrels if q in queries]
    for qid in asked:
        tokens = [t for t in tokenize(queries[qid]) if t in vocab]
        if not tokens:
            continue
        found, _ = retriever.retrieve([tokens], k=min(10, len(docs)), show_progress=False, n_threads=1)
        relevant = qrels[qid]
        gains = [1.0 / math.log2(rank + 2) for rank, d in enumerate(found[0]) if docs[d][0] in relevant]
        ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(relevant), 10)))
        total += sum(gains) / ideal
    return {"ndcg_at_10": round(total / len(asked), 4), "index_seconds": round(seconds, 2)}


def main(argv: list[str]) -> int:
    """Print nDCG@10 per tokenizer and data set."""
    p = argparse.ArgumentParser(prog="python -m bench segmenters", description=__doc__)
    p.add_argument("datasets", type=Path, nargs="+", metavar="DATASET_DIR")
    args = p.parse_args(argv)
    print("| data set | " + " | ".join(TOKENIZERS) + " |")
    print("| --- |" + " ---: |" * len(TOKENIZERS))
    for folder in args.datasets:
        scores = [measure(folder, tokenize)["ndcg_at_10"] for tokenize in TOKENIZERS.values()]
        print(f"| {folder.name} | " + " | ".join(f"{s:.4f}" for s in scores) + " |", flush=True)
    return 0
