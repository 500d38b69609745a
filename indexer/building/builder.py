"""Incremental build: bring an index in line with a folder, embedding only what changed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from indexer.analysis import AUTO, CURRENT, LANGUAGES, Analyzer, supported
from indexer.building.sentences import marked, relabelled
from indexer.embed.base import BATCH_SIZE, Embedder, Prompts, canonical_model_id, encode_with_spans
from indexer.embed.languages import model_languages
from indexer.embed.prompts import recorded_prompts
from indexer.embed.runtime import default_prompts
from indexer.errors import ConfigError, IndexCorruptError, IndexNotFoundError
from indexer.ingest.chunking import ChunkingConfig, chunk_document, sentences_of
from indexer.ingest.clean import RULES_VERSION, Cleaning
from indexer.ingest.documents import DEFAULT_MAX_FILE_BYTES
from indexer.ingest.folder import FolderReport, read_folder
from indexer.ingest.read_options import ReadOptions
from indexer.ingest.readers.base import Skipped, count_by_kind
from indexer.manifest import ChunkingInfo, Manifest, ModelInfo, RerankerInfo, SourceInfo
from indexer.progress import progress_bar
from indexer.storage.base import Backend, Snapshot, commit, lexical_analyzer, new_lexical
from indexer.storage.factory import as_backend
from indexer.types import PROVENANCE, Chunk, Document, DocumentUpdate, matched_text

log = logging.getLogger(__name__)

ORIGIN_BUILD = "build"


class Keep(Enum):
    """A build that keeps what the index records (the reranker) unless told otherwise."""

    keep = "keep"


KEEP = Keep.keep


@dataclass
class BuildReport:
    """What a build did."""

    location: str  # where the index is (a directory, or a Milvus collection)
    version: int
    documents: int
    chunks: int
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    embedded_chunks: int = 0
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)
    rebuild_reason: str | None = None
    cleaning: Cleaning = Cleaning.auto
    read: int = 0  # documents read from the folder
    cleaned: int = 0  # ... of which the scraped-page rules applied to
    removed_lines: dict[str, int] = field(default_factory=dict)  # lines those rules removed, per rule
    repairs: list[str] = field(default_factory=list)  # what a writer that died had left, undone first
    files: int = 0  # files looked at in the folder
    pages: int = 0  # pages and slides read from paged formats
    ocr_pages: int = 0  # of them, pages whose text was recognised from their image (OCR)
    reused_chunks: int = 0  # chunks of documents whose metadata alone changed: their vectors were kept
    embed_seconds: float = 0.0  # spent chunking and embedding the embedded chunks (the model's or server's rate)
    reranker_changed: bool = False  # the build recorded another reranker (nothing is re-embedded for it)
    reranker: str | None = None  # the reranker the index records after the build
    language: str = "auto"  # the collection's language setting
    languages: dict[str, int] = field(default_factory=dict)  # passages per language, as analysed
    language_warning: str | None = None  # most passages in languages the model was not trained on

    @property
    def skipped_by_kind(self) -> dict[str, int]:
        """How many files (or JSONL lines) were skipped, per reason code, most first."""
        return count_by_kind(self.skipped)

    def to_json(self) -> dict[str, Any]:
        """The report as `indexer build --report FILE` writes it."""
        return {
            "location": self.location,
            "version": self.version,
            "files": self.files,
            "pages": self.pages,
            "ocr_pages": self.ocr_pages,
            "documents": self.documents,
            "chunks": self.chunks,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "embedded_chunks": self.embedded_chunks,
            "reused_chunks": self.reused_chunks,
            "embed_seconds": round(self.embed_seconds, 3),
            "seconds": round(self.seconds, 3),
            "language": self.language,
            "languages": self.languages,
            "language_warning": self.language_warning,
            "skipped_by_kind": self.skipped_by_kind,
            "skipped": [{"path": s.path, "kind": s.kind.value, "reason": s.reason} for s in self.skipped],
        }

    @property
    def changed(self) -> bool:
        """Whether a new version was committed."""
        return bool(self.added or self.updated or self.deleted or self.rebuild_reason or self.reranker_changed)


def model_info(embedder: Embedder) -> ModelInfo:
    """The manifest's description of `embedder`."""
    return ModelInfo(
        id=embedder.model_id,
        dimension=embedder.dimension,
        max_tokens=embedder.max_tokens,
        runtime=embedder.runtime,
        query_prompt=embedder.prompts.query,
        passage_prompt=embedder.prompts.passage,
        endpoint=embedder.endpoint,
        languages=model_languages(embedder.model_id),
    )


