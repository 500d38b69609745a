"""Command-line option groups the commands share, and their conversion to the settings and objects the
commands use (storage, embedder, reranker, OCR)."""

from __future__ import annotations

import argparse
import os
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from indexer.building.builder import KEEP, Keep, build_prompts
from indexer.building.watch import DEFAULT_SETTLE_MS
from indexer.catalog import open_catalog
from indexer.collections import DEFAULT_COLLECTION
from indexer.embed.base import DEFAULT_MODEL, Embedder, Prompts
from indexer.embed.cache import CachedEmbedder, VectorCache
from indexer.embed.prompts import with_prompts
from indexer.embed.runtime import Runtime, load_embedder
from indexer.embed.settings import EmbedServerSettings
from indexer.errors import ConfigError
from indexer.filters import FILTER_FORM, parse_filters, parse_meta
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.clean import Cleaning
from indexer.ingest.documents import DEFAULT_MAX_FILE_BYTES
from indexer.ingest.ocr.base import (
    DEFAULT_DPI,
    DEFAULT_LANGUAGES,
    OcrEngineName,
    OcrMode,
    OcrSettings,
    default_cache_dir,
)
from indexer.ingest.ocr.settings import MAX_DPI, MIN_DPI, OcrOptions
from indexer.manifest import RerankerInfo
from indexer.rerank.base import Reranker, RerankRuntime
from indexer.rerank.factory import load_reranker_of, reranker_info
from indexer.rerank.settings import DEFAULT_RERANK_CANDIDATES, RerankOptions
from indexer.retrieval.options import SearchOptions, option_type
from indexer.storage.base import Backend
from indexer.storage.settings import BackendName, StorageSettings
from indexer.types import Filter, PassageContext

CHUNK_DEFAULTS = ChunkingConfig()


def add_runtime(parser: argparse.ArgumentParser) -> None:
    """`--runtime`: what runs the embedding model."""
    parser.add_argument(
        "--runtime",
        choices=[r.value for r in Runtime],
        default=os.environ.get("SEEKR_RUNTIME", Runtime.auto.value),
        help="inference runtime (default: $SEEKR_RUNTIME or auto: ONNX int8/fp32 by CPU for the bundled model, "
        "torch for others)",
    )


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """`--embed-url`, `--embed-key-file`: where an embedding server is, and its key."""
    parser.add_argument(
        "--embed-url",
        metavar="URL",
        help="base URL of the embedding server a server model is asked at (default: $SEEKR_EMBED_URL, else the "
        "URL the index recorded)",
    )
    parser.add_argument(
        "--embed-key-file",
        type=Path,
        metavar="FILE",
        help="file holding the embedding server's API key (default: $SEEKR_EMBED_KEY or $SEEKR_EMBED_KEY_FILE)",
    )


def add_reranker(parser: argparse.ArgumentParser, what: str) -> None:
    """`--reranker`, `--rerank-model`, `--rerank-runtime`: a reranker, for `what`."""
    parser.add_argument(
        "--reranker",
        metavar="SPEC",
        help=f"{what}: a cross-encoder folder (sentence-transformers CrossEncoder), or a reranking server "
        "tei:http://host:port or cohere:https://host/v1 (its key from $SEEKR_RERANK_KEY)",
    )
    parser.add_argument("--rerank-model", metavar="NAME", help="the model a cohere-style reranking server is asked for")
    add_rerank_runtime(parser)


def add_rerank_runtime(parser: argparse.ArgumentParser) -> None:
    """`--rerank-runtime`: what runs a cross-encoder folder."""
    parser.add_argument(
        "--rerank-runtime",
        choices=[r.value for r in RerankRuntime],
        help="what runs a cross-encoder folder (default: $SEEKR_RERANK_RUNTIME or auto: ONNX, int8 where its "
        "export kept the scores)",
    )


def add_rerank_candidates(parser: argparse.ArgumentParser) -> None:
    """`--rerank-candidates`: how many units the reranker re-scores."""
    parser.add_argument(
        "--rerank-candidates",
        type=int,
        help=f"units the reranker re-scores (default: $SEEKR_RERANK_CANDIDATES or {DEFAULT_RERANK_CANDIDATES})",
    )


