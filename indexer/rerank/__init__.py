"""Rerankers: models that score a question against each candidate passage together (cross-encoders).

`base` is the interface every reranker implements; `cross_encoder` runs a sentence-transformers CrossEncoder
folder in process; `factory` picks the implementation a setting names.
"""
