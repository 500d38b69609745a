"""Command line: `python -m indexer build SRC --index DIR` and `python -m indexer query DIR "question"`."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import textwrap
from contextlib import closing
from pathlib import Path

from pydantic import ValidationError

from indexer.analysis import supported
from indexer.building.builder import KEEP, BuildReport, Keep, build_index, build_prompts, sync_index
from indexer.building.watch import DEFAULT_SETTLE_MS, FolderWatcher
from indexer.calibrate import DEFAULT_FOLDS, format_calibration
from indexer.catalog import open_catalog
from indexer.collections import DEFAULT_COLLECTION
from indexer.embed.base import BATCH_SIZE, DEFAULT_MODEL, Embedder, Prompts
from indexer.embed.cache import CachedEmbedder, VectorCache
from indexer.embed.prompts import recorded_prompts, with_prompts
from indexer.embed.runtime import Runtime, load_embedder
from indexer.embed.settings import EmbedServerSettings
from indexer.errors import ConfigError, IndexerError
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
from indexer.manifest import RerankerInfo
from indexer.page_eval import (
    PAGE_QUESTIONS,
    PAGE_SYSTEMS,
    PageReport,
    evaluate_pages,
    format_page_table,
    read_page_questions,
)
from indexer.progress import log_progress_lines
from indexer.rerank.base import Reranker, RerankRuntime
from indexer.rerank.factory import load_reranker_of, reranker_info
from indexer.retrieval.defaults import DEFAULTS
from indexer.retrieval.rerank import DEFAULT_RERANK_CANDIDATES, RerankStage
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Backend
from indexer.storage.factory import as_backend, open_backend
from indexer.storage.settings import BackendName, StorageSettings
from indexer.types import PassageContext

_DEFAULTS = ChunkingConfig()


def _add_runtime(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runtime",
        choices=[r.value for r in Runtime],
        default=os.environ.get("SEEKR_RUNTIME", Runtime.auto.value),
        help="inference runtime (default: $SEEKR_RUNTIME or auto: ONNX int8/fp32 by CPU for the bundled model, "
        "torch for others)",
    )


def _add_server_options(parser: argparse.ArgumentParser) -> None:
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


def _add_reranker(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--reranker",
        metavar="SPEC",
        help=f"{what}: a cross-encoder folder (sentence-transformers CrossEncoder), or a reranking server "
        "tei:http://host:port or cohere:https://host/v1 (its key from $SEEKR_RERANK_KEY)",
    )
    parser.add_argument("--rerank-model", metavar="NAME", help="the model a cohere-style reranking server is asked for")
    _add_rerank_runtime(parser)


def _add_rerank_runtime(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rerank-runtime",
        choices=[r.value for r in RerankRuntime],
        default=os.environ.get("SEEKR_RERANK_RUNTIME", RerankRuntime.auto.value),
        help="what runs a cross-encoder folder (default: $SEEKR_RERANK_RUNTIME or auto: ONNX, int8 where its "
        "export kept the scores)",
    )


def _add_rerank_candidates(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rerank-candidates",
        type=int,
        default=DEFAULT_RERANK_CANDIDATES,
        help="units the reranker re-scores (default: %(default)s)",
    )


def _reranker(args: argparse.Namespace, info: RerankerInfo) -> Reranker:
    """The reranker `info` records, loaded as the command line says."""
    key = os.environ.get("SEEKR_RERANK_KEY") or None
    return load_reranker_of(info, runtime=RerankRuntime(args.rerank_runtime), key=key)


def _build_reranker(args: argparse.Namespace) -> RerankerInfo | Keep | None:
    """What a build records as the collection's reranker: `--reranker` (loaded first, so a folder that is not one
    stops the build before anything is read), `none` to remove it, or (not given) the one recorded."""
    if args.reranker is None:
        return KEEP
    if args.reranker == "none":
        return None
    info = reranker_info(args.reranker, args.rerank_model)
    _reranker(args, info)
    return info


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    _add_server_options(parser)
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


def _add_reading(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-file-mb",
        type=float,
        default=DEFAULT_MAX_FILE_BYTES / 2**20,
        help="skip files larger than this many MB (default: %(default)g)",
    )
    parser.add_argument(
        "--ocr",
        choices=[m.value for m in OcrMode],
        default=OcrMode.auto.value,
        help="read scanned pages and images by OCR: auto (pages without a text layer, and images), off, or force "
        "(every PDF page) (default: %(default)s)",
    )
    parser.add_argument(
        "--ocr-engine",
        choices=[e.value for e in OcrEngineName],
        default=OcrEngineName.tesseract.value,
        help="OCR engine (default: %(default)s; rapidocr needs the seekr[rapidocr] extra)",
    )
    parser.add_argument(
        "--ocr-languages",
        default=DEFAULT_LANGUAGES,
        help="Tesseract languages joined by + (eng+deu); each needs its tesseract-ocr-LANG package "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--ocr-dpi",
        type=int,
        default=DEFAULT_DPI,
        help="resolution scanned PDF pages are rendered at (default: %(default)s)",
    )
    parser.add_argument(
        "--ocr-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="pages recognised at once (default: every core, %(default)s; the service keeps one for searches)",
    )
    parser.add_argument(
        "--ocr-cache",
        type=Path,
        default=default_cache_dir(),
        help="folder where recognised pages are kept by content, so none is read twice (default: %(default)s)",
    )


def _ocr(args: argparse.Namespace) -> OcrSettings:
    """The OCR settings of a build or watch command."""
    if args.ocr_dpi < 50 or args.ocr_dpi > 1200:
        raise ConfigError(f"--ocr-dpi {args.ocr_dpi} is out of range; use 50 to 1200 (300 reads small print)")
    return OcrSettings(
        mode=OcrMode(args.ocr),
        engine=OcrEngineName(args.ocr_engine),
        languages=args.ocr_languages,
        dpi=args.ocr_dpi,
        threads=max(1, args.ocr_threads),
        cache_dir=args.ocr_cache,
    )


def _add_watching(parser: argparse.ArgumentParser) -> None:
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


def _add_cleaning(parser: argparse.ArgumentParser) -> None:
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


def _add_storage(parser: argparse.ArgumentParser, index_flag: bool = True, collection_flag: bool = True) -> None:
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


def _storage(args: argparse.Namespace, index: Path | None = None) -> StorageSettings:
    """Storage settings: the command line's, then SEEKR_* variables, then defaults."""
    directory = index if index is not None else getattr(args, "index", None)
    given = {
        "backend": args.backend,
        "index_dir": directory,
        "data_dir": directory,  # a directory named here wins over $SEEKR_DATA_DIR
        "milvus_uri": args.milvus_uri,
        "milvus_collection": args.milvus_collection,
    }
    return StorageSettings(**{k: v for k, v in given.items() if v is not None})