def load_reranker_for(args: argparse.Namespace, info: RerankerInfo) -> Reranker:
    """The reranker `info` records, loaded as the command line (then SEEKR_RERANK_*) says."""
    options = rerank_options(args)
    return load_reranker_of(info, runtime=options.rerank_runtime, key=options.rerank_key_value)


def build_reranker(args: argparse.Namespace) -> RerankerInfo | Keep | None:
    """What a build records as the collection's reranker: `--reranker` (loaded first, so a folder that is not one
    stops the build before anything is read), `none` to remove it, or (not given) the one recorded."""
    if args.reranker is None:
        return KEEP
    if args.reranker == "none":
        return None
    info = reranker_info(args.reranker, args.rerank_model)
    load_reranker_for(args, info)
    return info


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The model options: its embedding server, its prompts, whether a missing one may be downloaded."""
    add_server_options(parser)
    parser.add_argument(
        "--query-prompt",
        metavar="TEXT",
        help="text put in front of each query (default: the model's own, from its config or family; e5: 'query: ')",
    )
    parser.add_argument(
        "--passage-prompt",
        metavar="TEXT",
        help="text put in front of each passage (default: the model's own; e5: 'passage: ')",
    )
    parser.add_argument(
        "--allow-download",
        action="store_true",
        default=os.environ.get("SEEKR_ALLOW_DOWNLOAD", "").lower() in {"1", "true", "yes"},
        help="download a hub model missing from the local cache (default: $SEEKR_ALLOW_DOWNLOAD or never)",
    )


def add_reading(parser: argparse.ArgumentParser) -> None:
    """How files are read: OCR of scans and images, the largest file read."""
    parser.add_argument(
        "--max-file-mb",
        type=float,
        default=DEFAULT_MAX_FILE_BYTES / 2**20,
        help="skip files larger than this many MB (default: %(default)g)",
    )
    parser.add_argument(
        "--ocr",
        choices=[m.value for m in OcrMode],
        help="read scanned pages and images by OCR: auto (pages without a text layer, and images), off, or force "
        "(every PDF page) (default: $SEEKR_OCR or auto)",
    )
    parser.add_argument(
        "--ocr-engine",
        choices=[e.value for e in OcrEngineName],
        help="OCR engine (default: $SEEKR_OCR_ENGINE or tesseract; rapidocr needs the seekr[rapidocr] extra)",
    )
    parser.add_argument(
        "--ocr-languages",
        help="Tesseract languages joined by + (eng+deu); each needs its tesseract-ocr-LANG package "
        f"(default: $SEEKR_OCR_LANGUAGES or {DEFAULT_LANGUAGES})",
    )
    parser.add_argument(
        "--ocr-dpi",
        type=int,
        help=f"resolution scanned PDF pages are rendered at, {MIN_DPI} to {MAX_DPI} (default: $SEEKR_OCR_DPI or "
        f"{DEFAULT_DPI})",
    )
    parser.add_argument(
        "--ocr-threads",
        type=int,
        help="pages recognised at once (default: $SEEKR_OCR_THREADS, or all cores but one, as the service)",
    )
    parser.add_argument(
        "--ocr-cache",
        type=Path,
        help="folder where recognised pages are kept by content, so none is read twice (default: $SEEKR_OCR_CACHE "
        f"or {default_cache_dir()})",
    )


def ocr_settings(args: argparse.Namespace) -> OcrSettings:
    """The OCR settings of a build or watch command: its flags, then SEEKR_OCR* variables, then defaults."""
    given = {
        "ocr": args.ocr,
        "ocr_engine": args.ocr_engine,
        "ocr_languages": args.ocr_languages,
        "ocr_dpi": args.ocr_dpi,
        "ocr_threads": args.ocr_threads,
        "ocr_cache": args.ocr_cache,
    }
    return settings_from(OcrOptions, "OCR settings", given).ocr_settings()


def add_watching(parser: argparse.ArgumentParser) -> None:
    """How a watched folder's changes are gathered before they are applied."""
    parser.add_argument(
        "--settle-ms",
        type=int,
        default=DEFAULT_SETTLE_MS,
        help="apply a burst of changes once no file changed for this long (default: %(default)s ms)",
    )
    parser.add_argument(
        "--poll",
        action="store_true",
        help="poll the folder instead of waiting for file system events (network mounts, some containers)",
    )