def build_prompts(backend: Backend | None, model: str, query: str | None = None, passage: str | None = None) -> Prompts:
    """The prompts a build of `backend` with `model` puts in front of texts: those asked for; else, where the index
    already holds this model's vectors, the prompts it records (a build never changes them unasked, which would
    embed everything again); else the model's own."""
    own: Prompts | None = None
    if backend is not None and backend.current_version() is not None:
        recorded = backend.read_manifest().model
        if recorded.id == canonical_model_id(model):
            own = recorded_prompts(recorded)
    if own is None:
        own = default_prompts(model)
    return Prompts(own.query if query is None else query, own.passage if passage is None else passage)


def chunking_info(config: ChunkingConfig, read: ReadOptions | None = None) -> ChunkingInfo:
    """The manifest's description of `config`, of how files are `read` (None: the defaults), and of the cleaning
    rules in force."""
    read = read or ReadOptions()
    return ChunkingInfo(
        chunk_tokens=config.chunk_tokens,
        overlap_tokens=config.overlap_tokens,
        language=config.language,
        cleaning_rules=RULES_VERSION,
        titles=config.titles,
        cleaning=read.cleaning.value,
        context=config.context.value,
        ocr=read.ocr.describe(),
    )


def prepare_updates(
    docs: list[Document],
    origins: dict[str, str],
    embedder: Embedder,
    config: ChunkingConfig,
    *,
    analyzer: Analyzer | None = None,
    reads: Callable[[str], bool] = lambda _language: True,
    batch_size: int = BATCH_SIZE,
    progress: bool = False,
) -> list[DocumentUpdate]:
    """Chunk and embed documents (one encode call for all chunks, so batches are full and length-sorted). Each
    chunk also gets what its highlight needs (`indexer.building.sentences`): its sentences' terms as `analyzer`
    makes them (None: none), and their vectors where the embedder pools token states and the model `reads` the
    passage's language."""
    chunked: list[tuple[Document, list[Chunk]]] = []
    for doc in progress_bar(docs, desc="chunking", unit="doc", enabled=progress):
        chunked.append((doc, chunk_document(doc, embedder.token_spans, config)))
    context = config.passage_context
    texts = [
        _fit(matched_text(doc.title, c.text, c.start, context, source=doc.source, heading=c.heading), c, embedder)
        for doc, chunks in chunked
        for c in chunks
    ]
    passages = [c.text for _, chunks in chunked for c in chunks]
    spans = [sentences_of(p) for p in passages]
    # The passage ends its embedded text (its context comes first): its sentences are moved there.
    placed = [
        [(start + len(t) - len(p), end + len(t) - len(p)) for start, end in sp]
        for t, p, sp in zip(texts, passages, spans, strict=True)
    ]
    vectors, pieces = encode_with_spans(embedder, texts, placed, batch_size=batch_size, progress=progress)
    updates: list[DocumentUpdate] = []
    offset = 0
    for doc, chunks in chunked:
        rows = vectors[offset : offset + len(chunks)]
        marks = [
            marked(c, spans[offset + i], analyzer, pieces[offset + i] if pieces is not None else None, reads)
            for i, c in enumerate(chunks)
        ]
        offset += len(chunks)
        updates.append(DocumentUpdate(doc, origins[doc.doc_id], marks, np.asarray(rows)))
    return updates