def _backend(args: argparse.Namespace, *, create: bool, index: Path | None = None) -> Backend:
    """The index of `--collection` (a build, watch or import creates a collection that does not exist yet)."""
    catalog = open_catalog(_storage(args, index))
    try:
        name = getattr(args, "collection", DEFAULT_COLLECTION)
        # The default collection's own errors say how to build it; another's says it does not exist.
        return catalog.target(name) if create or name == DEFAULT_COLLECTION else catalog.backend(name)
    finally:
        catalog.close()


def _servers(args: argparse.Namespace) -> EmbedServerSettings:
    """The embedding-server settings: the command line's, then SEEKR_EMBED_* variables."""
    given = {"embed_url": getattr(args, "embed_url", None), "embed_key_file": getattr(args, "embed_key_file", None)}
    try:
        return EmbedServerSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"SEEKR_{'_'.join(str(p) for p in e['loc']).upper() or 'EMBED_*'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"embedding server settings: {problems}") from exc


def _model(args: argparse.Namespace) -> str:
    """`--model`, else the server model SEEKR_EMBED_API and SEEKR_EMBED_MODEL name, else the bundled one."""
    return str(args.model or _servers(args).server_model or DEFAULT_MODEL)


def _embedder(
    args: argparse.Namespace, model: str, prompts: Prompts, endpoint: str | None = None, *, build: bool = False
) -> Embedder:
    """The model on `--runtime` (or its server: `endpoint` is the URL its index recorded) with `prompts` in front
    of texts. A build's passages from a server go through the vector cache, so a stopped build goes on."""
    servers = _servers(args)
    # A URL given here (--embed-url, SEEKR_EMBED_URL) wins over the one the index recorded: the server moved.
    server = servers.server_options(model, None if servers.embed_url else endpoint)
    embedder = load_embedder(model, args.runtime, download=getattr(args, "allow_download", False), server=server)
    if build and server is not None:
        embedder = CachedEmbedder(embedder, VectorCache(servers.embed_cache))
    return with_prompts(embedder, prompts)


def _build_embedder(args: argparse.Namespace, backend: Backend) -> Embedder:
    """What a build embeds with: `--model` with `--query-prompt`/`--passage-prompt`, else the prompts the index
    records for this model, else the model's own."""
    model = _model(args)
    prompts = build_prompts(backend, model, args.query_prompt, args.passage_prompt)
    return _embedder(args, model, prompts, build=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m indexer",
        description="Build and query a semantic search index (FAISS vectors + BM25).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser(
        "build",
        help="index a folder (incremental: only changed files are embedded again)",
        description=(
            "Read SRC recursively (.txt, .md, .html/.htm, .jsonl, .pdf, .docx, .pptx, .odt, .epub, .rtf, .eml), "
            "strip boilerplate from web pages, chunk by sentences in model tokens, embed, and commit a new index "
            "version atomically. Unchanged files are not embedded again; files that disappeared leave the index. "
            "A file that cannot be read is skipped with its reason; every other file is indexed."
        ),
    )
    build.add_argument("source", type=Path, metavar="SRC", help="folder of documents")
    _add_storage(build)
    build.add_argument(
        "--model",
        help="sentence-transformers name or path, or a server model api:name (openai:..., tei:..., ollama:...; "
        "with --embed-url) (default: $SEEKR_EMBED_API:$SEEKR_EMBED_MODEL, else the bundled all-MiniLM-L6-v2)",
    )
    build.add_argument(
        "--chunk-tokens",
        type=int,
        default=_DEFAULTS.chunk_tokens,
        help="chunk size in model tokens (default: %(default)s)",
    )
    build.add_argument(
        "--overlap-tokens",
        type=int,
        default=_DEFAULTS.overlap_tokens,
        help="overlap between chunks in model tokens (default: %(default)s)",
    )
    build.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="embedding batch size (default: %(default)s)")
    _add_runtime(build)
    _add_model_options(build)
    _add_reranker(build, "record a reranker for the collection's searches (none: remove it)")
    build.add_argument(
        "--language",
        choices=supported(),
        metavar="LANG",
        help="the collection's language: auto (each passage's own, detected) or a code (zh, ja, de, ...); another "
        "one than recorded rebuilds the keyword index and re-embeds nothing (default: as recorded; auto for a new "
        "index)",
    )
    build.add_argument(
        "--keep-originals",
        action=argparse.BooleanOptionalAction,
        help="keep the bytes of files later sent over HTTP, to serve them and their pages (default: as recorded; off "
        "for a new index)",
    )
    _add_cleaning(build)
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_reading(build)
    build.add_argument(
        "--report", type=Path, metavar="FILE", help="write what was read and skipped, and why, to FILE (JSON)"
    )

    watch = sub.add_parser(
        "watch",
        help="keep an index current with a folder: apply added, changed, moved and deleted files as they happen",
        description=(
            "Build SRC into the index (incrementally), then watch it: each burst of changes is applied, once the "
            "files stopped changing, through the same incremental, crash-safe build. Stops on Ctrl-C."
        ),
    )
    watch.add_argument("source", type=Path, metavar="SRC", help="folder of documents")
    _add_storage(watch)
    watch.add_argument(
        "--model", help="model name or path, or a server model api:name (default: as for build, else bundled)"
    )
    _add_runtime(watch)
    _add_model_options(watch)
    _add_reranker(watch, "record a reranker for the collection's searches (none: remove it)")
    _add_cleaning(watch)
    _add_reading(watch)
    _add_watching(watch)

    query = sub.add_parser(
        "query",
        help="search an index from the terminal",
        description="Print the ranked passages for a question.",
    )
    query.add_argument(
        "words", nargs="+", metavar="[DIR] QUESTION", help="local index directory (optional), then the question"
    )
    _add_storage(query, index_flag=False)
    query.add_argument("-k", type=int, default=5, help="number of passages (default: %(default)s)")
    query.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        help="retrieval mode (default: the collection's calibrated one, else hybrid)",
    )
    query.add_argument("--model", default=None, help="model name or path (default: the one in the index manifest)")
    _add_runtime(query)
    _add_server_options(query)
    _add_reranker(query, "a reranker for this query instead of the one the collection records")
    query.add_argument("--no-rerank", action="store_true", help="no reranking, even where the collection has one")
    _add_rerank_candidates(query)

    merge_cmd = sub.add_parser(
        "merge",
        help="merge index segments now",
        description=(
            "Apply the local engine's merge policy (the segments of one size tier become one; a segment with many "
            "deleted chunks is rewritten), or with --all merge every segment into one. "
            "Searches and writes by other processes go on meanwhile; the merged segment is committed as a new "
            "version."
        ),
    )
    merge_cmd.add_argument("index", nargs="?", metavar="DIR", help="local index directory (default: $SEEKR_INDEX_DIR)")
    merge_cmd.add_argument("--all", action="store_true", help="merge every segment into one")
    _add_storage(merge_cmd, index_flag=False)

    export_cmd = sub.add_parser(
        "export",
        help="write an index's documents, chunks and vectors to a folder",
        description="Write the committed version's documents with their chunks and vectors to a new folder, to "
        "load into another engine with `import` (nothing is embedded again).",
    )
    export_cmd.add_argument("out", type=Path, metavar="OUT_DIR", help="folder to create")
    _add_storage(export_cmd)

    import_cmd = sub.add_parser(
        "import",
        help="load an exported folder into an index",
        description="Make the index exactly the exported documents, as one new version (documents it held before "
        "are removed). Vectors are loaded as exported: the model and chunking come from the export.",
    )
    import_cmd.add_argument("folder", type=Path, metavar="EXPORT_DIR", help="folder written by `export`")
    _add_storage(import_cmd)

    coll = sub.add_parser(
        "collections",
        help="list, show or drop collections",
        description="The collections of a data directory (or Milvus prefix): each a named index with its own "
        "documents, model and versions. `build SRC --collection NAME` creates one.",
    )
    coll_sub = coll.add_subparsers(dest="action", required=True, metavar="ACTION")
    coll_list = coll_sub.add_parser("list", help="every collection, with its size and model")
    _add_storage(coll_list, collection_flag=False)
    coll_show = coll_sub.add_parser("show", help="one collection's manifest (JSON)")
    coll_show.add_argument("name", metavar="NAME")
    _add_storage(coll_show, collection_flag=False)
    coll_drop = coll_sub.add_parser("drop", help="drop a collection and everything in it (stop servers using it first)")
    coll_drop.add_argument("name", metavar="NAME")
    coll_drop.add_argument("--yes", action="store_true", help="do it (without it, only say what would go)")
    _add_storage(coll_drop, collection_flag=False)

    cal = sub.add_parser(
        "calibrate",
        help="choose a collection's search defaults from judged questions",
        description="Rank every judged question under each search setting (dense, lexical, rrf, dbsf at dense "
        "weights 0.1..0.9), choose the collection's default among dense, lexical and hybrid with equal weights, "
        "and record the choice with its evidence in the collection's manifest (a new version; searches that name "
        "no mode use it). The judgments folder is BEIR-style: queries.jsonl and qrels/test.tsv, with the "
        "collection's document ids.",
    )
    cal.add_argument(
        "words", nargs="+", metavar="[DIR] JUDGMENTS", help="local data directory (optional), then the judgments folder"
    )
    _add_storage(cal, index_flag=False)
    cal.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help="cross-validation folds (default: %(default)s)")
    cal.add_argument("--dry-run", action="store_true", help="measure and print the choice, record nothing")
    cal.add_argument("--json", type=Path, metavar="FILE", help="also write the calibration as JSON")
    _add_runtime(cal)
    _add_server_options(cal)
    _add_rerank_runtime(cal)  # for the collection's own reranker, if it records one
    _add_rerank_candidates(cal)
    uncal = sub.add_parser(
        "uncalibrate",
        help="remove a collection's calibration",
        description="Record a new version without the calibration: the collection searches with the service's "
        "defaults again.",
    )
    uncal.add_argument("index", nargs="?", metavar="DIR", help="local data directory (default: $SEEKR_DATA_DIR)")
    _add_storage(uncal, index_flag=False)

    ev = sub.add_parser(
        "eval",
        help="measure retrieval quality on a BEIR-format data set",
        description=(
            "Index DATASET_DIR/corpus.jsonl with this project's pipeline, run every judged query "
            "(qrels/test.tsv) in each mode and print nDCG@10, Recall@10, Recall@100, MRR@10 and query times, "
            "next to plain baselines (whole-document dense with IndexFlatIP, and BM25) measured in the same run."
        ),
    )
    ev.add_argument(
        "dataset", type=Path, metavar="DATASET_DIR", help="folder with corpus.jsonl, queries.jsonl, qrels/test.tsv"
    )
    ev.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    ev.add_argument("--model", default=DEFAULT_MODEL, help="sentence-transformers name or path (default: %(default)s)")
    ev.add_argument(
        "--chunk-tokens", type=int, default=_DEFAULTS.chunk_tokens, help="chunk size (default: %(default)s)"
    )
    ev.add_argument(
        "--overlap-tokens", type=int, default=_DEFAULTS.overlap_tokens, help="overlap (default: %(default)s)"
    )
    ev.add_argument(
        "--index", type=Path, metavar="DIR", help="keep the evaluation index here (default: a temporary folder)"
    )
    _add_storage(ev, index_flag=False, collection_flag=False)
    ev.add_argument("--no-baselines", action="store_true", help="skip the plain baselines")
    ev.add_argument(
        "--dense-weight",
        type=float,
        default=0.5,
        help="hybrid dbsf: the dense share of the fused score, 0..1 (default: %(default)s)",
    )
    _add_runtime(ev)
    _add_model_options(ev)
    _add_cleaning(ev)
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _cmd_eval(args: argparse.Namespace) -> int:
    if (args.dataset / PAGE_QUESTIONS).is_file():
        return _cmd_eval_pages(args)
    try:
        from indexer.evaluate import evaluate, format_table, load_beir
    except ImportError as exc:
        raise ConfigError(f"`eval` needs the eval extra: pip install 'seekr[eval]' ({exc})") from exc

    cleaning = Cleaning(args.cleaning)
    dataset = load_beir(args.dataset, cleaning)
    config = ChunkingConfig(
        chunk_tokens=args.chunk_tokens,
        overlap_tokens=args.overlap_tokens,
        cleaning=cleaning,
        context=PassageContext(args.context),
    )
    storage = _storage(args)
    backend: Backend | None = None
    if storage.backend is BackendName.milvus and args.milvus_uri:
        backend = open_backend(storage)  # else a temporary Milvus Lite file
    elif storage.backend is BackendName.local and args.index:
        backend = as_backend(Path(args.index))
    embedder = _embedder(args, args.model, build_prompts(backend, args.model, args.query_prompt, args.passage_prompt))
    report = evaluate(
        dataset,
        embedder,
        config,
        backend=backend,
        engine=storage.backend,
        baselines=not args.no_baselines,
        progress=not args.quiet,
        dense_weight=args.dense_weight,
    )
    print(format_table(report))
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