def add_cleaning(parser: argparse.ArgumentParser) -> None:
    """`--cleaning` and `--context`: where the scraped-page rules apply, what passages are matched with."""
    parser.add_argument(
        "--cleaning",
        choices=[c.value for c in Cleaning],
        default=Cleaning.auto.value,
        help="where the scraped-page rules apply: auto (HTML, and text that looks like a saved web page), web "
        "(every file) or none (default: %(default)s)",
    )
    parser.add_argument(
        "--context",
        choices=[c.value for c in PassageContext],
        default=PassageContext.headings.value,
        help="what each passage is matched with in front of it: headings (the document's name, from its title and "
        "file name, and the heading the passage stands under), document, title or none (default: %(default)s)",
    )


def add_storage(parser: argparse.ArgumentParser, index_flag: bool = True, collection_flag: bool = True) -> None:
    """Where the index lives; each default comes from the SEEKR_* variable the service reads too."""
    if index_flag:
        parser.add_argument(
            "--index",
            type=Path,
            metavar="DIR",
            help="local data directory: the default collection's index, the others in DIR/collections/ (default: "
            "$SEEKR_DATA_DIR, $SEEKR_INDEX_DIR or index)",
        )
    if collection_flag:
        parser.add_argument(
            "--collection",
            default=DEFAULT_COLLECTION,
            metavar="NAME",
            help="the collection (letters, digits, '-' and '_'; default: %(default)s)",
        )
    parser.add_argument(
        "--backend",
        choices=[b.value for b in BackendName],
        help="engine keeping the index: local (FAISS + BM25 files in DIR) or milvus (default: $SEEKR_BACKEND or local)",
    )
    parser.add_argument(
        "--milvus-uri",
        metavar="URI",
        help="milvus: a .db file (Milvus Lite) or http(s)://host:19530 (default: $SEEKR_MILVUS_URI or milvus.db); "
        "the token is read from $SEEKR_MILVUS_TOKEN",
    )
    parser.add_argument(
        "--milvus-collection",
        metavar="NAME",
        help="milvus: collection name prefix (default: $SEEKR_MILVUS_COLLECTION or seekr)",
    )


def storage_settings(args: argparse.Namespace, index: Path | None = None) -> StorageSettings:
    """Storage settings: the command line's, then SEEKR_* variables, then defaults."""
    directory = index if index is not None else getattr(args, "index", None)
    given = {
        "backend": args.backend,
        "index_dir": directory,
        "data_dir": directory,  # a directory named here wins over $SEEKR_DATA_DIR
        "milvus_uri": args.milvus_uri,
        "milvus_collection": args.milvus_collection,
    }
    return settings_from(StorageSettings, "storage settings", given)


def backend_for(args: argparse.Namespace, *, create: bool, index: Path | None = None) -> Backend:
    """The index of `--collection` (a build, watch or import creates a collection that does not exist yet)."""
    catalog = open_catalog(storage_settings(args, index))
    try:
        name = getattr(args, "collection", DEFAULT_COLLECTION)
        # The default collection's own errors say how to build it; another's says it does not exist.
        return catalog.target(name) if create or name == DEFAULT_COLLECTION else catalog.backend(name)
    finally:
        catalog.close()


S = TypeVar("S", bound=BaseSettings)