def reuse_vectors(
    base: Snapshot, docs: list[Document], origins: dict[str, str], analyzer: Analyzer
) -> list[DocumentUpdate]:
    """Updates for the documents of `docs` whose stored text and title are unchanged (their metadata alone
    changed, e.g. a file touched or its front matter edited, or the collection's language): their passages and
    vectors are taken from `base` instead of being embedded again, their sentences' terms made again where
    `analyzer` analyses otherwise. The chunking settings are `base`'s, or the build would be a rebuild."""
    stored = base.store.documents_of([d.doc_id for d in docs])
    same = [d for d in docs if (s := stored.get(d.doc_id)) is not None and (s.text, s.title) == (d.text, d.title)]
    if not same:
        return []
    chunk_ids = base.store.chunk_ids_of([d.doc_id for d in same])
    all_ids = [cid for d in same for cid in chunk_ids.get(d.doc_id, [])]
    records = base.store.chunks(all_ids)
    vectors = base.vectors.reconstruct_batch(all_ids) if all_ids else np.zeros((0, 0), dtype=np.float32)
    row_of = {cid: row for row, cid in enumerate(all_ids)}
    updates = []
    for doc in same:
        ids = chunk_ids.get(doc.doc_id, [])
        chunks = [
            relabelled(
                Chunk(r.ordinal, r.start, r.end, r.text, 0, *(getattr(r, name) for name in PROVENANCE)), analyzer
            )
            for r in (records[c] for c in ids)
        ]
        rows = vectors[[row_of[c] for c in ids]] if ids else np.zeros((0, vectors.shape[1]), dtype=np.float32)
        updates.append(DocumentUpdate(doc, origins[doc.doc_id], chunks, rows))
    return updates


# Most model tokens of context (title, heading) embedded in front of a passage. The context is cut at
# TITLE_CHARS characters, about 50 tokens of English; in Chinese or Japanese, one token per character, the same
# characters made a 200-token prefix, repeated in every passage of the document: it outweighed the passage in
# its vector and doubled the tokens embedded (python -m bench languages).
CONTEXT_TOKENS = 64


def _fit(text: str, chunk: Chunk, embedder: Embedder) -> str:
    """`text` (context + passage) with its context cut to `CONTEXT_TOKENS` model tokens, and further so that the
    model never truncates the passage."""
    extra = len(text) - len(chunk.text)
    if extra == 0:
        return text
    spans = embedder.token_spans(text[:extra])
    budget = min(CONTEXT_TOKENS, embedder.max_tokens - chunk.n_tokens)
    if len(spans) <= budget:
        return text
    title = text[: spans[budget - 1][1]] if budget > 0 else ""
    return f"{title}\n{chunk.text}" if title else chunk.text


def _compatibility_problem(base: Snapshot, model: ModelInfo, chunking: ChunkingInfo) -> str | None:
    # A server moved, or another reranker: the same vectors.
    old = base.manifest.model.model_copy(
        update={"endpoint": model.endpoint, "reranker": model.reranker, "languages": model.languages}
    )
    if old != model:
        if (old.id, old.dimension) != (model.id, model.dimension):
            return f"model changed ({old.id} -> {model.id})"
        if (old.query_prompt, old.passage_prompt) != (model.query_prompt, model.passage_prompt):
            return (
                f"prompts changed (query {old.query_prompt!r} -> {model.query_prompt!r}, passage "
                f"{old.passage_prompt!r} -> {model.passage_prompt!r})"
            )
        if old.runtime != model.runtime:
            return f"runtime changed ({old.runtime} -> {model.runtime}); vectors of one index come from one runtime"
        return f"model changed ({old.id} -> {model.id})"
    before = base.manifest.chunking.model_copy(update={"ocr": chunking.ocr})
    if before != chunking:
        if before.model_copy(update={"context": chunking.context}) == chunking:
            return f"passage context changed ({before.context} -> {chunking.context})"
        return "chunking or cleaning settings changed"
    return None