def _cmd_eval_pages(args: argparse.Namespace) -> int:
    """`eval` on a folder with page judgments: its documents built into an index, every question asked."""
    folders = [p for p in sorted(args.dataset.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    if len(folders) != 1:
        raise ConfigError(
            f"{args.dataset} holds {PAGE_QUESTIONS} and {len(folders)} folders; page judgments need exactly one "
            "folder of documents beside them"
        )
    questions = read_page_questions(args.dataset / PAGE_QUESTIONS)
    config = ChunkingConfig(
        chunk_tokens=args.chunk_tokens,
        overlap_tokens=args.overlap_tokens,
        cleaning=Cleaning(args.cleaning),
        context=PassageContext(args.context),
    )
    storage = _storage(args)
    with contextlib.ExitStack() as stack:
        if storage.backend is BackendName.milvus and args.milvus_uri:
            backend = open_backend(storage)
        elif storage.backend is BackendName.local and args.index:
            backend = as_backend(Path(args.index))
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="seekr-eval-")))
            backend = open_backend(
                StorageSettings(backend=storage.backend, index_dir=tmp / "index", milvus_uri=f"{tmp}/eval.db")
            )
        stack.callback(backend.close)
        prompts = build_prompts(backend, args.model, args.query_prompt, args.passage_prompt)
        embedder = _embedder(args, args.model, prompts)
        build = build_index(folders[0], backend, embedder, config, progress=not args.quiet)
        searcher = Searcher(backend.open(), embedder)
        report = PageReport(
            args.dataset.name, build.documents, build.pages, build.chunks, len(questions), build.seconds
        )
        report.rows = evaluate_pages(searcher, questions, PAGE_SYSTEMS, progress=not args.quiet)
    print(format_page_table(report))
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


