"""Reading one committed version of a Milvus index: dense and BM25 search, documents and chunks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from indexer.analysis import K1
from indexer.errors import IndexCorruptError
from indexer.filters import matches, negation_normal_form
from indexer.manifest import Manifest
from indexer.storage.base import AnalyzedLexical, Restriction
from indexer.storage.hnsw import HNSW_EF_SEARCH
from indexer.storage.milvus.connection import IN_BATCH, LIMIT, Connection
from indexer.storage.milvus.expressions import condition_expr, in_list, literal, visible
from indexer.storage.milvus.schema import DOC_FIELDS, FIRST, KIND, OPTIONAL, PAGE, Names, chunk_fields, provenance_of
from indexer.storage.settings import is_lite
from indexer.types import All, Any_, ChunkRecord, Condition, Expr, Filter, Not, Place, StoredDocument, slices

_WILDCARDS = re.compile(r"[%_]")
_DOC_OF_MAX = 200_000  # chunk ids whose doc id a snapshot keeps


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
            for part in slices(missing, IN_BATCH):
                self._search(len(part), f"{self._s.live} and {in_list('chunk_id', part)}")
                self._known.update((c, self._known.get(c, 0.0)) for c in part)  # no query term: 0, asked once
            out.update((c, self._known[c]) for c in missing)
        return out


class MilvusLexical(AnalyzedLexical):
    """BM25 in one version."""

    def __init__(self, snapshot: MilvusSnapshot) -> None:
        super().__init__(snapshot.manifest.lexical)
        self._s = snapshot

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
        fields += [f for f in chunk_fields(self._s.conn, self._s.names.chunks) if f in OPTIONAL]
        rows = self._s.rows_by_id([int(i) for i in ids], fields)
        return {
            cid: ChunkRecord(
                cid,
                r["doc_id"],
                r["ordinal"],
                r["start_char"],
                r["end_char"],
                r["text"],
                r["title"],
                r["source"],
                **provenance_of(r),
            )
            for cid, r in rows.items()
        }

    def places_of(self, chunk_ids: Sequence[int]) -> dict[int, Place]:
        """chunk_id -> its document, page and kind."""
        fields = ["chunk_id", "doc_id"]
        fields += [f for f in chunk_fields(self._s.conn, self._s.names.chunks) if f in (PAGE, KIND)]
        rows = self._s.rows_by_id([int(i) for i in chunk_ids], fields)
        places = {cid: (r["doc_id"], provenance_of(r)) for cid, r in rows.items()}
        return {cid: Place(doc, p[PAGE], p[KIND]) for cid, (doc, p) in places.items()}

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
                expr = f"{self._s.live}{FIRST} and source like {literal(head + '%')}"
                rows = self._s.conn.scan(self._s.names.docs, expr, ["doc_id", "source"])
                parts.append(in_list("doc_id", sorted(r["doc_id"] for r in rows if r["source"].startswith(prefix))))
        if where.doc_ids is not None:
            parts.append(in_list("doc_id", list(where.doc_ids)))
        for key, value in where.metadata:
            parts.append(f"meta[{literal(key)}] == {literal(value)}")
        if where.where is not None:
            parts.append(self._expr(negation_normal_form(where.where)))
        return " and ".join(parts)

    def _expr(self, expr: Expr) -> str:
        """A filter expression (in negation normal form) as a Milvus boolean expression. Milvus Lite has no
        `not`, and no test of a JSON key's presence: the two conditions that need them (a negated comparison,
        `exists: false`) are resolved on the documents' metadata here instead, as a list of document ids."""
        if isinstance(expr, All | Any_):
            joiner = " and " if isinstance(expr, All) else " or "
            return "(" + joiner.join(self._expr(e) for e in expr.items) + ")"
        if isinstance(expr, Not) or (isinstance(expr, Condition) and expr.op == "exists" and not expr.value):
            return self._by_documents(expr)
        return condition_expr(expr)

    def _by_documents(self, expr: Expr) -> str:
        """`expr` as the list of live documents whose metadata pass it (reads every live document's metadata)."""
        rows = self._documents(FIRST, ["doc_id", "metadata"])
        passing = sorted({r["doc_id"] for r in rows if matches(expr, r["metadata"] or {})})
        return in_list("doc_id", passing) if passing else "chunk_id < 0"  # no document passes

    def restrict(self, where: Filter) -> MilvusFilter:
        """`where` as an expression, with the count of live chunks passing it."""
        expr = self._where(where)
        return MilvusFilter(expr, self._s.conn.count(self._s.names.chunks, expr))

    def filtered_chunk_ids(self, where: Filter) -> list[int]:
        """Ids of the live chunks that pass `where`, ascending."""
        rows = self._s.conn.scan(self._s.names.chunks, self._where(where), ["chunk_id"])
        return sorted({int(r["chunk_id"]) for r in rows})

    def _documents(self, expr: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
        return list(self._s.conn.scan(self._s.names.docs, f"{self._s.live}{expr}", fields or DOC_FIELDS))

    def documents(self, origin: str | None = None) -> list[StoredDocument]:
        """Every live document (optionally of one origin), ordered by id."""
        return _stored(self._documents(f" and origin == {literal(origin)}" if origin else ""))

    def document(self, doc_id: str) -> StoredDocument | None:
        """One live document, or None."""
        # One query: a document has at most max_document_chars / 16,000 parts, far below a query's limit.
        expr = f"{self._s.live} and doc_id == {literal(doc_id)}"
        found = _stored(self._s.conn.query(self._s.names.docs, expr, DOC_FIELDS, limit=LIMIT))
        return found[0] if found else None

    def documents_of(self, doc_ids: Sequence[str]) -> dict[str, StoredDocument]:
        """doc_id -> live document, for those among `doc_ids`."""
        out: dict[str, StoredDocument] = {}
        for part in slices(list(dict.fromkeys(doc_ids)), IN_BATCH):
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
        rows = {r["doc_id"]: r for r in self._documents(f"{FIRST} and {in_list('doc_id', ids)}", fields)} if ids else {}
        return total, [
            {"doc_id": d, "title": r["title"], "source": r["source"], "origin": r["origin"], "chunks": r["n_chunks"]}
            for d in ids
            if (r := rows.get(d)) is not None
        ]

    @cached_property
    def _sorted_ids(self) -> list[str]:
        """Every live document id, in order: read once per version (a version never changes)."""
        return sorted({r["doc_id"] for r in self._documents(FIRST, ["doc_id"])})

    def origins(self) -> dict[str, str]:
        """doc_id -> origin of every live document."""
        return {r["doc_id"]: r["origin"] for r in self._documents(FIRST, ["doc_id", "origin"])}

    def chunk_ids_of(self, doc_ids: Sequence[str]) -> dict[str, list[int]]:
        """doc_id -> its live chunk ids (ascending), for live documents among `doc_ids`."""
        out: dict[str, set[int]] = {}
        for part in slices(list(dict.fromkeys(doc_ids)), IN_BATCH):
            expr = f"{self._s.live} and {in_list('doc_id', part)}"
            for r in self._s.conn.scan(self._s.names.chunks, expr, ["doc_id", "chunk_id"]):
                out.setdefault(r["doc_id"], set()).add(int(r["chunk_id"]))
        return {d: sorted(ids) for d, ids in out.items()}

    def hashes(self, doc_ids: Sequence[str] | None = None) -> dict[str, str]:
        """doc_id -> content hash of live documents (of `doc_ids`, or all)."""
        fields = ["doc_id", "content_hash"]
        if doc_ids is None:
            return {r["doc_id"]: r["content_hash"] for r in self._documents(FIRST, fields)}
        out: dict[str, str] = {}
        for part in slices(list(dict.fromkeys(doc_ids)), IN_BATCH):
            found = self._documents(f"{FIRST} and {in_list('doc_id', part)}", fields)
            out.update((r["doc_id"], r["content_hash"]) for r in found)
        return out


@dataclass(frozen=True, eq=False)
class MilvusSnapshot:
    """One committed version of a Milvus index."""

    conn: Connection
    names: Names
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
        for part in slices(list(dict.fromkeys(chunk_ids)), IN_BATCH):
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
