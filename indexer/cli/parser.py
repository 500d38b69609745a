"""The `python -m indexer` argument tree: each command and its options."""

from __future__ import annotations

import argparse
from pathlib import Path

from indexer.analysis import supported
from indexer.calibrate import DEFAULT_FOLDS
from indexer.cli.options import (
    CHUNK_DEFAULTS,
    add_cleaning,
    add_model_options,
    add_reading,
    add_rerank_candidates,
    add_rerank_runtime,
    add_reranker,
    add_runtime,
    add_search_options,
    add_server_options,
    add_storage,
    add_watching,
)
from indexer.embed.base import BATCH_SIZE, DEFAULT_MODEL


def build_parser() -> argparse.ArgumentParser:
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
    add_storage(build)
    build.add_argument(
        "--model",
        help="sentence-transformers name or path, or a server model api:name (openai:..., tei:..., ollama:...; "
        "with --embed-url) (default: $SEEKR_EMBED_API:$SEEKR_EMBED_MODEL, else the bundled all-MiniLM-L6-v2)",
    )
    build.add_argument(
        "--chunk-tokens",
        type=int,
        default=CHUNK_DEFAULTS.chunk_tokens,
        help="chunk size in model tokens (default: %(default)s)",
    )
    build.add_argument(
        "--overlap-tokens",
        type=int,
        default=CHUNK_DEFAULTS.overlap_tokens,
        help="overlap between chunks in model tokens (default: %(default)s)",
    )
    build.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="embedding batch size (default: %(default)s)")
    add_runtime(build)
    add_model_options(build)
    add_reranker(build, "record a reranker for the collection's searches (none: remove it)")
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
    add_cleaning(build)
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    add_reading(build)
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
    add_storage(watch)
    watch.add_argument(
        "--model", help="model name or path, or a server model api:name (default: as for build, else bundled)"
    )
    add_runtime(watch)
    add_model_options(watch)
    add_reranker(watch, "record a reranker for the collection's searches (none: remove it)")
    add_cleaning(watch)
    add_reading(watch)
    add_watching(watch)

    query = sub.add_parser(
        "query",
        help="search an index from the terminal",
        description="Print the ranked passages for a question.",
    )
    query.add_argument(
        "words", nargs="+", metavar="[DIR] QUESTION", help="local index directory (optional), then the question"
    )
    add_storage(query, index_flag=False)
    query.add_argument("--model", default=None, help="model name or path (default: the one in the index manifest)")
    add_runtime(query)
    add_server_options(query)
    add_reranker(query, "a reranker for this query instead of the one the collection records")
    add_search_options(query)  # --rerank-candidates among them: the reranker stage's default too

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
    add_storage(merge_cmd, index_flag=False)

    export_cmd = sub.add_parser(
        "export",
        help="write an index's documents, chunks and vectors to a folder",
        description="Write the committed version's documents with their chunks and vectors to a new folder, to "
        "load into another engine with `import` (nothing is embedded again).",
    )
    export_cmd.add_argument("out", type=Path, metavar="OUT_DIR", help="folder to create")
    add_storage(export_cmd)

    import_cmd = sub.add_parser(
        "import",
        help="load an exported folder into an index",
        description="Make the index exactly the exported documents, as one new version (documents it held before "
        "are removed). Vectors are loaded as exported: the model and chunking come from the export.",
    )
    import_cmd.add_argument("folder", type=Path, metavar="EXPORT_DIR", help="folder written by `export`")
    add_storage(import_cmd)

    coll = sub.add_parser(
        "collections",
        help="list, show or drop collections",
        description="The collections of a data directory (or Milvus prefix): each a named index with its own "
        "documents, model and versions. `build SRC --collection NAME` creates one.",
    )
    coll_sub = coll.add_subparsers(dest="action", required=True, metavar="ACTION")
    coll_list = coll_sub.add_parser("list", help="every collection, with its size and model")
    add_storage(coll_list, collection_flag=False)
    coll_show = coll_sub.add_parser("show", help="one collection's manifest (JSON)")
    coll_show.add_argument("name", metavar="NAME")
    add_storage(coll_show, collection_flag=False)
    coll_drop = coll_sub.add_parser("drop", help="drop a collection and everything in it (stop servers using it first)")
    coll_drop.add_argument("name", metavar="NAME")
    coll_drop.add_argument("--yes", action="store_true", help="do it (without it, only say what would go)")
    add_storage(coll_drop, collection_flag=False)

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
    add_storage(cal, index_flag=False)
    cal.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help="cross-validation folds (default: %(default)s)")
    cal.add_argument("--dry-run", action="store_true", help="measure and print the choice, record nothing")
    cal.add_argument("--json", type=Path, metavar="FILE", help="also write the calibration as JSON")
    add_runtime(cal)
    add_server_options(cal)
    add_rerank_runtime(cal)  # for the collection's own reranker, if it records one
    add_rerank_candidates(cal)
    uncal = sub.add_parser(
        "uncalibrate",
        help="remove a collection's calibration",
        description="Record a new version without the calibration: the collection searches with the service's "
        "defaults again.",
    )
    uncal.add_argument("index", nargs="?", metavar="DIR", help="local data directory (default: $SEEKR_DATA_DIR)")
    add_storage(uncal, index_flag=False)

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
        "--chunk-tokens", type=int, default=CHUNK_DEFAULTS.chunk_tokens, help="chunk size (default: %(default)s)"
    )
    ev.add_argument(
        "--overlap-tokens", type=int, default=CHUNK_DEFAULTS.overlap_tokens, help="overlap (default: %(default)s)"
    )
    ev.add_argument(
        "--index", type=Path, metavar="DIR", help="keep the evaluation index here (default: a temporary folder)"
    )
    add_storage(ev, index_flag=False, collection_flag=False)
    ev.add_argument("--no-baselines", action="store_true", help="skip the plain baselines")
    ev.add_argument(
        "--dense-weight",
        type=float,
        default=0.5,
        help="hybrid dbsf: the dense share of the fused score, 0..1 (default: %(default)s)",
    )
    add_runtime(ev)
    add_model_options(ev)
    add_cleaning(ev)
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser
