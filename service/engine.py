"""The service's search engine: loads the model and index off the event loop and reports readiness."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum

from indexer.building.builder import BuildReport
from indexer.building.writer import IndexWriter, WriteResult
from indexer.collections import DEFAULT_COLLECTION
from indexer.embed.base import Embedder, canonical_model_id
from indexer.embed.prompts import recorded_prompts, with_prompts
from indexer.errors import EmbeddingServerError, IndexerError, VersionNotKeptError
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.folder import FolderReport
from indexer.manifest import Manifest
from indexer.retrieval.assemble import open_searcher
from indexer.retrieval.defaults import SearchDefaults
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Backend, Snapshot
from indexer.storage.originals import Original, Originals
from indexer.types import Document
from service.errors import NotFoundError, NotReadyError
from service.memory import release_free_memory
from service.models import Models
from service.settings import Settings

log = logging.getLogger(__name__)

WARMUP_QUERY = "warm-up query"
PINNED_VERSIONS = 4  # older index versions kept open for paging


class Status(StrEnum):
    """Lifecycle of the engine."""

    loading = "loading"
    ready = "ready"
    failed = "failed"


class Engine:
    """One collection being served: holds its current Searcher. Swapping it is one reference assignment, so
    readers never wait."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        models: Models,
        *,
        name: str = DEFAULT_COLLECTION,
        model: str | None = None,
    ) -> None:
        """`model`: the model the collection must have been built with (None: whichever its manifest names)."""
        self._settings = settings
        self._backend = backend  # connects on first use, not here
        self._models = models
        self.name = name
        self._model = model
        self.status = Status.loading
        self.error: str | None = None
        self._searcher: Searcher | None = None
        self._writer: IndexWriter | None = None
        self._embedder: Embedder | None = None
        self._swap_lock = threading.Lock()
        self._pinned: dict[int, Searcher] = {}  # older versions pages were pinned to, least recently used first
        self._merger: threading.Thread | None = None
        self._stop_merging = threading.Event()
        self.on_ready: Callable[[Snapshot], None] | None = None

    def precheck(self) -> Manifest:
        """Fail fast, before anything heavy loads, if the index is missing or was built with another model.

        Reads only the manifest; `load` opens and checks the whole version.
        """
        for repair in self._backend.recover():
            log.warning("startup repair in %s: %s", self._backend.location, repair)
        manifest = self._backend.read_manifest()
        if self._model is not None and manifest.model.id != canonical_model_id(self._model):
            manifest.check_model(canonical_model_id(self._model), manifest.model.dimension)
        return manifest

    def load(self) -> None:
        """Load model and index, run a warm-up query, then mark ready (blocking: run it in a thread)."""
        try:
            snapshot = self._backend.open()
            recorded = snapshot.manifest.model
            # The default collection's server is where the settings say (it may have moved); others' where they
            # were built.
            endpoint = recorded.endpoint
            if self.name == DEFAULT_COLLECTION and self._settings.embed_url:
                endpoint = self._settings.embed_url
            embedder, batching = self._models.get(self._model or recorded.id, endpoint, recorded.dimension)
            if (warning := snapshot.manifest.runtime_warning(embedder.runtime)) is not None:
                log.warning(warning)
            # The model is shared by collections; the prompts are this collection's, as its manifest records.
            prompts = recorded_prompts(snapshot.manifest.model)
            writes, queries = with_prompts(embedder, prompts), with_prompts(batching, prompts)
            searcher = self._searcher_for(snapshot, queries)
            try:
                searcher.search(WARMUP_QUERY, k=1, mode=Mode.hybrid)  # hybrid: loads both retrievers
            except EmbeddingServerError as exc:
                # The collection still serves lexical searches; dense ones say why they cannot (503).
                log.warning("collection %s: %s; lexical search works meanwhile", self.name, exc)
                searcher.search(WARMUP_QUERY, k=1, mode=Mode.lexical)
        except IndexerError as exc:
            self.error = str(exc)
            self.status = Status.failed
            log.error("loading collection %s failed: %s", self.name, exc)
            return
        self._embedder = queries  # searches: concurrent queries share forward passes
        self._writer = IndexWriter(self._backend, writes, snapshot)  # writes: already batched
        self._install(snapshot, searcher)
        self.status = Status.ready
        manifest = snapshot.manifest
        log.info(
            "ready: collection %s, %s index version %d, %d documents, %d chunks, model %s",
            self.name,
            self._backend.name.value,
            manifest.version,
            manifest.counts.documents,
            manifest.counts.chunks,
            manifest.model.id,
        )

    def _searcher_for(self, snapshot: Snapshot, embedder: Embedder) -> Searcher:
        settings = self._settings
        return open_searcher(
            snapshot,
            embedder,
            self._models.reranker(snapshot.manifest.model.reranker),
            settings,
            candidates=settings.candidates,
            defaults=self.defaults_for(snapshot),
            long_questions=settings.long_questions,
        )

    @property
    def uses_calibration(self) -> bool:
        """Whether a calibrated collection searches with its calibration's choice (SEEKR_USE_CALIBRATION)."""
        return self._settings.use_calibration

    def defaults_for(self, snapshot: Snapshot) -> SearchDefaults:
        """The settings' search defaults, or the collection's calibrated ones where it has them."""
        settings = self._settings
        defaults = SearchDefaults(fusion=settings.fusion, dense_weight=settings.dense_weight)
        return defaults.calibrated(snapshot.manifest.calibration) if self.uses_calibration else defaults

    def _install(self, snapshot: Snapshot, searcher: Searcher | None = None) -> None:
        """Make `snapshot` the one searches use, unless a newer one is already in place.

        Searches in flight keep the Searcher they started with; the swap is one reference assignment.
        """
        assert self._embedder is not None
        with self._swap_lock:
            current = self._searcher
            if current is not None and current.snapshot.version >= snapshot.version:
                return
            self._searcher = searcher or self._searcher_for(snapshot, self._embedder)
        if self.on_ready is not None:
            self.on_ready(snapshot)

    def write(
        self,
        upserts: Sequence[Document] = (),
        deletes: Sequence[str] = (),
        originals: Mapping[str, Original] | None = None,
    ) -> WriteResult:
        """Apply a write and install its version before returning, so the caller's next search sees it.
        `originals`: the files documents were sent as, by id (kept if the collection keeps them)."""
        if self._writer is None:
            raise NotReadyError("the model and index are still loading; retry in a few seconds (see /readyz)")
        result = self._writer.apply(upserts, deletes, originals=originals)
        if result.committed:
            self._install(result.snapshot)
            release_free_memory()  # the previous version's buffers were just dropped
            self._merge_in_background()
        return result

    def sync_folder(self, folder: FolderReport) -> BuildReport:
        """Bring the index in line with `folder` as read (an incremental build: what `SEEKR_WATCH` applies),
        serialised with the API's writes, and serve the result before returning."""
        if self._writer is None:
            raise NotReadyError("the model and index are still loading; retry in a few seconds (see /readyz)")
        report = self._writer.sync_folder(folder, ChunkingConfig(context=self._settings.context))
        snapshot = self._writer.snapshot
        if report.changed and snapshot is not None:
            self._install(snapshot)
            release_free_memory()
            self._merge_in_background()
        return report

    def _merge_in_background(self) -> None:
        """Start a merge thread if the policy asks for one and none is running (writes never wait for it)."""
        writer = self._writer
        with self._swap_lock:
            if writer is None or not writer.needs_merge() or (self._merger is not None and self._merger.is_alive()):
                return
            self._merger = threading.Thread(target=self._merge, args=(writer,), name="seekr-merge", daemon=True)
            self._merger.start()

    def _merge(self, writer: IndexWriter) -> None:
        try:
            snapshot = writer.merge(self._stop_merging)
        except IndexerError as exc:  # e.g. another process holds the lock: the next write tries again
            log.warning("segment merge skipped: %s", exc)
            return
        self._install(snapshot)
        release_free_memory()
        log.info("merged segments: index version %d has %d segments", snapshot.version, len(snapshot.manifest.segments))

    def refresh(self) -> bool:
        """Install a version committed by another process or worker, if there is one (blocking)."""
        if self._searcher is None:
            return False
        version = self._backend.current_version()
        if version is None or version == self._searcher.snapshot.version:
            return False
        snapshot = self._backend.open(reuse=self._searcher.snapshot)
        self._install(snapshot)
        if self._writer is not None:
            self._writer.adopt(snapshot)
        release_free_memory()
        log.info("picked up index version %d", snapshot.version)
        return True

    def close(self) -> None:
        """Stop a running merge (its partial segment is removed), then close the index (searches must be
        finished; the query batcher is the models', shared)."""
        self._stop_merging.set()
        if self._merger is not None:
            self._merger.join()
        self._backend.close()

    @property
    def backend_name(self) -> str:
        """Which engine keeps the collection: local or milvus."""
        return self._backend.name.value

    @property
    def location(self) -> str:
        """Where the index is: its directory, or the Milvus URI and collection."""
        return self._backend.location

    def originals(self, manifest: Manifest) -> Originals | None:
        """The files the collection keeps, if the version `manifest` describes keeps them (None: it does not)."""
        root = self._backend.originals_root
        return Originals(root) if manifest.keep_originals and root is not None else None

    def searcher_at(self, version: int | None) -> Searcher:
        """The searcher of index version `version` (None or the current one: the current searcher). An older
        version still kept is opened once and kept while it is among the last few asked for, so an agent paging
        through results reads every page from the version its first page came from."""
        current = self.searcher
        if version is None or version == current.snapshot.version:
            return current
        with self._swap_lock:
            pinned = self._pinned.pop(version, None)
        if pinned is None:
            try:
                snapshot = self._backend.open_version(version, reuse=current.snapshot)
            except VersionNotKeptError as exc:
                raise NotFoundError(str(exc)) from exc
            assert self._embedder is not None
            pinned = self._searcher_for(snapshot, self._embedder)
        with self._swap_lock:
            self._pinned[version] = pinned  # most recently used last
            while len(self._pinned) > PINNED_VERSIONS:
                self._pinned.pop(next(iter(self._pinned)))
        return pinned

    @property
    def searcher(self) -> Searcher:
        """The current Searcher; NotReadyError while loading or after a failed load."""
        if self._searcher is None:
            if self.status is Status.failed:
                raise NotReadyError(f"the service failed to load: {self.error}")
            raise NotReadyError("the model and index are still loading; retry in a few seconds (see /readyz)")
        return self._searcher
