"""The collections of a Milvus index and their fields: the manifest rows, and per generation chunks and documents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from indexer.analysis import K1, B
from indexer.manifest import VectorInfo
from indexer.storage.hnsw import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M
from indexer.storage.milvus.connection import Connection
from indexer.storage.settings import is_lite
from indexer.types import Chunk

VARCHAR = 65_535  # Milvus's largest VARCHAR, in bytes

TEXT_PART = 16_000  # characters per document-text part: at most 64,000 bytes of UTF-8

PLACEHOLDER = [0.0, 1.0]  # Milvus needs a vector field in every collection

CHUNK_FIELDS = [
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

DOC_FIELDS = [
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

FIRST = " and part == 0"  # one row per document


@dataclass(frozen=True)
class Names:
    """The collections of one generation."""

    prefix: str
    generation: int

    @property
    def chunks(self) -> str:
        return f"{self.prefix}_g{self.generation}_chunks"

    @property
    def docs(self) -> str:
        return f"{self.prefix}_g{self.generation}_docs"


PAGE = "page"  # a passage's 1-based page, 0 when not paged; generations made before pages existed lack it
HEADING = "heading"  # the heading a passage stands under, "" for none (a field like the chunk's title)
KIND = "kind"  # "" for content, "navigation"; generations made before page-aware context lack both
# A table's sheet ("" for none) and first and last row (0 for none); the page's mean OCR confidence (-1 for a
# page that was not recognised from its image). Generations made before tables and OCR were read lack them.
SHEET, ROW_FIRST, ROW_LAST, OCR_CONFIDENCE = "sheet", "row_first", "row_last", "ocr_confidence"
# What a passage's highlight needs (see `indexer.sentences`; "" for none); generations made before lack both.
SENTENCES, SENTENCE_VECTORS = "sentences", "sentence_vectors"
OPTIONAL = (PAGE, HEADING, KIND, SHEET, ROW_FIRST, ROW_LAST, OCR_CONFIDENCE, SENTENCES, SENTENCE_VECTORS)
# Milvus has no NULL for these fields: what stands for None in each.
_NONE: dict[str, object] = {
    PAGE: 0,
    HEADING: "",
    KIND: "",
    SHEET: "",
    ROW_FIRST: 0,
    ROW_LAST: 0,
    OCR_CONFIDENCE: -1.0,
    SENTENCES: "",
    SENTENCE_VECTORS: "",
}
_optional: dict[tuple[str, str], list[str]] = {}  # (uri, chunk collection) -> the optional fields it has


def chunk_fields(conn: Connection, collection: str) -> list[str]:
    """The fields of the chunk collection `collection` (its schema never changes while it exists)."""
    key = (conn.uri, collection)
    if key not in _optional:
        described = conn.call(f"describe {collection}", conn.client.describe_collection, collection)
        names = {f["name"] for f in described["fields"]}
        _optional[key] = [name for name in OPTIONAL if name in names]
    return [*CHUNK_FIELDS, *_optional[key]]


def provenance_row(chunk: Chunk, fields: Sequence[str]) -> dict[str, object]:
    """The provenance values (`PROVENANCE`) of `chunk` that a collection with `fields` stores."""
    out: dict[str, object] = {}
    for name in OPTIONAL:
        if name in fields:
            value = getattr(chunk, name)
            out[name] = _NONE[name] if value is None else value
    return out


def provenance_of(row: dict[str, Any]) -> dict[str, Any]:
    """The provenance of a stored chunk row as `ChunkRecord` fields (None where absent or the stand-in)."""
    return {name: None if row.get(name, _NONE[name]) == _NONE[name] else row[name] for name in OPTIONAL}


def forget_fields(conn: Connection, collection: str) -> None:
    """Forget what `chunk_fields` knows of `collection` (it is being dropped)."""
    _optional.pop((conn.uri, collection), None)


def vector_info(uri: str) -> VectorInfo:
    """How vectors are searched: exactly in Milvus Lite, by an HNSW graph on a server."""
    if is_lite(uri):
        return VectorInfo(ann_min_chunks=2**62, hnsw_m=0, hnsw_ef_construction=0, hnsw_ef_search=0)
    return VectorInfo(
        ann_min_chunks=0, hnsw_m=HNSW_M, hnsw_ef_construction=HNSW_EF_CONSTRUCTION, hnsw_ef_search=HNSW_EF_SEARCH
    )


def create_collection(
    conn: Connection, name: str, schema: Any, extra: list[tuple[str, str, str, dict[str, Any]]]
) -> None:
    index = conn.client.prepare_index_params()
    vector = "vector" if any(f.name == "vector" for f in schema.fields) else "placeholder"
    if vector == "vector" and not is_lite(conn.uri):
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
    conn.call(
        f"create {name}",
        conn.client.create_collection,
        name,
        schema=schema,
        index_params=index,
        consistency_level="Strong",
    )


def create_generation(conn: Connection, names: Names, dimension: int) -> None:
    """Create the chunk and document collections of a new generation."""
    from pymilvus import DataType, Function, FunctionType

    client = conn.client
    text = {"max_length": VARCHAR}
    chunks = client.create_schema(auto_id=True)
    chunks.add_field("row", DataType.INT64, is_primary=True, auto_id=True)
    chunks.add_field("chunk_id", DataType.INT64)
    for column in ("doc_id", "text", "title", "source", HEADING, KIND, SHEET, SENTENCES, SENTENCE_VECTORS):
        chunks.add_field(column, DataType.VARCHAR, **text)
    for column in ("version", "deleted_at", "ordinal", "start_char", "end_char", PAGE, ROW_FIRST, ROW_LAST):
        chunks.add_field(column, DataType.INT64)
    chunks.add_field(OCR_CONFIDENCE, DataType.FLOAT)
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
    bm25 = ("sparse", "SPARSE_INVERTED_INDEX", "BM25", {"bm25_k1": K1, "bm25_b": B})
    create_collection(conn, names.chunks, chunks, [bm25])
    docs = client.create_schema(auto_id=True)
    docs.add_field("row", DataType.INT64, is_primary=True, auto_id=True)
    for column in ("doc_id", "title", "source", "origin", "content_hash", "text"):
        docs.add_field(column, DataType.VARCHAR, **text)
    for column in ("part", "version", "deleted_at", "n_chunks"):
        docs.add_field(column, DataType.INT64)
    docs.add_field("metadata", DataType.JSON)
    docs.add_field("placeholder", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
    create_collection(conn, names.docs, docs, [])


def create_meta(conn: Connection, name: str) -> None:
    """Create the collection of manifest rows."""
    from pymilvus import DataType

    schema = conn.client.create_schema(auto_id=True)
    schema.add_field("row", DataType.INT64, is_primary=True, auto_id=True)
    schema.add_field("version", DataType.INT64)
    schema.add_field("committed_at", DataType.INT64)  # Unix milliseconds
    schema.add_field("value", DataType.VARCHAR, max_length=VARCHAR)
    schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
    create_collection(conn, name, schema, [])
