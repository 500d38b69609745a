"""Subprocess: build an index from a .jsonl file with the real model, then time a plain encode loop.

`python -m bench.build_worker SRC INDEX MODEL RUNTIME`. Prints one JSON line. Run alone so that its peak RSS is
the build's own (measured before the plain loop loads torch). The plain loop is always sentence-transformers'
own `encode` on torch, so the speed-up of the ONNX runtimes is measured against it.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from indexer.building.builder import build_index
from indexer.embed.runtime import load_embedder
from indexer.embed.torch_runtime import SentenceTransformerEmbedder
from indexer.ingest.chunking import ChunkingConfig
from indexer.storage.factory import open_backend
from indexer.storage.settings import StorageSettings


def main() -> None:
    src, index, model, runtime = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    started = time.perf_counter()
    embedder = load_embedder(model, runtime)
    load_seconds = time.perf_counter() - started
    backend = open_backend(StorageSettings(index_dir=index))  # SEEKR_BACKEND and SEEKR_MILVUS_* from the caller
    report = build_index(src, backend, embedder, ChunkingConfig())
    build_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # The plain baseline: SentenceTransformer.encode(batch_size=32) over the same chunks, batch by batch.
    snap = backend.open()
    texts = [r.text for r in snap.store.chunks(snap.store.chunk_ids()).values()]
    backend.close()  # a Milvus Lite file is then free for the server
    st = SentenceTransformerEmbedder(model)._model
    started = time.perf_counter()
    for i in range(0, len(texts), 32):
        st.encode(texts[i : i + 32], batch_size=32, show_progress_bar=False)
    plain_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "runtime": embedder.runtime,
                "documents": report.documents,
                "chunks": report.chunks,
                "embedded_chunks": report.embedded_chunks,
                "model_load_seconds": load_seconds,
                "build_seconds": report.seconds,
                "build_peak_rss_bytes": build_rss,
                "plain_encode_seconds": plain_seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