def _print_build(report: BuildReport) -> None:
    for repair in report.repairs:
        print(f"repaired: {repair}")
    if report.rebuild_reason:
        print(f"full rebuild: {report.rebuild_reason}")
    if report.reranker_changed:
        print(f"reranker: {report.reranker or 'none'} recorded for the collection's searches (nothing re-embedded)")
    if report.changed:
        print(f"committed version {report.version} at {report.location}")
    else:
        print(f"nothing changed: embedded 0 chunks; version {report.version} at {report.location} is current")
    print(
        f"documents: {report.documents} ({report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.deleted} deleted)"
    )
    print(f"chunks: {report.chunks} ({report.embedded_chunks} embedded)")
    removed = ", ".join(f"{rule} {n}" for rule, n in report.removed_lines.items()) or "none"
    print(
        f"cleaning ({report.cleaning.value}): page rules applied to {report.cleaned} of {report.read} documents "
        f"read; lines removed: {removed}"
    )
    kinds = ", ".join(f"{kind} {n}" for kind, n in report.skipped_by_kind.items())
    kinds = f" ({kinds})" if kinds else ""
    print(f"files: {report.files} read, {report.pages} pages; skipped: {len(report.skipped)}{kinds}")
    for skipped in report.skipped:
        print(f"  {skipped.path} [{skipped.kind.value}]: {skipped.reason}")
    if report.skipped_by_kind.get("no_text_layer"):
        scans = report.skipped_by_kind["no_text_layer"]
        print(f"  {scans} scanned file(s) need OCR, which is off: build with --ocr auto")
    if report.ocr_pages:
        print(f"ocr: {report.ocr_pages} pages read from their image")
    shown = ", ".join(f"{code} {n}" for code, n in list(report.languages.items())[:8])
    print(f"languages ({report.language}): {shown or 'none'}")
    if report.language_warning:
        print(f"warning: {report.language_warning}")
    if report.reused_chunks:
        print(f"metadata-only changes kept the vectors of {report.reused_chunks} chunks")
    if report.embedded_chunks and report.embed_seconds > 0:
        rate = report.embedded_chunks / report.embed_seconds
        print(f"embedding: {report.embedded_chunks} chunks in {report.embed_seconds:.1f}s ({rate:.0f} chunks/s)")
    print(f"time: {report.seconds:.1f}s")


