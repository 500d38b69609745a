"""Rerankers: models that score a question against each candidate passage together (cross-encoders).

`base` is the interface every reranker implements and its runtimes; `cross_encoder` runs a sentence-transformers
CrossEncoder folder in process with torch; `onnx_export` exports one to ONNX (fp32, and int8 where it keeps the
scores) and `onnx_runtime` runs the export without torch; `server` reaches a reranking server (TEI, Cohere-style);
`factory` picks the implementation a setting or a collection's manifest names.
"""
