"""The metadata store: one SQLite file per index segment, written once and then only read.

Tables: `documents` (cleaned text, title, source, metadata, content hash, origin) and `chunks` (document
id, character offsets into the cleaned text, passage text). Chunk ids are the FAISS ids and the lexical
postings' ids; the index hands them out from one counter (the manifest's `next_chunk_id`), so an id is never
reused, in any segment.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from indexer.filters import kind
from indexer.types import (
    PROVENANCE,
    All,
    Any_,
    Chunk,
    ChunkRecord,
    Condition,
    Document,
    Expr,
    Filter,
    Not,
    PassageContext,
    Place,
    Scalar,
    StoredDocument,
    matched_text,
    slices,
)

SCHEMA = """
CREATE TABLE documents (
    doc_id       TEXT PRIMARY KEY,
    title        TEXT NOT NULL,
    source       TEXT NOT NULL,
    origin       TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    text         TEXT NOT NULL,
    metadata     TEXT NOT NULL,
    n_chunks     INTEGER NOT NULL,
    indexed_at   TEXT NOT NULL
);
CREATE TABLE chunks (
    chunk_id   INTEGER PRIMARY KEY,
    doc_id     TEXT NOT NULL REFERENCES documents(doc_id),
    ordinal    INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char   INTEGER NOT NULL,
    text       TEXT NOT NULL,
    page       INTEGER,
    heading    TEXT,
    kind       TEXT,
    sheet      TEXT,
    row_first  INTEGER,
    row_last   INTEGER,
    ocr_confidence REAL,
    sentences  TEXT,
    sentence_vectors TEXT
);
CREATE INDEX chunks_by_doc ON chunks(doc_id);
"""


def filter_sql(where: Filter) -> tuple[str, list[object]]:
    """A query selecting the chunk ids that pass `where`, and its parameters."""
    clauses: list[str] = []
    params: list[object] = []
    if where.source_prefix is not None:
        clauses.append("substr(d.source, 1, length(?)) = ?")
        params += [where.source_prefix, where.source_prefix]
    if where.doc_ids is not None:
        clauses.append(f"d.doc_id IN ({','.join('?' * len(where.doc_ids))})")
        params += list(where.doc_ids)
    for key, value in where.metadata:
        # json_extract yields 1/0 for JSON booleans; the key is quoted so dots and spaces are literal.
        clauses.append("json_extract(d.metadata, ?) = ?")
        params += [_json_path(key), _sql_value(value)]
    if where.where is not None:
        clauses.append(_expr_sql(where.where, params))
    sql = "SELECT c.chunk_id FROM chunks c JOIN documents d USING (doc_id)"
    return (sql + " WHERE " + " AND ".join(clauses) if clauses else sql), params


def _json_path(key: str) -> str:
    return '$."' + key.replace('"', '""') + '"'


# SQLite's json_type names for each comparable kind of value (see `indexer.filters`).
_JSON_TYPES = {"number": "('integer','real')", "text": "('text')", "bool": "('true','false')"}
_ANY_SCALAR = "('integer','real','text','true','false')"
_SQL_OPS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _expr_sql(expr: Expr, params: list[object]) -> str:
    """`expr` as SQL over `d.metadata` (appending its parameters). Every condition is 0 or 1, never NULL (a
    missing field included), so that NOT negates it as `indexer.filters.matches` does."""
    if isinstance(expr, All | Any_):
        joiner = " AND " if isinstance(expr, All) else " OR "
        return "(" + joiner.join(_expr_sql(e, params) for e in expr.items) + ")"
    if isinstance(expr, Not):
        return f"(NOT {_expr_sql(expr.item, params)})"
    path = _json_path(expr.field)
    if expr.op == "exists":
        params.append(path)
        test = f"COALESCE(json_type(d.metadata, ?) IN {_ANY_SCALAR}, 0)"
        return test if expr.value else f"(NOT {test})"
    if expr.op in ("ne", "not_in"):
        positive = Condition(expr.field, "eq" if expr.op == "ne" else "in", expr.value)
        return f"(NOT {_expr_sql(positive, params)})"
    values = expr.value if isinstance(expr.value, tuple) else (expr.value,)
    # One test per kind of value (numbers, text, booleans), an `IN` list for `in`: the SQL stays shallow however
    # long the list (SQLite limits an expression's depth).
    by_kind: dict[str, list[Scalar]] = {}
    for value in dict.fromkeys(values):
        by_kind.setdefault(kind(value) or "text", []).append(value)
    tests = []
    for group, members in by_kind.items():
        if expr.op == "in":
            params += [path, path, *(_sql_value(v) for v in members)]
            compare = f"IN ({','.join('?' * len(members))})"
        else:
            params += [path, path, _sql_value(members[0])]
            compare = f"{_SQL_OPS[expr.op]} ?"
        tests.append(
            f"COALESCE(json_type(d.metadata, ?) IN {_JSON_TYPES[group]} AND json_extract(d.metadata, ?) {compare}, 0)"
        )
    return "(" + " OR ".join(tests) + ")" if tests else "0"


def _sql_value(value: Scalar) -> Scalar:
    """JSON booleans compare as 1/0; integers past SQLite's 64 bits as the REAL json_extract reads them as."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return float(value)
    return value


