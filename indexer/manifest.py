"""The manifest: what an index version was built with and what it holds. Saved and loaded as JSON."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from indexer.errors import IndexCorruptError, ManifestMismatchError

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelInfo(_Frozen):
    """The embedding model the vectors come from."""

    id: str
    dimension: int
    normalized: bool = True
    max_tokens: int
    # What computed the vectors. Indexes made before this field existed were all made by torch.
    runtime: str = "torch"


class ChunkingInfo(_Frozen):
    """How documents were cleaned and chunked."""

    chunk_tokens: int
    overlap_tokens: int
    language: str
    splitter: str = "sentencex"
    cleaning_rules: int
    # Passages matched with their document's title in front (indexes made before this field: without).
    titles: bool = False
    # Where the scraped-page rules applied (before this field: to every file).
    cleaning: str = "web"


class Counts(_Frozen):
    """How much the version holds."""

    documents: int
    chunks: int


class FaissInfo(_Frozen):
    """The vector index file."""

    file: str = "vectors.faiss"
    factory: str = "IDMap2,Flat"
    metric: Literal["inner_product"] = "inner_product"


class LexicalInfo(_Frozen):
    """The BM25 index."""

    library: str = "bm25s"
    variant: str = "lucene k1=1.5 b=0.75"
    tokens: str = "words of 2+ characters, lower-cased, English stop words removed, Snowball English stems"


class Manifest(_Frozen):
    """Everything needed to use an index version correctly, and to refuse it when it does not fit."""

    format: Literal["seekr-index"] = "seekr-index"
    format_version: int = FORMAT_VERSION
    version: int
    created_at: datetime
    package_version: str
    model: ModelInfo
    chunking: ChunkingInfo
    counts: Counts
    faiss: FaissInfo = FaissInfo()
    store_file: str = "store.sqlite"
    lexical: LexicalInfo = LexicalInfo()
    lexical_dir: str = "lexical"
    build_seconds: float | None = None
    documents: dict[str, str]  # doc_id -> content hash

    def save(self, directory: Path) -> Path:
        """Write `manifest.json` into `directory` (the caller makes the directory durable)."""
        path = directory / MANIFEST_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        """Read `manifest.json` from `directory`; IndexCorruptError if missing or invalid."""
        path = directory / MANIFEST_FILE
        try:
            manifest = cls.model_validate_json(path.read_bytes())
        except FileNotFoundError as exc:
            raise IndexCorruptError(f"{path} is missing; rebuild the index with `python -m indexer build`") from exc
        except ValidationError as exc:
            raise IndexCorruptError(f"{path} is not a valid manifest: {exc.errors()[0]['msg']}") from exc
        if manifest.format_version != FORMAT_VERSION:
            raise IndexCorruptError(
                f"{path} has format version {manifest.format_version}; this program reads version "
                f"{FORMAT_VERSION}. Rebuild the index with this version of `python -m indexer build`."
            )
        return manifest

    def runtime_warning(self, runtime: str) -> str | None:
        """A warning if queries are embedded by another runtime than the index's vectors (close, not equal)."""
        if runtime == self.model.runtime:
            return None
        return (
            f"the index's vectors were made by runtime {self.model.runtime!r} and queries will be embedded by "
            f"{runtime!r}: scores shift slightly (cosine about 0.99 between runtimes). Set the runtime to "
            f"{self.model.runtime!r}, or rebuild the index with `python -m indexer build SRC --index DIR "
            f"--runtime {runtime}`."
        )

    def check_model(self, model_id: str, dimension: int) -> None:
        """Raise ManifestMismatchError, saying what differs, if the index was built with another model."""
        if self.model.id != model_id or self.model.dimension != dimension:
            raise ManifestMismatchError(
                f"the index was built with model {self.model.id!r} (dimension {self.model.dimension}) but "
                f"the configured model is {model_id!r} (dimension {dimension}). Configure model "
                f"{self.model.id!r}, or rebuild the index with `python -m indexer build SRC --index DIR "
                f"--model {model_id}`."
            )
