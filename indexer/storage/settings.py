"""Where an index lives and which engine keeps it: the settings shared by the CLI, the service and the factory."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class BackendName(StrEnum):
    """Which engine keeps the index."""

    local = "local"
    milvus = "milvus"


MILVUS_TIMEOUT_SECONDS = 30.0  # one Milvus call: searches and writes take milliseconds


def is_lite(uri: str) -> bool:
    """Whether the Milvus `uri` names a Milvus Lite file rather than a server."""
    return not uri.startswith(("http://", "https://", "tcp://", "unix:"))


def milvus_originals(uri: str, configured: Path | None) -> Path | None:
    """Where collections at Milvus `uri` keep original files: `configured`, else beside a Lite file (None: a
    server, which keeps no files)."""
    if configured is not None:
        return configured
    return Path(uri).parent / f"{Path(uri).name}.originals" if is_lite(uri) else None


class StorageSettings(BaseSettings):
    """Where the index lives. Every field is also an environment variable `SEEKR_<NAME>`."""

    @property
    def root(self) -> Path:
        """local: the data directory (`data_dir`, else `index_dir`), the default collection's index."""
        return self.data_dir if self.data_dir is not None else self.index_dir

    model_config = SettingsConfigDict(env_prefix="SEEKR_", frozen=True, extra="ignore")

    backend: BackendName = Field(
        BackendName.local, description="local (FAISS + BM25 files in index_dir) or milvus (see milvus_uri)."
    )
    index_dir: Path = Field(Path("index"), description="Index directory built by `python -m indexer build` (local).")
    data_dir: Path | None = Field(
        None,
        description="local: directory holding every collection: the default collection's index at its top, the "
        "others in collections/<name>/ (unset: index_dir, so an index built before collections is the default "
        "collection).",
    )
    faiss_threads: int | None = Field(
        None,
        ge=1,
        description="local: FAISS OpenMP threads per search (unset: FAISS's default, one per core; the service "
        "sets 1).",
    )
    milvus_uri: str = Field(
        "milvus.db",
        description="milvus: a file path runs Milvus Lite in this process; http(s)://host:19530 a Milvus server "
        "or cluster.",
    )
    milvus_token: SecretStr | None = Field(None, description="milvus: token (user:password or API key) for a server.")
    milvus_collection: str = Field(
        "seekr",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$",
        description="milvus: name prefix of the index's collections (letters, digits, underscores).",
    )
    milvus_timeout: float = Field(
        MILVUS_TIMEOUT_SECONDS,
        gt=0,
        description="milvus: seconds one call (search, query, insert, delete) may take before it fails, so a hung "
        "server costs a 503, not a request that never ends. Connecting has pymilvus' own 10 s.",
    )
    originals_dir: Path | None = Field(
        None,
        description="milvus: folder for the original files of collections that keep them (`keep_originals`; "
        "unset: an `.originals` folder beside a Milvus Lite file; a Milvus server keeps none without it). The local "
        "engine keeps them in each collection's index directory.",
    )
    milvus_log_dir: Path | None = Field(
        None,
        description="milvus (Lite): folder for Milvus Lite's own log files (unset: a `logs` folder beside the "
        "`.db` file; never the system temp folder).",
    )
