"""The Milvus client, shared per address in this process, and the call wrapper that makes failures BackendErrors."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from indexer.errors import BackendError, ConfigError
from indexer.storage.milvus.expressions import in_list, row_data
from indexer.storage.settings import is_lite
from indexer.types import slices

if TYPE_CHECKING:
    from pymilvus import MilvusClient

LIMIT = 16_384  # Milvus's largest top-k and query page
_WRITE_BATCH = 256  # rows per insert: well under Milvus's message size
IN_BATCH = 1_000  # values per `in [...]` list

_GLOG_DIR = "GLOG_log_dir"

T = TypeVar("T")


class _Clients:
    """One MilvusClient per (uri, token) in this process, shared and counted: pymilvus names a client's
    connection after its address and user, so closing one of two such clients would close both."""

    _open: ClassVar[dict[tuple[str, str | None], tuple[MilvusClient, int]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def acquire(cls, uri: str, token: str | None, log_dir: Path | None = None) -> MilvusClient:
        """The shared client for (uri, token), connected on first use (a Lite file starts its server here)."""
        with cls._lock:
            client, users = cls._open.get((uri, token)) or (None, 0)
            if client is None:
                client = _connect(uri, token, log_dir)
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


def lite_log_dir(uri: str, log_dir: Path | None) -> Path:
    """Where a Milvus Lite server started for `uri` writes its logs: `log_dir`, or a folder beside the file."""
    return log_dir if log_dir is not None else Path(uri).parent / f"{Path(uri).name}.logs"


@contextlib.contextmanager
def _glog_dir(path: Path) -> Iterator[None]:
    """Milvus Lite's server logs with glog into the system temp folder unless GLOG_log_dir says otherwise, and
    milvus-lite takes no option for it but starts its server with this process's environment: set it for the
    start only (the caller holds the clients' lock, so no other server starts meanwhile)."""
    path.mkdir(parents=True, exist_ok=True)
    before = os.environ.get(_GLOG_DIR)
    os.environ[_GLOG_DIR] = str(path)
    try:
        yield
    finally:
        if before is None:
            del os.environ[_GLOG_DIR]
        else:
            os.environ[_GLOG_DIR] = before


def _connect(uri: str, token: str | None, log_dir: Path | None) -> MilvusClient:
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
        if not is_lite(uri):
            return MilvusClient(uri=uri, token=token or "")
        with _glog_dir(lite_log_dir(uri, log_dir)):
            return MilvusClient(uri=uri, token=token or "")
    except MilvusException as exc:
        raise BackendError(f"cannot connect to Milvus at {uri}: {exc}. Check SEEKR_MILVUS_URI and the server.") from exc


class Connection:
    """One backend's use of the shared client: every call's failure (its timeout included) becomes a
    BackendError."""

    def __init__(self, uri: str, token: str | None, timeout: float, log_dir: Path | None = None) -> None:
        self.client = _Clients.acquire(uri, token, log_dir)
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
        self.insert(collection, [{**row_data(r), "deleted_at": deleted_at} for r in rows])
        for part in slices([int(r["row"]) for r in rows], IN_BATCH):
            self.delete(collection, in_list("row", part))

    def delete(self, collection: str, expr: str) -> None:
        """Remove the rows passing `expr`."""
        self.timed(f"delete from {collection}", self.client.delete, collection, filter=expr)