def _cmd_build(args: argparse.Namespace) -> int:
    config = ChunkingConfig(
        chunk_tokens=args.chunk_tokens,
        overlap_tokens=args.overlap_tokens,
        cleaning=Cleaning(args.cleaning),
        context=PassageContext(args.context),
        ocr=_ocr(args),
    )
    with closing(_backend(args, create=True)) as backend:
        reranker = _build_reranker(args)
        embedder = _build_embedder(args, backend)
        report = build_index(
            args.source,
            backend,
            embedder,
            config,
            batch_size=args.batch_size,
            progress=not args.quiet,
            max_file_bytes=int(args.max_file_mb * 2**20),
            reranker=reranker,
            language=args.language,
            keep_originals=args.keep_originals,
        )
    _print_build(report)
    if args.report:
        args.report.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"report: {args.report}")
    return 0


def _cmd_watch(args: argparse.Namespace) -> int:
    config = ChunkingConfig(cleaning=Cleaning(args.cleaning), context=PassageContext(args.context), ocr=_ocr(args))
    with closing(_backend(args, create=True)) as backend:
        reranker = _build_reranker(args)
        embedder = _build_embedder(args, backend)
        watcher = FolderWatcher(
            args.source,
            lambda folder: sync_index(folder, backend, embedder, config, reranker=reranker),
            cleaning=config.cleaning,
            ocr=config.ocr,
            max_file_bytes=int(args.max_file_mb * 2**20),
            settle_ms=args.settle_ms,
            poll=args.poll,
            on_build=_print_build,
        )
        try:
            watcher.run()
        except KeyboardInterrupt:
            print("stopped watching")
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    if len(args.words) > 2:
        raise ConfigError(f"query takes [DIR] QUESTION, got {len(args.words)} arguments; quote the question")
    index = Path(args.words[0]) if len(args.words) == 2 else None
    question = args.words[-1]
    with closing(_backend(args, create=False, index=index)) as backend:
        snapshot = backend.open()
        recorded = snapshot.manifest.model
        embedder = _embedder(args, args.model or recorded.id, recorded_prompts(recorded), recorded.endpoint)
        if (warning := snapshot.manifest.runtime_warning(embedder.runtime)) is not None:
            logging.getLogger("indexer").warning(warning)
        defaults = DEFAULTS.calibrated(snapshot.manifest.calibration)
        mode = Mode(args.mode) if args.mode else None
        info = reranker_info(args.reranker, args.rerank_model) if args.reranker else snapshot.manifest.model.reranker
        stages = []
        if info is not None and not args.no_rerank:
            stages.append(RerankStage(_reranker(args, info), args.rerank_candidates))
        result = Searcher(snapshot, embedder, defaults=defaults, stages=stages).search(question, k=args.k, mode=mode)
    reranked = f", {result.rerank}" if result.rerank else ""
    print(f"{len(result.hits)} results for {question!r} ({result.mode}{reranked}, {result.took_ms:.1f} ms)\n")
    for hit in result.hits:
        dense = "-" if hit.dense is None else f"{hit.dense:.3f}"
        lexical = "-" if hit.lexical is None else f"{hit.lexical:.2f}"
        print(f"{hit.rank}. [{hit.score:.4f}] {hit.title}" + (f" \u203a {hit.heading}" if hit.heading else ""))
        where = f"page {hit.page}, " if hit.page else ""
        if hit.rows:
            where += f"{hit.sheet}, " if hit.sheet else ""
            where += f"rows {hit.rows[0]}-{hit.rows[1]}, "
        if hit.ocr_confidence is not None:
            where += f"OCR {hit.ocr_confidence:.2f}, "
        print(
            f"   {hit.source} {where}chars {hit.start}-{hit.end}  dense {dense} (rank {hit.dense_rank or '-'})  "
            f"lexical {lexical} (rank {hit.lexical_rank or '-'})"
            + (f"  introduces {hit.introduces}" if hit.introduces else "")
            + (f"  [{hit.kind}]" if hit.kind else "")
        )
        print(textwrap.indent(textwrap.fill(hit.text, width=100), "   "), end="\n\n")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from indexer.calibrate import calibrate, record
    from indexer.judgments import read_judgments

    if len(args.words) > 2:
        raise ConfigError(f"calibrate takes [DIR] JUDGMENTS, got {len(args.words)} arguments")
    if args.folds < 2:
        raise ConfigError(f"--folds {args.folds}: cross-validation needs at least 2 folds")
    index = Path(args.words[0]) if len(args.words) == 2 else None
    judgments = Path(args.words[-1])
    queries, qrels = read_judgments(judgments)
    with closing(_backend(args, create=False, index=index)) as backend:
        snapshot = backend.open()
        recorded = snapshot.manifest.model
        embedder = _embedder(args, recorded.id, recorded_prompts(recorded), recorded.endpoint)
        # With the collection's reranker, "+ reranker" settings are candidates too.
        info = snapshot.manifest.model.reranker
        stages = [RerankStage(_reranker(args, info), args.rerank_candidates)] if info else []
        searcher = Searcher(snapshot, embedder, stages=stages)
        calibration = calibrate(
            searcher, queries, qrels, judgments=str(judgments.resolve()), folds=args.folds, progress=True
        )
        print(format_calibration(calibration))
        if args.json:
            args.json.write_text(calibration.model_dump_json(indent=2) + "\n", encoding="utf-8")
        if args.dry_run:
            print("\n--dry-run: nothing recorded")
            return 0
        version = record(backend, calibration).version
    print(f"\nrecorded in {backend.location}, version {version}: searches that name no mode use {calibration.chosen}")
    return 0