def _in_lists(values: Sequence[str], size: int = 500) -> Iterator[tuple[str, list[str]]]:
    """(`?,?,...` placeholders, values) in parts: SQLite limits the parameters of one statement."""
    for part in slices(values, size):
        yield ",".join("?" * len(part)), list(part)


class StoreWriter:
    """Writes one new segment's store file."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.executescript(SCHEMA)
        self._conn.execute("BEGIN")

    def insert_document(self, doc: Document, origin: str, chunks: Sequence[Chunk], ids: Sequence[int]) -> None:
        """Insert a document (which must not exist) and its chunks, chunk `chunks[i]` under id `ids[i]`."""
        self._conn.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc.doc_id,
                doc.title,
                doc.source,
                origin,
                doc.content_hash,
                doc.text,
                json.dumps(doc.metadata, ensure_ascii=False, sort_keys=True),
                len(chunks),
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        names = ", ".join(PROVENANCE)
        marks = ", ".join("?" * (6 + len(PROVENANCE)))
        self._conn.executemany(
            f"INSERT INTO chunks (chunk_id, doc_id, ordinal, start_char, end_char, text, {names}) VALUES ({marks})",
            [
                (cid, doc.doc_id, c.ordinal, c.start, c.end, c.text, *(getattr(c, name) for name in PROVENANCE))
                for cid, c in zip(ids, chunks, strict=True)
            ],
        )

    def copy_live(self, source: StoreReader, deleted_docs: Iterable[str]) -> None:
        """Copy every document of another store, and its chunks, except `deleted_docs` (for merges).

        Reads through the source's open connection, so it works even after the source file was pruned.
        """
        gone = set(deleted_docs)
        for table, doc_column in (("documents", 0), ("chunks", 1)):
            columns = source.columns(table)  # a segment written before chunks had pages lacks that column
            names, marks = ",".join(columns), ",".join("?" * len(columns))
            for rows in source.raw_rows(table):
                self._conn.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({marks})",
                    [r for r in rows if r[doc_column] not in gone],
                )

    def chunk_texts(self, context: PassageContext, batch: int = 20_000) -> Iterator[tuple[list[int], list[str]]]:
        """Every chunk's id and matched text (see `matched_text`) in batches, ascending by id (the postings' order)."""
        cursor = self._conn.execute(
            "SELECT c.chunk_id, d.title, c.text, c.start_char, d.source, c.heading "
            "FROM chunks c JOIN documents d USING (doc_id) ORDER BY c.chunk_id"
        )
        while rows := cursor.fetchmany(batch):
            texts = [matched_text(r[1], r[2], r[3], context, source=r[4], heading=r[5]) for r in rows]
            yield [r[0] for r in rows], texts

    def counts(self) -> tuple[int, int]:
        """(documents, chunks) as they stand in this writer's transaction."""
        docs = self._conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        chunks = self._conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return int(docs), int(chunks)

    def commit_and_close(self) -> None:
        """Commit the transaction and close the file (it is fsynced by the caller's directory commit)."""
        self._conn.execute("COMMIT")
        self._conn.close()

    def abort(self) -> None:
        """Drop everything written and close."""
        self._conn.close()


