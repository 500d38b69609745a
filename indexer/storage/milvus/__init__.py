"""The Milvus engine: the index in Milvus collections, on a server or cluster, or in a Milvus Lite file.

Modules: `connection` (the shared client and its call wrapper), `expressions` (Milvus boolean expressions),
`schema` (collections and fields), `versions` (manifest rows and generations), `snapshot` (reading a version),
`transaction` (writing the next one) and `backend` (the storage seam over them). See `backend` for how versions
are kept without transactions.
"""

from indexer.storage.milvus.backend import MilvusBackend

__all__ = ["MilvusBackend"]