def settings_from(cls: type[S], what: str, given: dict[str, Any]) -> S:
    """`cls` from the flags `given` (those not None), then SEEKR_* variables, then defaults; ConfigError naming
    each value that is wrong and where it came from."""
    try:
        return cls(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{_named(e['loc'], given)}{e['msg']}" for e in exc.errors())
        raise ConfigError(f"{what}: {problems}") from exc


def _named(loc: tuple[int | str, ...], given: dict[str, Any]) -> str:
    """Where a wrong value came from: `--a-b: ` when the flag gave field a_b, else `SEEKR_A_B: ` (empty for the
    settings as a whole)."""
    name = "_".join(str(part) for part in loc)
    if not name:
        return ""
    return f"--{name.replace('_', '-')}: " if given.get(name) is not None else f"SEEKR_{name.upper()}: "


def server_settings(args: argparse.Namespace) -> EmbedServerSettings:
    """The embedding-server settings: the command line's, then SEEKR_EMBED_* variables."""
    given = {"embed_url": getattr(args, "embed_url", None), "embed_key_file": getattr(args, "embed_key_file", None)}
    return settings_from(EmbedServerSettings, "embedding server settings", given)


def rerank_options(args: argparse.Namespace) -> RerankOptions:
    """The reranker settings: the command line's, then SEEKR_RERANK_* variables."""
    given = {
        "rerank_runtime": getattr(args, "rerank_runtime", None),
        "rerank_candidates": getattr(args, "rerank_candidates", None),
    }
    return settings_from(RerankOptions, "reranker settings", given)


def model_name(args: argparse.Namespace) -> str:
    """`--model`, else the server model SEEKR_EMBED_API and SEEKR_EMBED_MODEL name, else the bundled one."""
    return str(args.model or server_settings(args).server_model or DEFAULT_MODEL)


def embedder_for(
    args: argparse.Namespace, model: str, prompts: Prompts, endpoint: str | None = None, *, build: bool = False
) -> Embedder:
    """The model on `--runtime` (or its server: `endpoint` is the URL its index recorded) with `prompts` in front
    of texts. A build's passages from a server go through the vector cache, so a stopped build goes on."""
    servers = server_settings(args)
    # A URL given here (--embed-url, SEEKR_EMBED_URL) wins over the one the index recorded: the server moved.
    server = servers.server_options(model, None if servers.embed_url else endpoint)
    embedder = load_embedder(model, args.runtime, download=getattr(args, "allow_download", False), server=server)
    if build and server is not None:
        embedder = CachedEmbedder(embedder, VectorCache(servers.embed_cache))
    return with_prompts(embedder, prompts)


def build_embedder(args: argparse.Namespace, backend: Backend) -> Embedder:
    """What a build embeds with: `--model` with `--query-prompt`/`--passage-prompt`, else the prompts the index
    records for this model, else the model's own."""
    model = model_name(args)
    prompts = build_prompts(backend, model, args.query_prompt, args.passage_prompt)
    return embedder_for(args, model, prompts, build=True)


def add_search_options(parser: argparse.ArgumentParser) -> None:
    """A flag for every search option (`SearchOptions`: its name, type, choices and description; a yes/no option
    is `--NAME`/`--no-NAME`), and the filter flags."""
    for name, info in SearchOptions.model_fields.items():
        flag = option_flag(name)
        kind = option_type(name)
        described = (info.description or "").replace("%", "%%")  # argparse formats help with %
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=described)
        elif issubclass(kind, Enum):
            parser.add_argument(flag, choices=[member.value for member in kind], help=described)
        else:
            parser.add_argument(flag, type=kind, metavar=name.upper(), help=described)
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="FIELD:OP:VALUE",
        help=f"a metadata condition (repeatable; all must hold): {FILTER_FORM}",
    )
    parser.add_argument(
        "--meta", action="append", default=[], metavar="KEY:VALUE", help="metadata equal to this (repeatable)"
    )
    parser.add_argument("--doc-id", action="append", metavar="ID", help="only this document (repeatable)")
    parser.add_argument("--source", metavar="PREFIX", help="only documents whose source starts with this path")


def option_flag(name: str) -> str:
    """The flag of search option `name`: `-k`, `--max-per-doc`."""
    return "-" + name if len(name) == 1 else "--" + name.replace("_", "-")


def search_from_args(args: argparse.Namespace) -> tuple[SearchOptions, Filter | None]:
    """The search options and the filter the command line gives; ConfigError naming a flag out of range or a
    malformed filter."""
    given = {name: getattr(args, name) for name in SearchOptions.model_fields if getattr(args, name) is not None}
    try:
        options = SearchOptions.model_validate(given)
    except ValidationError as exc:
        problems = (f"{option_flag(str(e['loc'][0]))}: {e['msg']}" for e in exc.errors())
        raise ConfigError("; ".join(problems)) from exc
    try:
        where = parse_filters(args.filter)
        metadata = tuple(parse_meta(args.meta).items())
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    restriction = Filter(
        source_prefix=args.source,
        doc_ids=tuple(args.doc_id) if args.doc_id else None,
        metadata=metadata,
        where=where,
    )
    return options, None if restriction.is_empty else restriction