class StoreReader:
    """Read-only access to a committed store, shared by all threads.

    The connection is opened here, while the version directory certainly exists, and kept: a snapshot
    still serving searches stays readable after a newer write prunes its directory. Queries are tiny
    lookups by key, so one connection behind a lock costs little.
    """

    def __init__(self, path: Path) -> None:
        # immutable: a committed version never changes, so SQLite need not lock or watch the file.
        self._conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # open the file now
        self._lock = threading.Lock()
        # A connection sits in a reference cycle with its statement cache, so unclosed it lives (with its file
        # descriptor and page cache) until the cyclic GC happens to run: a server swapping versions under
        # writes kept dozens of pruned stores open. Close it as soon as this reader is dropped.
        weakref.finalize(self, self._conn.close)

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def columns(self, table: str) -> list[str]:
        """The columns of `table` in this store, in order."""
        return [r[1] for r in self._rows(f"PRAGMA table_info({table})")]

    @cached_property
    def _chunk_columns(self) -> frozenset[str]:
        """The chunks table's columns (a committed store never changes)."""
        return frozenset(self.columns("chunks"))

    @cached_property
    def _page(self) -> str:
        """The chunks' provenance columns (`PROVENANCE`), NULL for those a segment was written before."""
        have = self._chunk_columns
        return ", ".join(f"c.{name}" if name in have else "NULL" for name in PROVENANCE)

    def raw_rows(self, table: str, batch: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
        """Every row of `table` ('documents' or 'chunks') as stored, in batches (for merges)."""
        key = {"documents": "doc_id", "chunks": "chunk_id"}[table]
        last: object = None
        while True:
            where, params = (f" WHERE {key} > ?", [last]) if last is not None else ("", [])
            rows = self._rows(f"SELECT * FROM {table}{where} ORDER BY {key} LIMIT ?", [*params, batch])
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def counts(self) -> tuple[int, int]:
        """(documents, chunks)."""
        ((docs, chunks),) = self._rows("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)")
        return int(docs), int(chunks)

    def chunk_ids(self) -> list[int]:
        """Every chunk id, ascending."""
        return [r[0] for r in self._rows("SELECT chunk_id FROM chunks ORDER BY chunk_id")]

    def chunks(self, ids: Iterable[int]) -> dict[int, ChunkRecord]:
        """The chunks with these ids, joined with their document's title and source."""
        wanted = list(ids)
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self._rows(
            "SELECT c.chunk_id, c.doc_id, c.ordinal, c.start_char, c.end_char, c.text, d.title, d.source, "
            f"{self._page} FROM chunks c JOIN documents d USING (doc_id) WHERE c.chunk_id IN ({marks})",
            wanted,
        )
        return {r[0]: ChunkRecord(*r) for r in rows}

    def filtered_chunk_ids(self, where: Filter) -> list[int]:
        """Ids of the chunks that pass `where`."""
        sql, params = filter_sql(where)
        return [r[0] for r in self._rows(sql, params)]

    def places_of(self, chunk_ids: Sequence[int]) -> dict[int, Place]:
        """chunk_id -> its document, page and kind."""
        if not chunk_ids:
            return {}
        have = self._chunk_columns
        page, kind_ = ("page" if "page" in have else "NULL"), ("kind" if "kind" in have else "NULL")
        marks = ",".join("?" * len(chunk_ids))
        rows = self._rows(
            f"SELECT chunk_id, doc_id, {page}, {kind_} FROM chunks WHERE chunk_id IN ({marks})", list(chunk_ids)
        )
        return {r[0]: Place(r[1], r[2], r[3]) for r in rows}

    def doc_ids_of(self, chunk_ids: Sequence[int]) -> dict[int, str]:
        """chunk_id -> doc_id."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self._rows(f"SELECT chunk_id, doc_id FROM chunks WHERE chunk_id IN ({marks})", list(chunk_ids))
        return dict(rows)

    _DOCUMENT_COLUMNS = "doc_id, title, source, origin, content_hash, text, metadata, n_chunks"

    @staticmethod
    def _stored(row: Sequence[Any]) -> StoredDocument:
        return StoredDocument(
            doc_id=row[0],
            title=row[1],
            source=row[2],
            origin=row[3],
            content_hash=row[4],
            text=row[5],
            metadata=json.loads(row[6]),
            n_chunks=row[7],
        )

    def documents(self, origin: str | None = None) -> list[StoredDocument]:
        """Every stored document (optionally only those of one origin), ordered by id."""
        where = " WHERE origin = ?" if origin else ""
        rows = self._rows(
            f"SELECT {self._DOCUMENT_COLUMNS} FROM documents{where} ORDER BY doc_id", (origin,) if origin else ()
        )
        return [self._stored(r) for r in rows]

    def document(self, doc_id: str) -> StoredDocument | None:
        """One stored document, or None."""
        return self.documents_of([doc_id]).get(doc_id)

    def documents_of(self, doc_ids: Sequence[str]) -> dict[str, StoredDocument]:
        """doc_id -> stored document, for those among `doc_ids` that are here."""
        out: dict[str, StoredDocument] = {}
        for marks, part in _in_lists(doc_ids):
            rows = self._rows(f"SELECT {self._DOCUMENT_COLUMNS} FROM documents WHERE doc_id IN ({marks})", part)
            out.update((doc.doc_id, doc) for doc in map(self._stored, rows))
        return out

    def page(self, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """(total, one page of {doc_id, title, source, origin, chunks}) ordered by id."""
        total = int(self._rows("SELECT count(*) FROM documents")[0][0])
        if offset >= total:  # also keeps an offset past SQLite's 64-bit integers out of the query
            return total, []
        rows = self._rows(
            "SELECT doc_id, title, source, origin, n_chunks FROM documents ORDER BY doc_id LIMIT ? OFFSET ?",
            (limit, offset),
        )
        keys = ("doc_id", "title", "source", "origin", "chunks")
        return total, [dict(zip(keys, r, strict=True)) for r in rows]

    def origins(self) -> dict[str, str]:
        """doc_id -> origin ('build' or 'api')."""
        return dict(self._rows("SELECT doc_id, origin FROM documents"))

    def hashes(self, doc_ids: Sequence[str] | None = None) -> dict[str, str]:
        """doc_id -> content hash, of `doc_ids` that are here (None: of every document)."""
        if doc_ids is None:
            return dict(self._rows("SELECT doc_id, content_hash FROM documents"))
        out: dict[str, str] = {}
        for marks, part in _in_lists(doc_ids):
            out.update(self._rows(f"SELECT doc_id, content_hash FROM documents WHERE doc_id IN ({marks})", part))
        return out

    def chunk_ids_of(self, doc_ids: Sequence[str]) -> dict[str, list[int]]:
        """doc_id -> its chunk ids, for `doc_ids` that are here."""
        out: dict[str, list[int]] = {}
        for marks, part in _in_lists(doc_ids):
            for doc_id, cid in self._rows(
                f"SELECT doc_id, chunk_id FROM chunks WHERE doc_id IN ({marks}) ORDER BY chunk_id", part
            ):
                out.setdefault(doc_id, []).append(cid)
        return out

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
