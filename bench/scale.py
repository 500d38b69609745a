"""`python -m bench scale --chunks N --json FILE`: how the index behaves as the collection grows.

Builds a synthetic collection of N one-passage documents (`bench.synthetic`: generated text, a fast
deterministic clustered embedder, so the model's cost is out of the figures) in the project's own index
format, in process, then measures:

- one-document upsert and delete latency through the writer the document API uses (p50 of `--writes` each);
- search p50 per mode over `--queries` questions;
- recall@10 of the default vector index against exact inner-product search over every vector;
- build time, peak RSS of this process, and the index's size on disk.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from bench.synthetic import ClusterEmbedder, documents, queries
from indexer.builder import sync_index
from indexer.chunking import ChunkingConfig
from indexer.documents import FolderReport
from indexer.index import open_index
from indexer.search import Mode, Searcher
from indexer.snapshot import IndexSnapshot
from indexer.writer import IndexWriter


def _p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def recall_at_10(snapshot: IndexSnapshot, query_vectors: np.ndarray) -> float:
    """Mean overlap of the index's top 10 with exact top 10 by inner product over every stored vector."""
    n = snapshot.vectors.ntotal
    ids = snapshot.lexical.ids
    exact = faiss.IndexFlatIP(query_vectors.shape[1])
    exact.add(np.vstack([snapshot.vectors.reconstruct(int(i)) for i in ids]) if n else np.zeros((0, 384), "f"))
    _, truth = exact.search(query_vectors, 10)
    _, got = snapshot.vectors.search(query_vectors, 10)
    overlaps = [len({int(ids[t]) for t in row_t if t >= 0} & set(row_g.tolist())) / 10 for row_t, row_g in
                zip(truth, got, strict=True)]  # fmt: skip
    return float(np.mean(overlaps))


def run(chunks: int, index_dir: Path, *, n_queries: int = 20, n_writes: int = 5) -> dict[str, Any]:
    """Build, write and search an index of `chunks` synthetic chunks in `index_dir`; the figures."""
    faiss.omp_set_num_threads(1)  # as the service runs searches (SEEKR_FAISS_THREADS)
    embedder = ClusterEmbedder()
    started = time.perf_counter()
    sync_index(FolderReport(documents(chunks)), index_dir, embedder, ChunkingConfig())
    build_s = time.perf_counter() - started

    writer = IndexWriter(index_dir, embedder)
    upserts, deletes = [], []
    for doc in documents(n_writes, start=chunks):
        t = time.perf_counter()
        writer.apply([doc])
        upserts.append(time.perf_counter() - t)
    for doc in documents(n_writes, start=chunks):
        t = time.perf_counter()
        writer.apply(deletes=[doc.doc_id])
        deletes.append(time.perf_counter() - t)

    snapshot = open_index(index_dir)
    searcher = Searcher(snapshot, embedder)
    questions = queries(n_queries)
    search: dict[str, float] = {}
    for mode in Mode:
        searcher.search(questions[0], k=10, mode=mode)  # warm
        samples = []
        for q in questions:
            t = time.perf_counter()
            searcher.search(q, k=10, mode=mode, highlight=False)
            samples.append(time.perf_counter() - t)
        search[mode.value] = _p50_ms(samples)
    disk = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())
    return {
        "chunks": snapshot.manifest.counts.chunks,
        "build_s": build_s,
        "upsert_p50_ms": _p50_ms(upserts),
        "delete_p50_ms": _p50_ms(deletes),
        "search_p50_ms": search,
        "recall_at_10": recall_at_10(snapshot, embedder.encode(questions)),
        "segments": [{"chunks": s.live_chunks, "hnsw": s.hnsw} for s in snapshot.manifest.segments],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
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
