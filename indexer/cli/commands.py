"""The commands of `python -m indexer`, one function each."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import tempfile
import textwrap
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from indexer.building.builder import BuildReport, build_index, build_prompts, sync_index
from indexer.building.watch import FolderWatcher
from indexer.calibrate import format_calibration
from indexer.catalog import open_catalog
from indexer.cli.options import (
    backend_for,
    build_embedder,
    build_reranker,
    embedder_for,
    load_reranker_for,
    ocr_settings,
    rerank_options,
    search_from_args,
    storage_settings,
)
from indexer.embed.prompts import recorded_prompts
from indexer.errors import ConfigError
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.clean import Cleaning
from indexer.ingest.read_options import ReadOptions
from indexer.page_eval import (
    PAGE_QUESTIONS,
    PAGE_SYSTEMS,
    PageReport,
    evaluate_pages,
    format_page_table,
    read_page_questions,
)
from indexer.rerank.factory import reranker_info
from indexer.retrieval.assemble import open_searcher
from indexer.retrieval.defaults import DEFAULTS
from indexer.storage.base import Backend
from indexer.storage.factory import as_backend, open_backend
from indexer.storage.settings import BackendName, StorageSettings
from indexer.types import PassageContext


def cmd_eval(args: argparse.Namespace) -> int:
    if (args.dataset / PAGE_QUESTIONS).is_file():
        return cmd_eval_pages(args)
    try:
        from indexer.evaluate import evaluate, format_table, load_beir
    except ImportError as exc:
        raise ConfigError(f"`eval` needs the eval extra: pip install 'seekr[eval]' ({exc})") from exc

    cleaning = Cleaning(args.cleaning)
    dataset = load_beir(args.dataset, cleaning)
    config = ChunkingConfig(
        chunk_tokens=args.chunk_tokens, overlap_tokens=args.overlap_tokens, context=PassageContext(args.context)
    )
    storage = storage_settings(args)
    backend: Backend | None = None
    if storage.backend is BackendName.milvus and args.milvus_uri:
        backend = open_backend(storage)  # else a temporary Milvus Lite file
    elif storage.backend is BackendName.local and args.index:
        backend = as_backend(Path(args.index))
    embedder = embedder_for(
        args, args.model, build_prompts(backend, args.model, args.query_prompt, args.passage_prompt)
    )
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


def cmd_eval_pages(args: argparse.Namespace) -> int:
    """`eval` on a folder with page judgments: its documents built into an index, every question asked."""
    folders = [p for p in sorted(args.dataset.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    if len(folders) != 1:
        raise ConfigError(
            f"{args.dataset} holds {PAGE_QUESTIONS} and {len(folders)} folders; page judgments need exactly one "
            "folder of documents beside them"
        )
    questions = read_page_questions(args.dataset / PAGE_QUESTIONS)
    config = ChunkingConfig(
        chunk_tokens=args.chunk_tokens, overlap_tokens=args.overlap_tokens, context=PassageContext(args.context)
    )
    storage = storage_settings(args)
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
        embedder = embedder_for(args, args.model, prompts)
        read = ReadOptions(Cleaning(args.cleaning))
        build = build_index(folders[0], backend, embedder, config, read=read, progress=not args.quiet)
        searcher = open_searcher(backend.open(), embedder)
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


def cmd_build(args: argparse.Namespace) -> int:
    config = ChunkingConfig(
        chunk_tokens=args.chunk_tokens, overlap_tokens=args.overlap_tokens, context=PassageContext(args.context)
    )
    read = ReadOptions(Cleaning(args.cleaning), ocr_settings(args))
    with closing(backend_for(args, create=True)) as backend:
        reranker = build_reranker(args)
        embedder = build_embedder(args, backend)
        report = build_index(
            args.source,
            backend,
            embedder,
            config,
            read=read,
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


def cmd_watch(args: argparse.Namespace) -> int:
    config = ChunkingConfig(context=PassageContext(args.context))
    read = ReadOptions(Cleaning(args.cleaning), ocr_settings(args))
    with closing(backend_for(args, create=True)) as backend:
        reranker = build_reranker(args)
        embedder = build_embedder(args, backend)
        watcher = FolderWatcher(
            args.source,
            lambda folder: sync_index(folder, backend, embedder, config, reranker=reranker),
            read=read,
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


def cmd_query(args: argparse.Namespace) -> int:
    if len(args.words) > 2:
        raise ConfigError(f"query takes [DIR] QUESTION, got {len(args.words)} arguments; quote the question")
    index = Path(args.words[0]) if len(args.words) == 2 else None
    question = args.words[-1]
    with closing(backend_for(args, create=False, index=index)) as backend:
        snapshot = backend.open()
        recorded = snapshot.manifest.model
        embedder = embedder_for(args, args.model or recorded.id, recorded_prompts(recorded), recorded.endpoint)
        if (warning := snapshot.manifest.runtime_warning(embedder.runtime)) is not None:
            logging.getLogger("indexer").warning(warning)
        defaults = DEFAULTS.calibrated(snapshot.manifest.calibration)
        info = reranker_info(args.reranker, args.rerank_model) if args.reranker else snapshot.manifest.model.reranker
        reranker = load_reranker_for(args, info) if info is not None and args.rerank is not False else None
        searcher = open_searcher(snapshot, embedder, reranker, rerank_options(args), defaults=defaults)
        options, restriction = search_from_args(args)
        result = searcher.search(question, options, where=restriction)
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
        for passage in hit.before:
            print(textwrap.indent(textwrap.fill(passage.text, width=100), "   ... "))
        print(textwrap.indent(textwrap.fill(hit.text, width=100), "   "))
        for passage in hit.after:
            print(textwrap.indent(textwrap.fill(passage.text, width=100), "   ... "))
        print()
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from indexer.calibrate import calibrate, record
    from indexer.judgments import read_judgments

    if len(args.words) > 2:
        raise ConfigError(f"calibrate takes [DIR] JUDGMENTS, got {len(args.words)} arguments")
    if args.folds < 2:
        raise ConfigError(f"--folds {args.folds}: cross-validation needs at least 2 folds")
    index = Path(args.words[0]) if len(args.words) == 2 else None
    judgments = Path(args.words[-1])
    queries, qrels = read_judgments(judgments)
    with closing(backend_for(args, create=False, index=index)) as backend:
        snapshot = backend.open()
        recorded = snapshot.manifest.model
        embedder = embedder_for(args, recorded.id, recorded_prompts(recorded), recorded.endpoint)
        # With the collection's reranker, "+ reranker" settings are candidates too.
        info = snapshot.manifest.model.reranker
        reranker = load_reranker_for(args, info) if info else None
        searcher = open_searcher(snapshot, embedder, reranker, rerank_options(args))
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


def cmd_uncalibrate(args: argparse.Namespace) -> int:
    from indexer.calibrate import record

    with closing(backend_for(args, create=False, index=Path(args.index) if args.index else None)) as backend:
        if backend.read_manifest().calibration is None:
            print(f"{backend.location} has no calibration; nothing to do")
            return 0
        version = record(backend, None).version
    print(f"removed the calibration of {backend.location} (version {version}): the service's defaults apply")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    storage = storage_settings(args, Path(args.index) if args.index else None)
    if storage.backend is BackendName.milvus:
        print("Milvus compacts its own segments; nothing to do")
        return 0
    backend = backend_for(args, create=False, index=Path(args.index) if args.index else None)
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


def cmd_export(args: argparse.Namespace) -> int:
    from indexer.building.transfer import export

    with closing(backend_for(args, create=False)) as backend:
        report = export(backend.open(), args.out)
    print(
        f"exported version {report.version} of {backend.location}: {report.documents} documents, "
        f"{report.chunks} chunks to {args.out}"
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from indexer.building.transfer import import_into

    with closing(backend_for(args, create=True)) as backend:
        report = import_into(args.folder, backend)
    print(
        f"imported {report.documents} documents, {report.chunks} chunks into {backend.location} "
        f"(version {report.version})"
    )
    return 0


def cmd_collections(args: argparse.Namespace) -> int:
    with closing(open_catalog(storage_settings(args))) as catalog:
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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "build": cmd_build,
    "watch": cmd_watch,
    "query": cmd_query,
    "eval": cmd_eval,
    "merge": cmd_merge,
    "export": cmd_export,
    "import": cmd_import,
    "collections": cmd_collections,
    "calibrate": cmd_calibrate,
    "uncalibrate": cmd_uncalibrate,
}
