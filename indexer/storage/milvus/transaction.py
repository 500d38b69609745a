"""One write to a Milvus index: rows of version N, made visible by its manifest row (see the package doc)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from indexer.errors import ConfigError
from indexer.manifest import Calibration, ChunkingInfo, Counts, LexicalInfo, Manifest, ModelInfo, SourceInfo
from indexer.storage.base import lexical_analyzer, new_lexical
from indexer.storage.milvus.connection import IN_BATCH
from indexer.storage.milvus.expressions import in_list, visible
from indexer.storage.milvus.schema import (
    DOC_FIELDS,
    PLACEHOLDER,
    TEXT_PART,
    VARCHAR,
    Names,
    chunk_fields,
    create_generation,
    provenance_row,
    vector_info,
)
from indexer.storage.milvus.snapshot import MilvusSnapshot
from indexer.storage.milvus.versions import MilvusVersions
from indexer.types import DocumentUpdate, matched_text, slices


class MilvusTransaction:
    """One write to a Milvus index: rows of version N, made visible by the manifest row (see the module doc)."""

    def __init__(
        self,
        versions: MilvusVersions,
        base: MilvusSnapshot | None,
        model: ModelInfo,
        chunking: ChunkingInfo,
        lexical: LexicalInfo | None = None,
    ) -> None:
        self._versions = versions
        self._conn = versions.conn
        committed = versions.read_meta()
        self.number = (committed[1].version if committed else 0) + 1
        self._base = base
        self._model = model
        self._chunking = chunking
        self._calibration = base.manifest.calibration if base else None
        self._keep_originals = base.manifest.keep_originals if base else False
        self._lexical = lexical or (base.manifest.lexical if base else new_lexical())
        if base is not None and not base.manifest.lexical.same_analysis(self._lexical):
            raise ValueError("a write analyses text as its base does; another analysis is a new index (base None)")
        self._analyzer = lexical_analyzer(self._lexical)
        # Passages per language, counted as written (see `LexicalInfo.languages`).
        self._languages = dict(self._lexical.languages) if base is not None else {}
        if base is None:  # a new generation, switched to at commit; the old one is dropped afterwards
            self._names = Names(versions.prefix, (committed[0] if committed else 0) + 1)
            versions.drop_generation(self._names.generation)  # leftovers of a rebuild that never committed
            create_generation(self._conn, self._names, model.dimension)
            self._documents, self._chunks, self._next_id = 0, 0, 1
        else:
            self._names = base.names
            versions.remove_uncommitted(base.names, base.version)
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
        for part in slices(wanted, IN_BATCH):
            where = f"{live} and {in_list('doc_id', part)}"
            docs = list(self._conn.scan(self._names.docs, where, ["row", *DOC_FIELDS]))
            if not docs:
                continue
            chunks = list(
                self._conn.scan(self._names.chunks, where, ["row", *chunk_fields(self._conn, self._names.chunks)])
            )
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
        fields = chunk_fields(self._conn, self._names.chunks)
        for batch in batches:
            self.delete([u.document.doc_id for u in batch])
            docs: list[dict[str, Any]] = []
            chunks: list[dict[str, Any]] = []
            for u in batch:
                doc = u.document
                parts = [doc.text[i : i + TEXT_PART] for i in range(0, len(doc.text), TEXT_PART)] or [""]
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
                        "placeholder": PLACEHOLDER,
                    }
                    for part, text in enumerate(parts)
                )
                for chunk, vector in zip(u.chunks, u.vectors, strict=True):
                    matched = matched_text(
                        doc.title,
                        chunk.text,
                        chunk.start,
                        self._chunking.passage_context,
                        source=doc.source,
                        heading=chunk.heading,
                    )
                    analysed = self._analyzer.passage(matched)
                    self._languages[analysed.language] = self._languages.get(analysed.language, 0) + 1
                    terms = " ".join(term for _, _, term in analysed.terms)
                    for name, value in (
                        ("text", chunk.text),
                        ("terms", terms),
                        ("title", doc.title),
                        ("heading", chunk.heading or ""),
                    ):
                        if len(value.encode()) > VARCHAR:
                            raise ConfigError(
                                f"document {doc.doc_id!r}: a chunk's {name} is over Milvus's {VARCHAR} bytes"
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
                            **provenance_row(chunk, fields),
                            "terms": terms,
                            "vector": np.asarray(vector, dtype=np.float32).tolist(),
                        }
                    )
                    self._next_id += 1
            self._conn.insert(self._names.chunks, chunks)
            self._conn.insert(self._names.docs, docs)
            self._documents += len(batch)
            self._chunks += len(chunks)

    def calibrate(self, calibration: Calibration | None) -> None:
        """Record `calibration` as the new version's search defaults (None: none)."""
        self._calibration = calibration

    def keep_originals(self, keep: bool) -> None:
        """Record whether files sent over HTTP keep their bytes from the new version on."""
        self._keep_originals = keep

    def commit(self, build_seconds: float | None = None, source: SourceInfo | None = None) -> MilvusSnapshot:
        """Replace the manifest row: the new version is visible to every search from here on."""
        manifest = Manifest.create(
            version=self.number,
            model=self._model,
            chunking=self._chunking,
            counts=Counts(documents=self._documents, chunks=self._chunks),
            vectors=vector_info(self._conn.uri),
            segments=(),
            next_chunk_id=self._next_id,
            build_seconds=build_seconds,
            source=source if source is not None else self._base.manifest.source if self._base else None,
            calibration=self._calibration,
            keep_originals=self._keep_originals,
            lexical=self._lexical.model_copy(
                update={"languages": dict(sorted(self._languages.items(), key=lambda item: -item[1]))}
            ),
        )
        self._versions.write_meta(self._names.generation, manifest)
        self._versions.purge(self._names, self.number, keep_previous=self._base is None)
        return MilvusSnapshot(self._conn, self._names, manifest)
