"""Moving an index between engines: `export` writes a version's documents, chunks and vectors to a folder,
`import_into` loads such a folder into any engine as one new version, without embedding anything again.

Folder layout::

    export.json       format, model, chunking and counts
    documents.jsonl   one document per line, with its chunks' offsets, in the order of the vectors' rows
    vectors.npy       float32, one row per chunk

The folder is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap
from pydantic import BaseModel, ConfigDict, ValidationError

from indexer.errors import ConfigError
from indexer.manifest import Calibration, ChunkingInfo, ModelInfo
from indexer.storage.base import Backend, Snapshot
from indexer.types import PROVENANCE, Chunk, ChunkRecord, Document, DocumentUpdate, slices

EXPORT_FILE = "export.json"
DOCUMENTS_FILE = "documents.jsonl"
VECTORS_FILE = "vectors.npy"
_BATCH = 256  # documents read or written at a time


class ExportInfo(BaseModel):
    """What an export folder holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = "seekr-export"
    format_version: int = 1
    source_version: int
    model: ModelInfo
    chunking: ChunkingInfo
    documents: int
    chunks: int
    calibration: Calibration | None = None  # the collection's search defaults travel with it


@dataclass(frozen=True)
class TransferReport:
    """What an export or import moved."""

    documents: int
    chunks: int
    version: int


def export(snapshot: Snapshot, out: Path) -> TransferReport:
    """Write every live document of `snapshot` with its chunks and vectors to the new folder `out`."""
    if out.exists():
        raise ConfigError(f"{out} already exists; export into a new folder")
    manifest = snapshot.manifest
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        total = manifest.counts.chunks
        vectors = open_memmap(tmp / VECTORS_FILE, mode="w+", dtype=np.float32, shape=(total, manifest.model.dimension))
        row = documents = 0
        with (tmp / DOCUMENTS_FILE).open("w", encoding="utf-8") as fh:
            ids = sorted(snapshot.store.hashes())
            for part in slices(ids, _BATCH):
                chunk_ids = snapshot.store.chunk_ids_of(part)
                wanted = [c for d in part for c in chunk_ids.get(d, [])]
                records = snapshot.store.chunks(wanted)
                docs = snapshot.store.documents_of(part)
                vectors[row : row + len(wanted)] = snapshot.vectors.reconstruct_batch(wanted)
                row += len(wanted)
                for doc_id in part:
                    doc = docs[doc_id]  # a version never changes: every id it listed is there
                    chunks = [records[c] for c in chunk_ids.get(doc_id, [])]
                    line = {
                        "doc_id": doc.doc_id,
                        "title": doc.title,
                        "source": doc.source,
                        "origin": doc.origin,
                        "text": doc.text,
                        "metadata": doc.metadata,
                        # [ordinal, start, end, *PROVENANCE], without the trailing fields it lacks
                        "chunks": [_chunk_row(c) for c in chunks],
                    }
                    fh.write(json.dumps(line, ensure_ascii=False) + "\n")
                    documents += 1
        vectors.flush()
        del vectors
        info = ExportInfo(
            source_version=snapshot.version,
            model=manifest.model,
            chunking=manifest.chunking,
            documents=documents,
            chunks=row,
            calibration=manifest.calibration,
        )
        (tmp / EXPORT_FILE).write_text(info.model_dump_json(indent=2) + "\n", encoding="utf-8")
        for name in (EXPORT_FILE, DOCUMENTS_FILE, VECTORS_FILE):
            with (tmp / name).open("rb") as f:
                os.fsync(f.fileno())
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return TransferReport(documents, row, snapshot.version)


def read_info(folder: Path) -> ExportInfo:
    """The export folder's description; ConfigError if it is not one."""
    try:
        return ExportInfo.model_validate_json((folder / EXPORT_FILE).read_bytes())
    except (OSError, ValidationError) as exc:
        raise ConfigError(f"{folder} is not an export folder made by `python -m indexer export` ({exc})") from exc


def _chunk_row(c: ChunkRecord) -> list[Any]:
    row: list[Any] = [c.ordinal, c.start, c.end, *(getattr(c, name) for name in PROVENANCE)]
    while row[-1] is None:
        row.pop()
    return row


def _updates(folder: Path, info: ExportInfo) -> Iterator[list[DocumentUpdate]]:
    vectors = np.load(folder / VECTORS_FILE, mmap_mode="r")
    if vectors.shape != (info.chunks, info.model.dimension):
        raise ConfigError(f"{folder / VECTORS_FILE} has shape {vectors.shape}, {EXPORT_FILE} says {info.chunks} chunks")
    row = 0
    batch: list[DocumentUpdate] = []
    with (folder / DOCUMENTS_FILE).open(encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            doc = Document(d["doc_id"], d["title"], d["text"], d["source"], d["metadata"])
            # Token counts only size passages for the model while chunking; nothing after that reads them.
            chunks = [Chunk(o, s, e, doc.text[s:e], 0, *rest) for o, s, e, *rest in d["chunks"]]
            batch.append(DocumentUpdate(doc, d["origin"], chunks, np.asarray(vectors[row : row + len(chunks)])))
            row += len(chunks)
            if len(batch) == _BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def import_into(folder: Path, backend: Backend) -> TransferReport:
    """Make `backend`'s index exactly the exported documents, as one new version (its previous documents go)."""
    info = read_info(folder)
    with backend.write_lock():
        tx = backend.transaction(None, info.model, info.chunking)
        tx.add_stream(_updates(folder, info), info.chunks)
        tx.calibrate(info.calibration)
        snapshot = tx.commit()
    snapshot = backend.merge(snapshot)
    counts = snapshot.manifest.counts
    return TransferReport(counts.documents, counts.chunks, snapshot.version)
