"""One way to open an exported model on the CPU, for the embedder and the reranker alike: the thread count, no
spinning, the CPU provider named, and the errors a load can raise."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ortstate

# onnxruntime's load errors, which derive from Exception only.
LOAD_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    ortstate.Fail,
    ortstate.InvalidProtobuf,
    ortstate.NoSuchFile,
    ortstate.InvalidGraph,
)


def cpu_session(path: Path, threads: int, *, text_batches: bool = False) -> ort.InferenceSession:
    """A session over the model at `path` running on `threads` cores; raises one of `LOAD_ERRORS`.

    `text_batches`: tuned for batches of texts of varying length (smaller work blocks, every graph optimisation).
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Spinning worker threads burn the cores other requests (and FAISS, and BM25) need: measured 3x slower
    # under contention. Without spinning a thread sleeps as soon as its share of a forward pass is done.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if text_batches:
        # Smaller work blocks balance the threads better on the varying shapes of text batches: +8% chunks/s
        # on 2 cores (cranfield chunks, int8, batches of 8: 178 -> 192).
        options.add_session_config_entry("session.dynamic_block_base", "4")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Listed explicitly: some wheels list another provider first.
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
