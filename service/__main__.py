"""`python -m service --index DIR`: serve an index over HTTP with uvicorn."""

from __future__ import annotations

import argparse
import json
import logging
import logging.config
import os
import sys
from contextlib import closing

import uvicorn

from indexer.embed.runtime import Runtime
from indexer.errors import IndexerError
from indexer.storage.factory import open_backend
from indexer.storage.settings import BackendName
from service.admission import admission_for
from service.collections import Collections
from service.deps import load_embedder
from service.keys import digest, new_key
from service.logs import log_config
from service.metrics import Metrics
from service.models import Models
from service.settings import ENV_PREFIX, Settings


def _parser() -> argparse.ArgumentParser:
    defaults = Settings.model_fields
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Serve a search index over HTTP (`python -m service mcp ...`: as an MCP server on stdio, for "
        "desktop clients; `python -m service new-key NAME [RIGHT...]`: make an API key and its keys-file entry). "
        "Flags override SEEKR_* environment variables.",
    )
    parser.add_argument(
        "--index",
        dest="index_dir",
        metavar="DIR",
        help="data directory: the default collection's index, the others in DIR/collections/ (default: "
        f"$SEEKR_DATA_DIR, $SEEKR_INDEX_DIR or {defaults['index_dir'].default})",
    )
    parser.add_argument(
        "--backend",
        choices=[b.value for b in BackendName],
        help="engine keeping the index: local (the --index directory) or milvus (SEEKR_MILVUS_URI; default: local)",
    )
    parser.add_argument("--milvus-uri", metavar="URI", help="milvus: a .db file (Milvus Lite) or http(s)://host:19530")
    parser.add_argument(
        "--model",
        help="embedding model name or path; must match the index (default: the bundled all-MiniLM-L6-v2)",
    )
    parser.add_argument(
        "--runtime",
        choices=[r.value for r in Runtime],
        help="inference runtime (default: auto: ONNX int8 or fp32 by CPU for the bundled model, torch for others)",
    )
    parser.add_argument("--host", help=f"bind address (default: {defaults['host'].default})")
    parser.add_argument("--port", type=int, help=f"port (default: {defaults['port'].default})")
    parser.add_argument("--workers", type=int, help="worker processes (default: 1)")
    parser.add_argument(
        "--log-level",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level (default: info)",
    )
    return parser


def _index_source(settings: Settings) -> None:
    """Bring the index in line with the source folder; unchanged documents are not embedded again."""
    from indexer.building.builder import build_index, build_prompts
    from indexer.embed.prompts import with_prompts
    from indexer.ingest.chunking import ChunkingConfig
    from indexer.ingest.read_options import ReadOptions

    assert settings.source_dir is not None
    log = logging.getLogger("service.startup")
    with closing(open_backend(settings)) as backend:
        log.info("indexing %s into %s", settings.source_dir, backend.location)
        # The index's own prompts where it has this model's vectors, else the model's: never a silent change.
        embedder = with_prompts(load_embedder(settings), build_prompts(backend, settings.model))
        report = build_index(
            settings.source_dir,
            backend,
            embedder,
            ChunkingConfig(context=settings.context),
            read=ReadOptions(settings.cleaning, settings.ocr_settings()),
            max_file_bytes=int(settings.max_file_mb * 2**20),
        )
    if report.skipped:
        log.warning("skipped %d files: %s", len(report.skipped), report.skipped_by_kind)
    log.info(
        "index version %d: %d documents, %d chunks, embedded %d chunks (%d added, %d updated, %d deleted) in %.1f s",
        report.version, report.documents, report.chunks, report.embedded_chunks,
        report.added, report.updated, report.deleted, report.seconds,
    )  # fmt: skip


def serve_stdio(settings: Settings) -> int:
    """`python -m service mcp --index DIR`: the MCP server on stdin/stdout for a desktop client (the same tools
    as /mcp; writes when SEEKR_API_KEY is set). Logs go to stderr: stdout carries the protocol."""
    import anyio

    from service.mcp_server import build_mcp, local_rights
    from service.routes.view import viewer_for

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    collections = _collections(settings)
    try:
        collections.start()
        collections.load_default()
    except IndexerError as exc:
        collections.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    default = collections.default
    if default is not None and default.error is not None:
        collections.close()
        print(f"error: {default.error}", file=sys.stderr)
        return 2
    mcp = build_mcp(collections, settings, viewer_for(settings))

    async def run() -> None:
        async with local_rights(settings):
            await mcp.run_stdio_async()

    try:
        anyio.run(run)
    finally:
        collections.close()
    return 0


def _collections(settings: Settings) -> Collections:
    """The collections of `settings`' data directory, with the real models (nothing opens yet)."""
    return Collections(settings, Models(settings, load_embedder), admission_for(settings, Metrics.create()))


def _new_key(argv: list[str]) -> int:
    """`python -m service new-key NAME [RIGHT...] [--collections A,B]`: a fresh key, and its entry for the keys
    file (which holds only its SHA-256)."""
    parser = argparse.ArgumentParser(prog="python -m service new-key", description=_new_key.__doc__)
    parser.add_argument("name", help="the key's name (in logs and errors)")
    parser.add_argument("rights", nargs="*", default=["read"], help="read, write, admin (default: read)")
    parser.add_argument("--collections", default="*", help="comma-separated collections, or * (default: *)")
    args = parser.parse_args(argv)
    key = new_key()
    collections = [c.strip() for c in args.collections.split(",") if c.strip()]
    print(f"# the key (give it to its user; it is not stored anywhere): {key}", file=sys.stderr)
    print("[[keys]]")
    print(f'name = "{args.name}"')
    print(f'sha256 = "{digest(key)}"')
    print(f"rights = {json.dumps(args.rights)}")
    print(f"collections = {json.dumps(collections)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse flags, validate settings, run uvicorn (or, for `mcp`, the MCP server on stdio)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["new-key"]:
        return _new_key(argv[1:])
    stdio = argv[:1] == ["mcp"]
    args = _parser().parse_args(argv[1:] if stdio else argv)
    # Flags become environment variables so that every uvicorn worker process builds the same Settings.
    for name, value in vars(args).items():
        if value is not None:
            os.environ[f"{ENV_PREFIX}{name.upper()}"] = str(value)
    if args.index_dir is not None:  # the directory named on the command line wins over $SEEKR_DATA_DIR
        os.environ[f"{ENV_PREFIX}DATA_DIR"] = args.index_dir
    settings = Settings()
    if stdio:
        return serve_stdio(settings)
    config = log_config(settings.log_level)
    logging.config.dictConfig(config)
    try:
        if settings.source_dir is not None:
            _index_source(settings)
        # Closed after the check: a Milvus Lite file is then free for the server.
        with closing(_collections(settings)) as collections:
            collections.start()
    except IndexerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=config,
        access_log=True,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