def build_index(
    source: Path,
    index: Path | Backend,
    embedder: Embedder,
    config: ChunkingConfig | None = None,
    *,
    read: ReadOptions | None = None,
    batch_size: int = BATCH_SIZE,
    progress: bool = False,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    reranker: RerankerInfo | Keep | None = KEEP,
    language: str | None = None,
    keep_originals: bool | None = None,
) -> BuildReport:
    """Index every supported file under `source` into `index` (a directory: the local engine), re-embedding
    only changed documents (files over `max_file_bytes` are skipped).

    Documents that came from an earlier build of a folder and whose files are gone are deleted; documents
    added through the API (origin 'api') are left alone. If the model, chunking or cleaning rules differ
    from the existing index, everything (API documents included, from their stored text) is re-embedded.
    """
    if not source.is_dir():
        raise ConfigError(f"source folder {source} does not exist or is not a directory")
    read = read or ReadOptions()
    folder = read_folder(source, read, max_file_bytes=max_file_bytes, progress=progress)
    return sync_index(
        folder,
        index,
        embedder,
        config,
        batch_size=batch_size,
        progress=progress,
        reranker=reranker,
        language=language,
        keep_originals=keep_originals,
    )


def sync_index(
    folder: FolderReport,
    index: Path | Backend,
    embedder: Embedder,
    config: ChunkingConfig | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    progress: bool = False,
    merge: bool = True,
    reranker: RerankerInfo | Keep | None = KEEP,
    language: str | None = None,
    keep_originals: bool | None = None,
) -> BuildReport:
    """Make the build-origin documents of `index` exactly `folder.documents` (see `build_index`); then merge
    segments if the policy asks (`merge=False`: the caller merges, e.g. a server in the background).
    `reranker`: the one the index records from now on (None: none; KEEP: the one it records already).
    `language`: the collection's (`auto` or a code; None: the one it records, `auto` for a new index). Another
    language, or an index analysed by an earlier analyzer, gets a new lexical index; no vector is re-embedded.
    `keep_originals`: whether files sent over HTTP keep their bytes from now on (None: as recorded; off for a new
    index)."""
    if language is not None and language != AUTO and language not in LANGUAGES:
        raise ConfigError(f"unknown language {language!r}; supported: {', '.join(supported())}")
    started = time.perf_counter()
    config = config or ChunkingConfig()
    config.validate(embedder.max_tokens)
    model, chunking = model_info(embedder), chunking_info(config, folder.read)

    backend = as_backend(index)
    # A build is a writer: it first undoes what a writer that died left, even if it then has nothing to do.
    repairs = backend.recover()
    with backend.write_lock():
        rebuild_reason = None
        try:
            base: Snapshot | None = backend.open()
        except IndexNotFoundError:
            base = None
        except IndexCorruptError as exc:
            # An unreadable or older-format version is replaced by a complete new one; nothing is lost
            # that the source folder does not hold (it stays on disk until pruned after the commit).
            base, rebuild_reason = None, f"existing index unusable ({exc})"
        recorded = base.manifest.model.reranker if base is not None else None
        model = model.model_copy(update={"reranker": recorded if isinstance(reranker, Keep) else reranker})
        if base is not None:
            rebuild_reason = _compatibility_problem(base, model, chunking)
        lexical = None  # the base's analysis
        relex = False  # only the analysis changed: every vector is kept
        if base is not None:
            recorded_lexical = base.manifest.lexical
            keep_language = recorded_lexical.language if recorded_lexical.analyzer == CURRENT else AUTO
            wanted_lexical = new_lexical(language or keep_language)
            if not recorded_lexical.same_analysis(wanted_lexical):
                lexical = wanted_lexical
                if rebuild_reason is None:
                    relex = True
                    rebuild_reason = (
                        f"analysis changed ({recorded_lexical.analyzer} {recorded_lexical.language} -> "
                        f"{wanted_lexical.analyzer} {wanted_lexical.language}); vectors kept"
                    )
            elif rebuild_reason is not None:
                lexical = wanted_lexical  # a rebuild starts from no version: its analysis is carried over
        elif language is not None:
            lexical = new_lexical(language)
        existing = base.store.hashes() if base and not rebuild_reason else {}
        # Without a usable base, API documents an index of the old format held are carried over (read once).
        legacy = backend.legacy_api_documents() if base is None else []
        origins_before = base.store.origins() if base else {d.doc_id: "api" for d in legacy}

        wanted = {d.doc_id: d for d in folder.documents}
        to_embed = [d for d in folder.documents if existing.get(d.doc_id) != d.content_hash]
        origins = {d.doc_id: ORIGIN_BUILD for d in to_embed}
        deletes = [
            doc_id for doc_id, origin in origins_before.items() if origin == ORIGIN_BUILD and doc_id not in wanted
        ]
        if rebuild_reason:
            # API documents survive a rebuild: re-embed them from their stored cleaned text.
            for stored in base.store.documents(origin="api") if base else legacy:
                if stored.doc_id not in wanted:
                    to_embed.append(stored.to_document())
                    origins[stored.doc_id] = "api"
        report = BuildReport(
            location=backend.location,
            version=base.version if base else 0,
            documents=0,
            chunks=0,
            added=sum(1 for d in to_embed if d.doc_id not in origins_before),
            updated=sum(1 for d in to_embed if d.doc_id in origins_before),
            unchanged=len(folder.documents) - sum(1 for d in to_embed if d.doc_id in wanted),
            deleted=len(deletes),
            skipped=folder.skipped,
            rebuild_reason=rebuild_reason,
            cleaning=folder.read.cleaning,
            read=len(folder.documents),
            cleaned=folder.cleaned,
            removed_lines=dict(folder.removed.most_common()),
            repairs=repairs,
            files=folder.files,
            pages=folder.pages,
            ocr_pages=folder.ocr_pages,
        )
        source = SourceInfo(
            files=folder.files,
            folder=str(folder.root) if folder.root is not None else None,
            pages=folder.pages,
            ocr_pages=folder.ocr_pages,
            skipped=folder.skipped_by_kind(),
        )
        report.reranker_changed = recorded != model.reranker
        report.reranker = model.reranker.describe() if model.reranker else None
        keep = keep_originals if keep_originals is not None else base is not None and base.manifest.keep_originals
        if (
            base is not None
            and not report.changed
            and base.manifest.source == source
            and keep == base.manifest.keep_originals
        ):
            report.documents, report.chunks = base.manifest.counts.documents, base.manifest.counts.chunks
            _report_languages(report, base.manifest)
            report.seconds = time.perf_counter() - started
            return report

        # The analysis the new version is made with: set anew, or the base's when it is kept.
        analyzer = lexical_analyzer(lexical or (base.manifest.lexical if base is not None else new_lexical()))
        reused = (
            [] if (rebuild_reason and not relex) or base is None else reuse_vectors(base, to_embed, origins, analyzer)
        )
        kept = {u.document.doc_id for u in reused}
        to_embed = [d for d in to_embed if d.doc_id not in kept]
        embedding = time.perf_counter()
        updates = prepare_updates(
            to_embed,
            origins,
            embedder,
            config,
            analyzer=analyzer,
            reads=model.reads,
            batch_size=batch_size,
            progress=progress,
        )
        report.embed_seconds = time.perf_counter() - embedding
        report.embedded_chunks = sum(len(u.chunks) for u in updates)
        report.reused_chunks = sum(len(u.chunks) for u in reused)
        tx = backend.transaction(None if rebuild_reason else base, model, chunking, lexical)
        tx.keep_originals(keep)  # a rebuild starts from no version: the setting is carried over
        snapshot = commit(
            tx,
            upserts=reused + updates,
            deletes=[] if rebuild_reason else deletes,
            build_seconds=time.perf_counter() - started,
            source=source,
        )
    # Compact after the build has committed and released the lock (searches see the build meanwhile).
    if merge:
        snapshot = backend.merge(snapshot)
    report.version = snapshot.version
    report.documents, report.chunks = snapshot.manifest.counts.documents, snapshot.manifest.counts.chunks
    _report_languages(report, snapshot.manifest)
    report.seconds = time.perf_counter() - started
    return report


def _report_languages(report: BuildReport, manifest: Manifest) -> None:
    report.language = manifest.lexical.language
    report.languages = dict(manifest.lexical.languages)
    report.language_warning = manifest.language_warning()
    if report.language_warning:
        log.warning("%s", report.language_warning)
