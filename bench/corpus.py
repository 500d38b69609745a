"""Named corpora for benchmarks: the seeds, a BEIR data set, or any folder, optionally repeated."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from indexer.evaluate import load_beir
from indexer.ingest.folder import FolderReport, read_folder
from indexer.types import Document

ROOT = Path(__file__).resolve().parent.parent
NAMED = {
    "seeds": ROOT / "seeds",
    "cranfield": ROOT.parent / "shared" / "datasets" / "cranfield",
}
SEED_QUESTIONS = [
    "Where did Wang Yi meet Lavrov",
    "Why is Xi Jinping travelling abroad for the first time since the pandemic?",
    "When and where will the China-Central Asia Summit take place?",
    "What did Lance Gore say about the Russia-China partnership?",
    "What did Blinken say about China's goals at the Brookings Institution?",
    "Which joint military exercises have Russia and China held?",
]


@dataclass
class Corpus:
    """Documents to index and questions to ask."""

    name: str
    documents: list[Document]
    queries: list[str]


def load_corpus(name_or_path: str, copies: int = 1) -> Corpus:
    """`seeds`, `cranfield`, a BEIR folder (corpus.jsonl) or a folder of documents; `copies` repeats it."""
    path = NAMED.get(name_or_path, Path(name_or_path))
    if (path / "corpus.jsonl").is_file():
        beir = load_beir(path)
        report: FolderReport = beir.corpus
        queries = list(beir.queries.values())
    elif path.is_dir():
        report = read_folder(path)
        queries = SEED_QUESTIONS
    else:
        raise SystemExit(f"unknown corpus {name_or_path!r}: use seeds, cranfield, a BEIR folder or a folder")
    docs = [replace(d, doc_id=f"{d.doc_id}#{i}" if i else d.doc_id) for i in range(copies) for d in report.documents]
    return Corpus(f"{path.name}" + (f" x{copies}" if copies > 1 else ""), docs, queries)


def write_jsonl(corpus: Corpus, path: Path) -> None:
    """Write the corpus as one .jsonl file (what a user would index), for the build subprocess."""
    with path.open("w", encoding="utf-8") as fh:
        for d in corpus.documents:
            fh.write(json.dumps({"id": d.doc_id, "title": d.title, "text": d.text}, ensure_ascii=False) + "\n")
