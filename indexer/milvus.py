"""The Milvus engine: the index in Milvus collections, on a server or cluster, or in a Milvus Lite file.

Collections, for the name prefix P (`SEEKR_MILVUS_COLLECTION`) and generation G:

    P_meta          one row per kept version: its manifest, generation and commit time (the highest is current)
    P_gG_chunks     one row per chunk: chunk_id, doc_id, version, deleted_at, offsets, text,
                    title, source, meta (the document's metadata, for filters), terms (the project's own stems,
                    indexed by Milvus's BM25 function into `sparse`), vector
    P_gG_docs       per document version, one row per part of its text (a VARCHAR holds 64 KiB): doc_id,
                    part, version, deleted_at, title, source, origin, content hash, text, metadata, chunks

Milvus has no transactions, so versions are kept in the rows (multi-version concurrency control): a write
numbered N inserts its rows with `version = N`, marks the rows it replaces or deletes `deleted_at = N`, then
inserts a manifest row for N. A reader of version V filters every search and lookup on `version <= V and
(deleted_at == 0 or deleted_at > V)`, so it never sees half a write, and a write is visible to the next
search once its manifest row is (collections use Strong consistency). Rows no kept version can see are
removed (see KEEP_VERSIONS); rows of a write that never committed are removed by the next write or by
`recover`. A full rebuild writes a new generation and switches to it in the same way.

Rows are never updated in place: an upsert is a delete and an insert that a concurrent search can see
half done (the row missing), measured here on Milvus Lite. Marking a row is therefore inserting its marked
copy and then deleting the original (primary keys are Milvus's own `row` ids), so a search may briefly see
both copies, which carry the same chunk id and are counted once, but never neither.

BM25: Milvus scores the same stems with k1 1.5 and b 0.75; its scores are the project's times (k1 + 1),
which is divided out, so lexical and hybrid rank alike on both engines. Its statistics count every row
not yet removed (as Lucene's do until a merge), so scores can differ slightly right after many updates.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from indexer.backend import MILVUS_TIMEOUT_SECONDS, BackendName, Restriction, Snapshot
from indexer.chunking import matched_text
from indexer.errors import BackendError, ConfigError, IndexCorruptError, IndexNotFoundError
from indexer.index import DocumentUpdate
from indexer.lexical import K1, Analyzer
from indexer.manifest import FORMAT_VERSION, ChunkingInfo, Counts, Manifest, ModelInfo, VectorInfo
from indexer.segment import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M
from indexer.store import ChunkRecord, Filter, Scalar, StoredDocument, slices

if TYPE_CHECKING:
    from pymilvus import MilvusClient

# Rows a version can see stay while it is one of the last KEEP_VERSIONS or younger than KEEP_SECONDS: a read
# replica polls for new versions every second or so, and under a stream of writes it can hold a version many
# commits old for that long.
KEEP_VERSIONS = 8
KEEP_SECONDS = 300.0
LIMIT = 16_384  # Milvus's largest top-k and query page
_VARCHAR = 65_535  # Milvus's largest VARCHAR, in bytes
_TEXT_PART = 16_000  # characters per document-text part: at most 64,000 bytes of UTF-8
_WRITE_BATCH = 256  # rows per insert: well under Milvus's message size
_IN_BATCH = 1_000  # values per `in [...]` list
_PLACEHOLDER = [0.0, 1.0]  # Milvus needs a vector field in every collection
_ANALYZER = Analyzer()
_WILDCARDS = re.compile(r"[%_]")

_CHUNK_FIELDS = [
    "chunk_id",
    "doc_id",
    "version",
    "deleted_at",
    "ordinal",
    "start_char",
    "end_char",
    "text",
    "title",
    "source",
    "meta",
    "terms",
    "vector",
]
_DOC_FIELDS = [
    "doc_id",
    "version",
    "deleted_at",
    "title",
    "source",
    "origin",
    "content_hash",
    "part",
    "text",
    "metadata",
    "n_chunks",
    "placeholder",
]
_FIRST = " and part == 0"  # one row per document
_DOC_OF_MAX = 200_000  # chunk ids whose doc id a snapshot keeps

T = TypeVar("T")


def literal(value: Scalar) -> str:
    """`value` as a Milvus expression literal (strings JSON-quoted, which Milvus unescapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def in_list(field: str, values: Sequence[Scalar]) -> str:
    """`field in [...]`."""
    return f"{field} in [{', '.join(literal(v) for v in values)}]"


def visible(version: int) -> str:
    """Rows live in `version`."""
    return f"version <= {version} and (deleted_at == 0 or deleted_at > {version})"


def _data(row: dict[str, Any]) -> dict[str, Any]:
    """A row read back, without its Milvus key (a copy gets a new one)."""
    return {k: v for k, v in row.items() if k != "row"}


def is_lite(uri: str) -> bool:
    """Whether `uri` names a Milvus Lite file rather than a server."""
    return not uri.startswith(("http://", "https://", "tcp://", "unix:"))


class _Clients:
    """One MilvusClient per (uri, token) in this process, shared and counted: pymilvus names a client's
    connection after its address and user, so closing one of two such clients would close both."""

    _open: ClassVar[dict[tuple[str, str | None], tuple[MilvusClient, int]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def acquire(cls, uri: str, token: str | None) -> MilvusClient:
        """The shared client for (uri, token), connected on first use (a Lite file starts its server here)."""
        with cls._lock:
            client, users = cls._open.get((uri, token)) or (None, 0)
            if client is None:
                client = _connect(uri, token)
            cls._open[(uri, token)] = (client, users + 1)
            return client

    @classmethod
    def release(cls, uri: str, token: str | None) -> None:
        """Drop one user; the last one closes the client, and the last on a Lite file stops its server (freeing
        the file). Under the lock, so that no client connects to a server being stopped."""
        with cls._lock:
            client, users = cls._open[(uri, token)]
            if users > 1:
                cls._open[(uri, token)] = (client, users - 1)
                return
            del cls._open[(uri, token)]
            client.close()
            if is_lite(uri) and all(other != uri for other, _ in cls._open):
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(uri)


def _connect(uri: str, token: str | None) -> MilvusClient:
    try:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException
    except ImportError as exc:
        raise ConfigError(f"the milvus backend needs the milvus extra: pip install 'seekr[milvus]' ({exc})") from exc
    if is_lite(uri) and not uri.endswith(".db"):
        raise ConfigError(f"SEEKR_MILVUS_URI {uri!r}: a Milvus Lite file must end in .db (or give http(s)://host:port)")
    # milvus-lite 2.5 imports pkg_resources (kept by the pinned setuptools<81): nothing for a user to do.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    if is_lite(uri):
        # Lite has no server timestamps for iterators; pymilvus warns on every scan and falls back correctly.
        logging.getLogger("pymilvus.orm.iterator").setLevel(logging.ERROR)
    try:
        return MilvusClient(uri=uri, token=token or "")
    except MilvusException as exc:
        raise BackendError(f"cannot connect to Milvus at {uri}: {exc}. Check SEEKR_MILVUS_URI and the server.") from exc


class _Connection:
    """One backend's use of the shared client: every call's failure (its timeout included) becomes a
    BackendError."""

    def __init__(self, uri: str, token: str | None, timeout: float) -> None:
        self.client = _Clients.acquire(uri, token)
        self.uri = uri
        self.token = token
        self.timeout = timeout

    def close(self) -> None:
        """Give the shared client back."""
        _Clients.release(self.uri, self.token)

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)`, one client call; its failure becomes a BackendError that says what failed."""
        import grpc
        from pymilvus.exceptions import MilvusException

        try:
            return fn(*args, **kwargs)
        except MilvusException as exc:
            raise BackendError(f"Milvus at {self.uri} failed to {what}: {exc.message}") from exc
        except grpc.RpcError as exc:  # pymilvus passes some gRPC errors through: a call past its timeout's, say
            code = exc.code()
            late = code == grpc.StatusCode.DEADLINE_EXCEEDED  # only `timed` calls have a deadline
            hint = f" after at most {self.timeout:g} s (SEEKR_MILVUS_TIMEOUT); is the server overloaded or hung?"
            raise BackendError(f"Milvus at {self.uri} failed to {what}: {code.name}{hint if late else ''}") from exc

    def timed(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`call` with this connection's timeout: for the calls a search or a write makes, which take
        milliseconds, not for loading or creating collections, which may take minutes on a server."""
        return self.call(what, fn, *args, timeout=self.timeout, **kwargs)

    def query(self, collection: str, expr: str, fields: list[str], limit: int | None = None) -> list[dict[str, Any]]:
        """Rows passing `expr` (at most LIMIT: use `scan` for more)."""
        kwargs: dict[str, Any] = {"limit": limit} if limit is not None else {}
        rows = self.timed(
            f"query {collection}", self.client.query, collection, filter=expr, output_fields=fields, **kwargs
        )
        return list(rows)

    def scan(self, collection: str, expr: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row passing `expr`, page by page."""
        it = self.timed(
            f"scan {collection}",
            self.client.query_iterator,
            collection,
            batch_size=4_096,
            filter=expr,
            output_fields=fields,
        )
        try:
            while rows := self.call(f"scan {collection}", it.next):
                yield from rows
        finally:
            it.close()

    def count(self, collection: str, expr: str) -> int:
        """How many rows pass `expr`."""
        rows = self.query(collection, expr, ["count(*)"])
        return int(rows[0]["count(*)"])

    def search(
        self, collection: str, data: list[Any], field: str, limit: int, expr: str, params: dict[str, Any]
    ) -> list[list[tuple[int, float, str]]]:
        """Per query, (chunk id, score, doc id) of the best `limit` rows passing `expr`."""
        found = self.timed(
            f"search {collection}",
            self.client.search,
            collection,
            data=data,
            anns_field=field,
            limit=limit,
            filter=expr,
            search_params=params,
            output_fields=["chunk_id", "doc_id"],
        )
        out = []
        for hits in found:
            best: dict[int, tuple[int, float, str]] = {}  # a row being marked deleted has two copies for a moment
            for hit in hits:
                cid = int(hit["entity"]["chunk_id"])
                best.setdefault(cid, (cid, float(hit["distance"]), hit["entity"]["doc_id"]))
            out.append(list(best.values()))
        return out

    def insert(self, collection: str, rows: Sequence[dict[str, Any]]) -> None:
        """Insert `rows` in batches."""
        for part in slices(rows, _WRITE_BATCH):
            self.timed(f"insert into {collection}", self.client.insert, collection, list(part))

    def mark(self, collection: str, rows: Sequence[dict[str, Any]], deleted_at: int) -> None:
        """Replace `rows` (read with their `row` key) by copies with `deleted_at`: copies first, so a reader
        never misses them."""
        self.insert(collection, [{**_data(r), "deleted_at": deleted_at} for r in rows])
        for part in slices([int(r["row"]) for r in rows], _IN_BATCH):
            self.delete(collection, in_list("row", part))

    def delete(self, collection: str, expr: str) -> None:
        """Remove the rows passing `expr`."""
        self.timed(f"delete from {collection}", self.client.delete, collection, filter=expr)


@dataclass(frozen=True)
class _Names:
    """The collections of one generation."""

    prefix: str
    generation: int

    @property
    def chunks(self) -> str:
        return f"{self.prefix}_g{self.generation}_chunks"

    @property
    def docs(self) -> str:
        return f"{self.prefix}_g{self.generation}_docs"


@dataclass(frozen=True)
class MilvusFilter:
    """A filter as a Milvus expression (visibility included), and how many live chunks pass it."""

    expr: str
    size: int


def _as_filter(restriction: Restriction | None) -> MilvusFilter | None:
    if restriction is not None and not isinstance(restriction, MilvusFilter):
        raise TypeError(f"the milvus engine cannot use a restriction of another engine ({type(restriction).__name__})")
    return restriction


class MilvusVectors:
    """Dense search in one version."""

    def __init__(self, snapshot: MilvusSnapshot) -> None:
        self._s = snapshot

    @property
    def ntotal(self) -> int:
        """Live chunks."""
        return self._s.manifest.counts.chunks

    def search(
        self, query: np.ndarray, n: int, restriction: Restriction | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top `n` (scores, ids) by inner product, ties by id, padded with -inf / -1."""
        allowed = _as_filter(restriction)
        expr = allowed.expr if allowed is not None else self._s.live
        m = len(query)
        scores = np.full((m, n), -np.inf, dtype=np.float32)
        ids = np.full((m, n), -1, dtype=np.int64)
        if n <= 0 or (allowed is not None and allowed.size == 0):
            return scores, ids
        params: dict[str, Any] = {"metric_type": "IP"}
        if not is_lite(self._s.conn.uri):
            params["params"] = {"ef": max(HNSW_EF_SEARCH, min(n, LIMIT))}
        data = np.asarray(query, dtype=np.float32).tolist()
        found = self._s.conn.search(self._s.names.chunks, data, "vector", min(n, LIMIT), expr, params)
        for row, hits in enumerate(found):
            self._s.remember(hits)
            hits.sort(key=lambda h: (-h[1], h[0]))
            for col, (cid, score, _) in enumerate(hits[:n]):
                ids[row, col], scores[row, col] = cid, score
        return scores, ids

    def reconstruct_batch(self, chunk_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The stored vectors of live chunks `chunk_ids`, in that order."""
        wanted = [int(c) for c in chunk_ids]
        rows = self._s.rows_by_id(wanted, ["chunk_id", "vector"])
        missing = [c for c in wanted if c not in rows]
        if missing:
            raise KeyError(f"no live chunk with id {missing[0]}")
        dim = self._s.manifest.model.dimension
        return np.asarray([rows[c]["vector"] for c in wanted], dtype=np.float32).reshape(len(wanted), dim)


class MilvusBM25:
    """BM25 scores of one query, computed by Milvus over the project's stems.

    Scores already fetched are kept (one query asks for the same chunks' scores to rank and to explain), and
    once an unfiltered top-n came back short every matching chunk is known, so nothing more is asked.
    """

    def __init__(self, snapshot: MilvusSnapshot, terms: list[str]) -> None:
        self._s = snapshot
        self._text = " ".join(terms)
        self._known: dict[int, float] = {}
        self._complete = False

    def _search(self, n: int, expr: str) -> list[tuple[int, float]]:
        params = {"metric_type": "BM25"}
        (hits,) = self._s.conn.search(self._s.names.chunks, [self._text], "sparse", n, expr, params)
        self._s.remember(hits)
        # Milvus's BM25 is the project's (Lucene's) times (k1 + 1): the same ranking, and the same scores.
        found = [(cid, score / (K1 + 1)) for cid, score, _ in hits if score > 0]
        self._known.update(found)
        return found

    def top(self, n: int, restriction: Restriction | None = None) -> list[tuple[int, float]]:
        """The best `n` (chunk_id, score), best first, ties by id."""
        allowed = _as_filter(restriction)
        if n <= 0 or (allowed is not None and allowed.size == 0):
            return []
        limit = min(n, LIMIT)
        found = self._search(limit, allowed.expr if allowed is not None else self._s.live)
        self._complete |= allowed is None and len(found) < limit
        return sorted(found, key=lambda h: (-h[1], h[0]))[:n]

    def scores_of(self, chunk_ids: Sequence[int]) -> dict[int, float]:
        """The score of each of `chunk_ids` (0.0 where no query term occurs)."""
        out = {int(c): self._known.get(int(c), 0.0) for c in chunk_ids}
        if not self._complete:
            missing = [c for c in out if c not in self._known]
            for part in slices(missing, _IN_BATCH):
                self._search(len(part), f"{self._s.live} and {in_list('chunk_id', part)}")
                self._known.update((c, self._known.get(c, 0.0)) for c in part)  # no query term: 0, asked once
            out.update((c, self._known[c]) for c in missing)
        return out


class MilvusLexical:
    """BM25 in one version."""

    def __init__(self, snapshot: MilvusSnapshot) -> None:
        self._s = snapshot

    @staticmethod
    def stems(text: str) -> list[tuple[int, int, str]]:
        """(start, end, stem) of each indexed term (the same analyzer as the local engine's)."""
        return _ANALYZER.stems(text)

    @staticmethod
    def terms(query: str) -> list[str]:
        """The terms `query` is matched on (the same analyzer as the local engine's)."""
        return _ANALYZER.terms(query)

    def query(self, query: str) -> MilvusBM25 | None:
        """The query's scores; None when it has no indexed term."""
        terms = self.terms(query)
        return MilvusBM25(self._s, terms) if terms and self._s.manifest.counts.chunks else None


def _stored(rows: Iterable[dict[str, Any]]) -> list[StoredDocument]:
    """Documents from their part rows, ordered by id."""
    parts: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:  # a part being marked deleted has two copies for a moment
        parts.setdefault(row["doc_id"], {})[int(row["part"])] = row
    out = []
    for doc_id in sorted(parts):
        doc = [parts[doc_id][p] for p in sorted(parts[doc_id])]
        first = doc[0]
        out.append(
            StoredDocument(
                doc_id=doc_id,
                title=first["title"],
                source=first["source"],
                origin=first["origin"],
                content_hash=first["content_hash"],
                text="".join(r["text"] for r in doc),
                metadata=dict(first["metadata"]),
                n_chunks=int(first["n_chunks"]),
            )
        )
    return out


class MilvusStore:
    """Documents and chunks of one version."""

    def __init__(self, snapshot: MilvusSnapshot) -> None:
        self._s = snapshot

    def counts(self) -> tuple[int, int]:
        """(documents, chunks)."""
        c = self._s.manifest.counts
        return c.documents, c.chunks

    def chunk_ids(self) -> list[int]:
        """Every live chunk id, ascending."""
        return sorted({int(r["chunk_id"]) for r in self._s.conn.scan(self._s.names.chunks, self._s.live, ["chunk_id"])})

    def chunks(self, ids: Iterable[int]) -> dict[int, ChunkRecord]:
        """The live chunks with these ids."""
        fields = ["chunk_id", "doc_id", "ordinal", "start_char", "end_char", "text", "title", "source"]
        rows = self._s.rows_by_id([int(i) for i in ids], fields)
        return {
            cid: ChunkRecord(
                cid, r["doc_id"], r["ordinal"], r["start_char"], r["end_char"], r["text"], r["title"], r["source"]
            )
            for cid, r in rows.items()
        }

    def doc_ids_of(self, chunk_ids: Sequence[int]) -> dict[int, str]:
        """chunk_id -> doc_id (from this version's searches where they told it already)."""
        known = self._s.doc_of
        missing = [c for c in chunk_ids if c not in known]
        if missing:
            self._s.remember(
                (cid, 0.0, r["doc_id"]) for cid, r in self._s.rows_by_id(missing, ["chunk_id", "doc_id"]).items()
            )
        return {c: known[c] for c in chunk_ids if c in known}

    def _where(self, where: Filter) -> str:
        parts = [self._s.live]
        prefix = where.source_prefix
        if prefix is not None and prefix:
            head = _WILDCARDS.split(prefix, maxsplit=1)[0]
            if head == prefix:
                parts.append(f"source like {literal(prefix + '%')}")
            else:
                # LIKE cannot escape % and _: narrow by the part before the first, then compare exactly.
                expr = f"{self._s.live}{_FIRST} and source like {literal(head + '%')}"
                rows = self._s.conn.scan(self._s.names.docs, expr, ["doc_id", "source"])
                parts.append(in_list("doc_id", sorted(r["doc_id"] for r in rows if r["source"].startswith(prefix))))
        if where.doc_ids is not None:
            parts.append(in_list("doc_id", list(where.doc_ids)))
        for key, value in where.metadata:
            parts.append(f"meta[{literal(key)}] == {literal(value)}")
        return " and ".join(parts)

    def restrict(self, where: Filter) -> MilvusFilter:
        """`where` as an expression, with the count of live chunks passing it."""
        expr = self._where(where)
        return MilvusFilter(expr, self._s.conn.count(self._s.names.chunks, expr))

    def filtered_chunk_ids(self, where: Filter) -> list[int]:
        """Ids of the live chunks that pass `where`, ascending."""
        rows = self._s.conn.scan(self._s.names.chunks, self._where(where), ["chunk_id"])
        return sorted({int(r["chunk_id"]) for r in rows})

    def _documents(self, expr: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
        return list(self._s.conn.scan(self._s.names.docs, f"{self._s.live}{expr}", fields or _DOC_FIELDS))

    def documents(self, origin: str | None = None) -> list[StoredDocument]:
        """Every live document (optionally of one origin), ordered by id."""
        return _stored(self._documents(f" and origin == {literal(origin)}" if origin else ""))

    def document(self, doc_id: str) -> StoredDocument | None:
        """One live document, or None."""
        # One query: a document has at most max_document_chars / 16,000 parts, far below a query's limit.
        expr = f"{self._s.live} and doc_id == {literal(doc_id)}"
        found = _stored(self._s.conn.query(self._s.names.docs, expr, _DOC_FIELDS, limit=LIMIT))
        return found[0] if found else None

    def documents_of(self, doc_ids: Sequence[str]) -> dict[str, StoredDocument]:
        """doc_id -> live document, for those among `doc_ids`."""
        out: dict[str, StoredDocument] = {}
        for part in slices(list(dict.fromkeys(doc_ids)), _IN_BATCH):
            out.update((doc.doc_id, doc) for doc in _stored(self._documents(f" and {in_list('doc_id', part)}")))
        return out

    def page(self, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """(total, one page of {doc_id, title, source, origin, chunks}) ordered by id.

        Milvus queries have no order: the version's ids are read and sorted once, then each page is sliced.
        """
        total = self._s.manifest.counts.documents
        if offset >= total:
            return total, []
        ids = self._sorted_ids[offset : offset + limit]
        fields = ["doc_id", "title", "source", "origin", "n_chunks"]
        rows = (
            {r["doc_id"]: r for r in self._documents(f"{_FIRST} and {in_list('doc_id', ids)}", fields)} if ids else {}
        )
        return total, [
            {"doc_id": d, "title": r["title"], "source": r["source"], "origin": r["origin"], "chunks": r["n_chunks"]}
            for d in ids
            if (r := rows.get(d)) is not None
        ]

    @cached_property
    def _sorted_ids(self) -> list[str]:
        """Every live document id, in order: read once per version (a version never changes)."""
        return sorted({r["doc_id"] for r in self._documents(_FIRST, ["doc_id"])})

    def origins(self) -> dict[str, str]:
        """doc_id -> origin of every live document."""
        return {r["doc_id"]: r["origin"] for r in self._documents(_FIRST, ["doc_id", "origin"])}

    def chunk_ids_of(self, doc_ids: Sequence[str]) -> dict[str, list[int]]:
        """doc_id -> its live chunk ids (ascending), for live documents among `doc_ids`."""
        out: dict[str, set[int]] = {}
        for part in slices(list(dict.fromkeys(doc_ids)), _IN_BATCH):
            expr = f"{self._s.live} and {in_list('doc_id', part)}"
            for r in self._s.conn.scan(self._s.names.chunks, expr, ["doc_id", "chunk_id"]):
                out.setdefault(r["doc_id"], set()).add(int(r["chunk_id"]))
        return {d: sorted(ids) for d, ids in out.items()}

    def hashes(self, doc_ids: Sequence[str] | None = None) -> dict[str, str]:
        """doc_id -> content hash of live documents (of `doc_ids`, or all)."""
        fields = ["doc_id", "content_hash"]
        if doc_ids is None:
            return {r["doc_id"]: r["content_hash"] for r in self._documents(_FIRST, fields)}
        out: dict[str, str] = {}
        for part in slices(list(dict.fromkeys(doc_ids)), _IN_BATCH):
            found = self._documents(f"{_FIRST} and {in_list('doc_id', part)}", fields)
            out.update((r["doc_id"], r["content_hash"]) for r in found)
        return out


@dataclass(frozen=True, eq=False)
class MilvusSnapshot:
    """One committed version of a Milvus index."""

    conn: _Connection
    names: _Names
    manifest: Manifest
    # chunk id -> doc id, as this version's searches returned them: fixed for a version, so kept (bounded).
    doc_of: dict[int, str] = field(default_factory=dict, init=False, repr=False)

    def remember(self, hits: Iterable[tuple[int, float, str]]) -> None:
        """Keep the doc ids searches returned."""
        if len(self.doc_of) > _DOC_OF_MAX:
            self.doc_of.clear()
        self.doc_of.update((cid, doc_id) for cid, _, doc_id in hits)

    @property
    def version(self) -> int:
        """The version number."""
        return self.manifest.version

    @property
    def live(self) -> str:
        """The expression selecting this version's rows."""
        return visible(self.version)

    @cached_property
    def store(self) -> MilvusStore:
        """Documents and chunks."""
        return MilvusStore(self)

    @cached_property
    def vectors(self) -> MilvusVectors:
        """Dense search."""
        return MilvusVectors(self)

    @cached_property
    def lexical(self) -> MilvusLexical:
        """BM25 search."""
        return MilvusLexical(self)

    def rows_by_id(self, chunk_ids: Sequence[int], fields: list[str]) -> dict[int, dict[str, Any]]:
        """chunk_id -> row (with `fields`) of the live chunks among `chunk_ids`."""
        out: dict[int, dict[str, Any]] = {}
        for part in slices(list(dict.fromkeys(chunk_ids)), _IN_BATCH):
            expr = f"{self.live} and {in_list('chunk_id', part)}"
            out.update((int(r["chunk_id"]), r) for r in self.conn.query(self.names.chunks, expr, fields))
        return out

    def deep_check(self) -> None:
        """IndexCorruptError unless the rows agree with the manifest."""
        docs = self.store.documents()
        chunks = list(self.conn.scan(self.names.chunks, self.live, ["chunk_id", "doc_id"]))
        counts = self.manifest.counts
        problem = None
        if len({d.doc_id for d in docs}) != len(docs):
            problem = "a document has two live versions"
        elif (len(docs), len(chunks)) != (counts.documents, counts.chunks):
            problem = (
                f"{len(docs)} documents / {len(chunks)} chunks live, manifest says {counts.documents} / {counts.chunks}"
            )
        elif sum(d.n_chunks for d in docs) != len(chunks):
            problem = "the documents' chunk counts differ from the live chunks"
        elif not {r["doc_id"] for r in chunks} <= {d.doc_id for d in docs}:
            problem = "live chunks of documents that are not live"
        if problem:
            raise IndexCorruptError(
                f"Milvus index {self.names.prefix} version {self.version} is inconsistent: {problem}"
            )


class MilvusTransaction:
    """One write to a Milvus index: rows of version N, made visible by the manifest row (see the module doc)."""

    def __init__(
        self, backend: MilvusBackend, base: MilvusSnapshot | None, model: ModelInfo, chunking: ChunkingInfo
    ) -> None:
        self._b = backend
        self._conn = backend.conn
        committed = backend.read_meta()
        self.number = (committed[1].version if committed else 0) + 1
        self._base = base
        self._model = model
        self._chunking = chunking
        if base is None:  # a new generation, switched to at commit; the old one is dropped afterwards
            self._names = _Names(backend.prefix, (committed[0] if committed else 0) + 1)
            backend.drop_generation(self._names.generation)  # leftovers of a rebuild that never committed
            backend.create_generation(self._names, model.dimension)
            self._documents, self._chunks, self._next_id = 0, 0, 1
        else:
            self._names = base.names
            backend.remove_uncommitted(base.names, base.version)
            counts = base.manifest.counts
            self._documents, self._chunks, self._next_id = counts.documents, counts.chunks, base.manifest.next_chunk_id
        self._deleted: set[str] = set()

    def delete(self, doc_ids: Sequence[str]) -> set[str]:
        """Mark live documents deleted (their rows are re-written with deleted_at = this version)."""
        if self._base is None:
            return set()
        wanted = [d for d in dict.fromkeys(doc_ids) if d not in self._deleted]
        found: set[str] = set()
        live = visible(self._base.version)
        for part in slices(wanted, _IN_BATCH):
            where = f"{live} and {in_list('doc_id', part)}"
            docs = list(self._conn.scan(self._names.docs, where, ["row", *_DOC_FIELDS]))
            if not docs:
                continue
            chunks = list(self._conn.scan(self._names.chunks, where, ["row", *_CHUNK_FIELDS]))
            self._conn.mark(self._names.chunks, chunks, self.number)
            self._conn.mark(self._names.docs, docs, self.number)
            gone = {r["doc_id"] for r in docs}
            found |= gone
            self._documents -= len(gone)
            self._chunks -= len({r["chunk_id"] for r in chunks})
        self._deleted |= found
        return found

    def add(self, updates: Sequence[DocumentUpdate]) -> None:
        """Insert or replace documents."""
        self.add_stream([updates], sum(len(u.chunks) for u in updates))

    def add_stream(self, batches: Iterable[Sequence[DocumentUpdate]], expected_chunks: int) -> None:
        """Insert or replace documents, one batch at a time."""
        del expected_chunks  # rows are sent batch by batch; nothing to reserve
        for batch in batches:
            self.delete([u.document.doc_id for u in batch])
            docs: list[dict[str, Any]] = []
            chunks: list[dict[str, Any]] = []
            for u in batch:
                doc = u.document
                parts = [doc.text[i : i + _TEXT_PART] for i in range(0, len(doc.text), _TEXT_PART)] or [""]
                docs.extend(
                    {
                        "doc_id": doc.doc_id,
                        "part": part,
                        "version": self.number,
                        "deleted_at": 0,
                        "title": doc.title,
                        "source": doc.source,
                        "origin": u.origin,
                        "content_hash": doc.content_hash,
                        "text": text,
                        "metadata": doc.metadata,
                        "n_chunks": len(u.chunks),
                        "placeholder": _PLACEHOLDER,
                    }
                    for part, text in enumerate(parts)
                )
                for chunk, vector in zip(u.chunks, u.vectors, strict=True):
                    matched = matched_text(doc.title, chunk.text, chunk.start, self._chunking.titles)
                    terms = " ".join(stem for _, _, stem in _ANALYZER.stems(matched))
                    for name, value in (("text", chunk.text), ("terms", terms), ("title", doc.title)):
                        if len(value.encode()) > _VARCHAR:
                            raise ConfigError(
                                f"document {doc.doc_id!r}: a chunk's {name} is over Milvus's {_VARCHAR} bytes"
                            )
                    chunks.append(
                        {
                            "chunk_id": self._next_id,
                            "doc_id": doc.doc_id,
                            "version": self.number,
                            "deleted_at": 0,
                            "ordinal": chunk.ordinal,
                            "start_char": chunk.start,
                            "end_char": chunk.end,
                            "text": chunk.text,
                            "title": doc.title,
                            "source": doc.source,
                            "meta": doc.metadata,
                            "terms": terms,
                            "vector": np.asarray(vector, dtype=np.float32).tolist(),
                        }
                    )
                    self._next_id += 1
            self._conn.insert(self._names.chunks, chunks)
            self._conn.insert(self._names.docs, docs)
            self._documents += len(batch)
            self._chunks += len(chunks)

    def commit(self, build_seconds: float | None = None) -> MilvusSnapshot:
        """Replace the manifest row: the new version is visible to every search from here on."""
        manifest = Manifest.create(
            version=self.number,
            model=self._model,
            chunking=self._chunking,
            counts=Counts(documents=self._documents, chunks=self._chunks),
            vectors=self._b.vector_info,
            segments=(),
            next_chunk_id=self._next_id,
            build_seconds=build_seconds,
        )
        self._b.write_meta(self._names.generation, manifest)
        self._b.purge(self._names, self.number, keep_previous=self._base is None)
        return MilvusSnapshot(self._conn, self._names, manifest)


class MilvusBackend:
    """An index kept in Milvus: collections named after `prefix` at `uri` (a server, or a Lite `.db` file)."""

    _locks: ClassVar[dict[tuple[str, str], threading.Lock]] = {}
    _locks_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        uri: str,
        prefix: str,
        *,
        token: str | None = None,
        timeout: float = MILVUS_TIMEOUT_SECONDS,
        keep_seconds: float = KEEP_SECONDS,
    ) -> None:
        self.uri = uri
        self.prefix = prefix
        self.keep_seconds = keep_seconds
        self.timeout = timeout
        self._token = token
        self._conn: _Connection | None = None
        self._conn_lock = threading.Lock()
        with self._locks_guard:
            self._lock = self._locks.setdefault((uri, prefix), threading.Lock())

    @property
    def name(self) -> BackendName:
        """Which engine this is."""
        return BackendName.milvus

    @property
    def location(self) -> str:
        """Where the index is."""
        return f"milvus {self.uri} collection {self.prefix}"

    @property
    def conn(self) -> _Connection:
        """The connection, opened on first use (a Lite file starts its server here)."""
        with self._conn_lock:
            if self._conn is None:
                self._conn = _Connection(self.uri, self._token, self.timeout)
            return self._conn

    @property
    def meta_collection(self) -> str:
        """The one-row collection holding the committed manifest."""
        return f"{self.prefix}_meta"

    @property
    def vector_info(self) -> VectorInfo:
        """How vectors are searched: exactly in Milvus Lite, by an HNSW graph on a server."""
        if is_lite(self.uri):
            return VectorInfo(ann_min_chunks=2**62, hnsw_m=0, hnsw_ef_construction=0, hnsw_ef_search=0)
        return VectorInfo(
            ann_min_chunks=0, hnsw_m=HNSW_M, hnsw_ef_construction=HNSW_EF_CONSTRUCTION, hnsw_ef_search=HNSW_EF_SEARCH
        )

    def _has(self, collection: str) -> bool:
        return bool(self.conn.timed("list collections", self.conn.client.has_collection, collection))

    def current_version(self) -> int | None:
        """The committed version's number (None: no index): the highest manifest row's, read without its
        manifest (replicas ask this every reload interval)."""
        if not self._has(self.meta_collection):
            return None
        versions = self.conn.query(self.meta_collection, "version >= 0", ["version"])
        return max((int(r["version"]) for r in versions), default=None)

    def read_meta(self) -> tuple[int, Manifest] | None:
        """(generation, manifest) of the committed version, or None when there is none."""
        current = self.current_version()
        if current is None:
            return None
        rows = self.conn.query(self.meta_collection, f"version == {current}", ["value"])
        if not rows:  # purged between the two queries by a newer commit
            return self.read_meta()
        try:
            raw = json.loads(rows[0]["value"])
            if raw["manifest"].get("format_version") != FORMAT_VERSION:
                raise IndexCorruptError(
                    f"{self.location} has format version {raw['manifest'].get('format_version')}; this program "
                    f"reads {FORMAT_VERSION}. Rebuild it with `python -m indexer build SRC --backend milvus`."
                )
            return int(raw["generation"]), Manifest.model_validate(raw["manifest"])
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"{self.location} has an unreadable manifest row ({exc}); rebuild it") from exc

    def write_meta(self, generation: int, manifest: Manifest) -> None:
        """Commit `manifest`: insert its row (readers take the highest version; `purge` drops old ones)."""
        from pymilvus import DataType

        if not self._has(self.meta_collection):
            schema = self.conn.client.create_schema(auto_id=True)
            schema.add_field("row", DataType.INT64, is_primary=True, auto_id=True)
            schema.add_field("version", DataType.INT64)
            schema.add_field("committed_at", DataType.INT64)  # Unix milliseconds
            schema.add_field("value", DataType.VARCHAR, max_length=_VARCHAR)
            schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=len(_PLACEHOLDER))
            self._create(self.meta_collection, schema, [])
        value = json.dumps({"generation": generation, "manifest": json.loads(manifest.model_dump_json())})
        row = {"version": manifest.version, "committed_at": int(time.time() * 1000), "value": value}
        self.conn.insert(self.meta_collection, [{**row, "placeholder": _PLACEHOLDER}])

    def _create(self, name: str, schema: Any, extra: list[tuple[str, str, str, dict[str, Any]]]) -> None:
        index = self.conn.client.prepare_index_params()
        vector = "vector" if any(f.name == "vector" for f in schema.fields) else "placeholder"
        if vector == "vector" and not is_lite(self.uri):
            index.add_index(
                vector,
                index_type="HNSW",
                metric_type="IP",
                params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION},
            )
        else:
            index.add_index(vector, index_type="FLAT", metric_type="IP")
        for column, kind, metric, params in extra:
            index.add_index(column, index_type=kind, metric_type=metric, params=params)
        self.conn.call(
            f"create {name}",
            self.conn.client.create_collection,
            name,
            schema=schema,
            index_params=index,
            consistency_level="Strong",
        )

    def create_generation(self, names: _Names, dimension: int) -> None:
        """Create the chunk and document collections of a new generation."""
        from pymilvus import DataType, Function, FunctionType

        client = self.conn.client
        text = {"max_length": _VARCHAR}
        chunks = client.create_schema(auto_id=True)
        chunks.add_field("row", DataType.INT64, is_primary=True, auto_id=True)
        chunks.add_field("chunk_id", DataType.INT64)
        for column in ("doc_id", "text", "title", "source"):
            chunks.add_field(column, DataType.VARCHAR, **text)
        for column in ("version", "deleted_at", "ordinal", "start_char", "end_char"):
            chunks.add_field(column, DataType.INT64)
        chunks.add_field("meta", DataType.JSON)
        # The project's stems, split on spaces: Milvus's BM25 then counts exactly the terms the local engine does.
        chunks.add_field(
            "terms", DataType.VARCHAR, enable_analyzer=True, analyzer_params={"tokenizer": "whitespace"}, **text
        )
        chunks.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        chunks.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        chunks.add_function(
            Function(
                name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"], output_field_names=["sparse"]
            )
        )
        bm25 = ("sparse", "SPARSE_INVERTED_INDEX", "BM25", {"bm25_k1": K1, "bm25_b": 0.75})
        self._create(names.chunks, chunks, [bm25])
        docs = client.create_schema(auto_id=True)
        docs.add_field("row", DataType.INT64, is_primary=True, auto_id=True)
        for column in ("doc_id", "title", "source", "origin", "content_hash", "text"):
            docs.add_field(column, DataType.VARCHAR, **text)
        for column in ("part", "version", "deleted_at", "n_chunks"):
            docs.add_field(column, DataType.INT64)
        docs.add_field("metadata", DataType.JSON)
        docs.add_field("placeholder", DataType.FLOAT_VECTOR, dim=len(_PLACEHOLDER))
        self._create(names.docs, docs, [])

    def _generations(self) -> list[int]:
        names = self.conn.timed("list collections", self.conn.client.list_collections)
        pattern = re.compile(rf"^{re.escape(self.prefix)}_g(\d+)_(chunks|docs)$")
        return sorted({int(m.group(1)) for n in names if (m := pattern.match(n))})

    def drop_generation(self, generation: int) -> None:
        """Drop a generation's collections, if they exist."""
        names = _Names(self.prefix, generation)
        for name in (names.chunks, names.docs):
            if self._has(name):
                self.conn.call(f"drop {name}", self.conn.client.drop_collection, name)

    def remove_uncommitted(self, names: _Names, version: int) -> int:
        """Undo writes numbered past the committed `version` (a writer that died); how many rows they touched."""
        touched = 0
        keys = ((names.chunks, ["chunk_id"]), (names.docs, ["doc_id", "version", "part"]))
        for collection, identity in keys:
            added = self.conn.count(collection, f"version > {version}")
            if added:
                self.conn.delete(collection, f"version > {version}")
            fields = ["row", *(_CHUNK_FIELDS if collection == names.chunks else _DOC_FIELDS)]
            marked = list(self.conn.scan(collection, f"deleted_at > {version}", fields))
            if marked:
                # The writer may have died between inserting a marked copy and deleting the original.
                kept: set[tuple[Any, ...]] = set()
                for part in slices(sorted({r[identity[0]] for r in marked}), _IN_BATCH):
                    originals = self.conn.scan(
                        collection, f"deleted_at == 0 and {in_list(identity[0], part)}", identity
                    )
                    kept.update(tuple(r[f] for f in identity) for r in originals)
                lost = {tuple(r[f] for f in identity): r for r in marked if tuple(r[f] for f in identity) not in kept}
                self.conn.insert(collection, [{**_data(r), "deleted_at": 0} for r in lost.values()])
                for part in slices([int(r["row"]) for r in marked], _IN_BATCH):
                    self.conn.delete(collection, in_list("row", part))
            touched += added + len(marked)
        return touched

    def purge(self, names: _Names, version: int, *, keep_previous: bool) -> None:
        """Remove rows no kept version can see (see KEEP_VERSIONS), the manifests of versions no longer kept,
        and older generations (the previous one survives the commit that replaced it until the next)."""
        young = int((time.time() - self.keep_seconds) * 1000)
        rows = self.conn.query(self.meta_collection, "version >= 0", ["version", "committed_at"])
        kept = [int(r["version"]) for r in rows if r["version"] > version - KEEP_VERSIONS or r["committed_at"] >= young]
        oldest = min(kept, default=version)
        # A reader of version `oldest` sees only rows deleted after it: the rest no kept version can see.
        for collection in (names.chunks, names.docs):
            self.conn.delete(collection, f"deleted_at > 0 and deleted_at <= {oldest}")
        self.conn.delete(self.meta_collection, f"version < {oldest}")
        for generation in self._generations():
            if generation < names.generation - (1 if keep_previous else 0):
                self.drop_generation(generation)

    def open(self, reuse: Snapshot | None = None) -> MilvusSnapshot:
        """The committed version."""
        del reuse  # nothing is held in this process: Milvus keeps it
        meta = self.read_meta()
        if meta is None:
            raise IndexNotFoundError(
                f"no index in {self.location}. Build one with `python -m indexer build SRC --backend milvus`."
            )
        generation, manifest = meta
        names = _Names(self.prefix, generation)
        for name in (names.chunks, names.docs):
            if not self._has(name):
                raise IndexCorruptError(f"{self.location}: collection {name} is missing; rebuild the index")
            self.conn.call(f"load {name}", self.conn.client.load_collection, name)
        return MilvusSnapshot(self.conn, names, manifest)

    def read_manifest(self) -> Manifest:
        """The committed manifest."""
        return self.open().manifest

    def recover(self) -> list[str]:
        """Undo what a writer that died left behind: rows of an uncommitted version, a half-built generation."""
        meta = self.read_meta()
        if meta is None:
            return []
        generation, manifest = meta
        out = []
        with self.write_lock():
            for newer in (g for g in self._generations() if g > generation):
                self.drop_generation(newer)
                out.append(f"dropped uncommitted generation {newer}")
            touched = self.remove_uncommitted(_Names(self.prefix, generation), manifest.version)
            if touched:
                out.append(f"undid {touched} rows written after version {manifest.version}")
        return out

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer per index in this process. Milvus has no locks: run one writing process per index."""
        with self._lock:
            yield

    def transaction(self, base: Snapshot | None, model: ModelInfo, chunking: ChunkingInfo) -> MilvusTransaction:
        """A write on top of `base` (None: a new generation)."""
        if base is not None and not isinstance(base, MilvusSnapshot):
            raise TypeError(f"the milvus engine cannot use a snapshot of another engine ({type(base).__name__})")
        return MilvusTransaction(self, base, model, chunking)

    def needs_merge(self, snapshot: Snapshot) -> bool:
        """Never: Milvus compacts its segments itself."""
        return False

    def merge(
        self, base: Snapshot, lock: threading.Lock | None = None, stop: threading.Event | None = None
    ) -> Snapshot:
        """Nothing to do (Milvus compacts itself): `base`."""
        return base

    def legacy_api_documents(self) -> list[StoredDocument]:
        """None: Milvus indexes have one format so far."""
        return []

    def close(self) -> None:
        """Release this backend's share of the connection."""
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