def _cmd_uncalibrate(args: argparse.Namespace) -> int:
    from indexer.calibrate import record

    with closing(_backend(args, create=False, index=Path(args.index) if args.index else None)) as backend:
        if backend.read_manifest().calibration is None:
            print(f"{backend.location} has no calibration; nothing to do")
            return 0
        version = record(backend, None).version
    print(f"removed the calibration of {backend.location} (version {version}): the service's defaults apply")
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    storage = _storage(args, Path(args.index) if args.index else None)
    if storage.backend is BackendName.milvus:
        print("Milvus compacts its own segments; nothing to do")
        return 0
    backend = _backend(args, create=False, index=Path(args.index) if args.index else None)
    before = backend.open()
    after = backend.merge_all_segments(before) if args.all else backend.merge(before)
    if after is None:
        print("another merge is running; nothing done")
        return 1
    segments = after.manifest.segments
    print(
        f"version {after.version}: {len(segments)} segments (was {len(before.manifest.segments)}), "
        f"{after.manifest.counts.chunks} chunks, {sum(s.deleted_chunks for s in segments)} deleted "
        "chunks kept until their segment is merged"
    )
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from indexer.building.transfer import export

    with closing(_backend(args, create=False)) as backend:
        report = export(backend.open(), args.out)
    print(
        f"exported version {report.version} of {backend.location}: {report.documents} documents, "
        f"{report.chunks} chunks to {args.out}"
    )
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from indexer.building.transfer import import_into

    with closing(_backend(args, create=True)) as backend:
        report = import_into(args.folder, backend)
    print(
        f"imported {report.documents} documents, {report.chunks} chunks into {backend.location} "
        f"(version {report.version})"
    )
    return 0


