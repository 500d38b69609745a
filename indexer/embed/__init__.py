"""Embedding: the embedder interface, its runtimes (torch, ONNX fp32/int8), model export and query batching."""
