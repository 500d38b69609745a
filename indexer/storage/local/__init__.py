"""The local engine: segments of FAISS vectors, BM25 postings and SQLite stores in one directory.

Modules, bottom up: `store` (a segment's SQLite documents and chunks), `postings` and `bm25` (a segment's
terms and the collection's scores), `segment` (one immutable segment), `snapshot` (reading one version),
`versions` (the directory: pointer, locks, recovery), `transaction` (writing the next version), `merge`
(compaction) and `backend` (the storage seam over them).
"""

from indexer.storage.local.backend import LocalBackend

__all__ = ["LocalBackend"]