def _cmd_collections(args: argparse.Namespace) -> int:
    with closing(open_catalog(_storage(args))) as catalog:
        if args.action == "list":
            names = catalog.names()
            print(f"{len(names)} collections in {catalog.location}")
            for name in names:
                m = catalog.info(name).manifest
                print(
                    f"  {name}: {m.counts.documents} documents, {m.counts.chunks} chunks, model {m.model.id}, "
                    f"version {m.version}"
                )
            return 0
        info = catalog.info(args.name)
        if args.action == "show":
            print(
                json.dumps(
                    {"name": info.name, "engine": info.engine.value, "manifest": info.manifest.model_dump(mode="json")},
                    indent=2,
                )
            )
            return 0
        what = f"collection {info.name!r} ({info.manifest.counts.documents} documents) in {catalog.location}"
        if not args.yes:
            print(f"would drop {what}; add --yes to drop it")
            return 1
        catalog.drop(args.name)
        print(f"dropped {what}")
        return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for `python -m indexer` and the `seekr-index` script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log_progress_lines()
    try:
        commands = {
            "build": _cmd_build,
            "watch": _cmd_watch,
            "query": _cmd_query,
            "eval": _cmd_eval,
            "merge": _cmd_merge,
            "export": _cmd_export,
            "import": _cmd_import,
            "collections": _cmd_collections,
            "calibrate": _cmd_calibrate,
            "uncalibrate": _cmd_uncalibrate,
        }
        return commands[args.command](args)
    except IndexerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
