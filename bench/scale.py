"""`python -m bench scale --chunks N --json FILE`: how the index behaves as the collection grows.

Builds a synthetic collection of N one-passage documents (`bench.synthetic`: generated text, a fast
deterministic clustered embedder, so the model's cost is out of the figures) in the project's own index
format, in process, streaming batches of 10k documents into one segment (HNSW from `ANN_MIN_CHUNKS` on),
then measures:

- one-document upsert and delete latency through the writer the document API uses (p50 of `--writes` each);
- search p50 per mode over `--queries` questions, and over as many 4,000-character paragraphs;
- recall@10 of the default vector index against exact inner-product search over every vector;
- build time, peak RSS of this process over the build, writes and searches (read before the exact search
  for recall, which pages in every vector), and the index's size on disk.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from bench.synthetic import ClusterEmbedder, documents, queries
from indexer.building.builder import ORIGIN_BUILD, chunking_info, model_info, prepare_updates
from indexer.building.writer import IndexWriter
from indexer.ingest.chunking import ChunkingConfig
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.local.backend import LocalBackend
from indexer.storage.local.snapshot import IndexSnapshot
from indexer.storage.local.transaction import Transaction
from indexer.storage.local.versions import write_lock
from indexer.types import DocumentUpdate

_BUILD_BATCH = 10_000  # documents generated, chunked and embedded per step of the bulk load
_EXACT_BLOCK = 100_000  # vectors scored per step of the exact search
LONG_QUERY_CHARS = 4000  # a paragraph as the question


def _p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def recall_at_10(snapshot: IndexSnapshot, query_vectors: np.ndarray) -> float:
    """Mean overlap of the index's top 10 with the exact top 10 by inner product over every live vector.

    The exact side streams the stored vectors in blocks, so it never holds a second copy of them.
    """
    ids = snapshot.lexical.ids
    best_scores = np.full((len(query_vectors), 0), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(query_vectors), 0), dtype=np.int64)
    for start in range(0, len(ids), _EXACT_BLOCK):
        block = ids[start : start + _EXACT_BLOCK]
        scores = query_vectors @ snapshot.vectors.reconstruct_batch(block).T
        best_scores = np.hstack([best_scores, scores])
        best_ids = np.hstack([best_ids, np.broadcast_to(block, scores.shape)])
        keep = np.argsort(-best_scores, axis=1, kind="stable")[:, :10]
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
        best_ids = np.take_along_axis(best_ids, keep, axis=1)
    _, got = snapshot.vectors.search(query_vectors, 10)
    overlaps = [len(set(t.tolist()) & set(g.tolist())) / 10 for t, g in zip(best_ids, got, strict=True)]
    return float(np.mean(overlaps))


def build(index_dir: Path, embedder: ClusterEmbedder, chunks: int) -> float:
    """Bulk-load `chunks` synthetic one-chunk documents into one new segment, a batch at a time; seconds."""
    started = time.perf_counter()
    config = ChunkingConfig()

    def batches() -> Iterator[list[DocumentUpdate]]:
        for start in range(0, chunks, _BUILD_BATCH):
            docs = documents(min(_BUILD_BATCH, chunks - start), start=start)
            yield prepare_updates(docs, dict.fromkeys((d.doc_id for d in docs), ORIGIN_BUILD), embedder, config)

    with write_lock(index_dir):
        tx = Transaction(index_dir, None, model_info(embedder), chunking_info(config))
        tx.add_stream(batches(), expected_chunks=chunks)
        tx.commit(build_seconds=time.perf_counter() - started)
    return time.perf_counter() - started


def _search_p50_ms(searcher: Searcher, questions: list[str]) -> dict[str, float]:
    """p50 of each mode over `questions` (after one warm-up search per mode)."""
    search: dict[str, float] = {}
    for mode in Mode:
        searcher.search(questions[0], k=10, mode=mode)  # warm
        samples = []
        for q in questions:
            t = time.perf_counter()
            searcher.search(q, k=10, mode=mode, highlight=False)
            samples.append(time.perf_counter() - t)
        search[mode.value] = _p50_ms(samples)
    return search


def run(chunks: int, index_dir: Path, *, n_queries: int = 20, n_writes: int = 5) -> dict[str, Any]:
    """Build, write and search an index of `chunks` synthetic chunks in `index_dir`; the figures."""
    embedder = ClusterEmbedder()
    build_s = build(index_dir, embedder, chunks)  # the HNSW graph is built on every core, as `indexer build` does
    faiss.omp_set_num_threads(1)  # writes and searches as the service runs them (SEEKR_FAISS_THREADS)

    writer = IndexWriter(index_dir, embedder)
    warm = documents(1, start=chunks + n_writes)[0]
    writer.apply([warm])  # the writer opens the index once, as a server's start does
    writer.apply(deletes=[warm.doc_id])
    upserts, deletes = [], []
    for doc in documents(n_writes, start=chunks):
        t = time.perf_counter()
        writer.apply([doc])
        upserts.append(time.perf_counter() - t)
    for doc in documents(n_writes, start=chunks):
        t = time.perf_counter()
        writer.apply(deletes=[doc.doc_id])
        deletes.append(time.perf_counter() - t)

    snapshot = LocalBackend(index_dir).open(reuse=writer.snapshot)  # one copy of each segment, as in the service
    searcher = Searcher(snapshot, embedder)
    questions = queries(n_queries)
    search = _search_p50_ms(searcher, questions)
    # Whole paragraphs as questions (the API takes up to 16,000 characters): BM25 scores every term of them.
    search_long = _search_p50_ms(searcher, queries(n_queries, seed=17, chars=LONG_QUERY_CHARS))
    disk = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())
    # Read before the recall oracle below, which pages in every stored vector to rank them exactly.
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "chunks": snapshot.manifest.counts.chunks,
        "build_s": build_s,
        "upsert_p50_ms": _p50_ms(upserts),
        "delete_p50_ms": _p50_ms(deletes),
        "search_p50_ms": search,
        "search_long_p50_ms": search_long,
        "long_query_chars": LONG_QUERY_CHARS,
        "recall_at_10": recall_at_10(snapshot, embedder.encode_queries(questions)),
        "segments": [{"chunks": s.live_chunks, "hnsw": s.hnsw} for s in snapshot.manifest.segments],
        "peak_rss_mb": peak_rss_mb,
        "disk_mb": disk / 2**20,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the scale benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__)
    parser.add_argument("--chunks", type=int, required=True, help="collection size in chunks")
    parser.add_argument("--queries", type=int, default=20, help="questions per mode (default: %(default)s)")
    parser.add_argument("--writes", type=int, default=5, help="upserts and deletes timed (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--index", type=Path, help="build here and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="seekr-scale-") as tmp:
        result = run(args.chunks, args.index or Path(tmp) / "index", n_queries=args.queries, n_writes=args.writes)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
