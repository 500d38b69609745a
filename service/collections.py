"""The service's collections: the catalog, the engines of the open ones, and their admission gates.

A collection opens on first use (its index loads, its model is shared with every collection of that model) and
stays open while it is among the `max_open_collections` most recently used; past that, the least recently used
one with no request in flight is closed. The default collection opens at start and stays open, since /readyz
reports it. Dropping a collection turns new requests away at once, waits for those in flight to finish on their
snapshot, closes it and only then drops it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

from indexer.analysis import AUTO
from indexer.building.builder import build_prompts, chunking_info, model_info
from indexer.catalog import Catalog, CollectionInfo, open_catalog
from indexer.collections import DEFAULT_COLLECTION, check_name, not_found
from indexer.embed.prompts import with_prompts
from indexer.errors import IndexNotFoundError
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.read_options import ReadOptions
from indexer.manifest import Manifest, RerankerInfo
from indexer.storage.base import Snapshot
from service.admission import Admission
from service.engine import Engine, Status
from service.errors import NotReadyError
from service.models import Models
from service.settings import Settings

log = logging.getLogger(__name__)


class Collections:
    """Every collection of the data directory, and those of them open in this process."""

    def __init__(
        self,
        settings: Settings,
        models: Models,
        admission: Callable[[str], Admission],
        on_index: Callable[[str, Snapshot], None] | None = None,
        on_close: Callable[[str], None] | None = None,
    ) -> None:
        """`admission(name)` makes a collection's gates; `on_index(name, snapshot)` is called whenever a
        collection serves a new version (to report it), `on_close(name)` when one is dropped."""
        self.settings = settings
        self.catalog: Catalog = open_catalog(settings)
        self.models = models
        self._make_admission = admission
        self._on_index = on_index
        self._on_close = on_close
        self._open: OrderedDict[str, Engine] = OrderedDict()  # least recently used first
        self._users: dict[str, int] = {}
        self._gates: dict[str, Admission] = {}
        self._dropping: set[str] = set()
        self._guard = threading.Condition()
        self._opening: dict[str, threading.Lock] = {}

    # --- start and stop -------------------------------------------------------------------------------------

    def start(self) -> Manifest | None:
        """Finish or undo creates and drops a crash cut short, then check the default collection without loading
        it (None: there is no default collection, but others). IndexNotFoundError when there is no collection."""
        for repair in self.catalog.recover():
            log.warning("startup repair in %s: %s", self.catalog.location, repair)
        names = self.catalog.names()
        if not names:
            raise IndexNotFoundError(
                f"no index at {self.catalog.location}. Build one with `python -m indexer build SRC` (see --index and "
                "--collection)."
            )
        if DEFAULT_COLLECTION not in names:
            return None
        engine = self._engine(DEFAULT_COLLECTION)
        manifest = engine.precheck()
        with self._guard:
            self._open[DEFAULT_COLLECTION] = engine
        return manifest

    def load_default(self) -> None:
        """Load the default collection's model and index (blocking: run it in a thread)."""
        with self._guard:
            engine = self._open.get(DEFAULT_COLLECTION)
        if engine is not None:
            engine.load()

    @property
    def default(self) -> Engine | None:
        """The default collection's engine (None: there is no default collection)."""
        with self._guard:
            return self._open.get(DEFAULT_COLLECTION)

    def close(self) -> None:
        """Close every open collection, then the models' batchers and the catalog."""
        with self._guard:
            engines, self._open = list(self._open.values()), OrderedDict()
        for engine in engines:
            engine.close()
        self.models.close()
        self.catalog.close()

    # --- using a collection ---------------------------------------------------------------------------------

    def _engine(self, name: str) -> Engine:
        model = self.settings.model if name == DEFAULT_COLLECTION else None
        engine = Engine(self.settings, self.catalog.layout.backend(name), self.models, name=name, model=model)
        on_index = self._on_index
        if on_index is not None:
            engine.on_ready = lambda snapshot: on_index(name, snapshot)
        return engine

    def names(self) -> list[str]:
        """Every collection (those being dropped left out)."""
        with self._guard:
            dropping = set(self._dropping)
        return [n for n in self.catalog.names() if n not in dropping]

    def exists(self, name: str) -> bool:
        """Whether collection `name` exists and is not being dropped."""
        with self._guard:
            if name in self._dropping:
                return False
            if name in self._open:
                return True
        return self.catalog.exists(name)

    def is_open(self, name: str) -> bool:
        """Whether collection `name` is open in this process."""
        with self._guard:
            return name in self._open

    def open_names(self) -> list[str]:
        """The open collections, least recently used first."""
        with self._guard:
            return list(self._open)

    def admission(self, name: str) -> Admission:
        """Collection `name`'s admission gates (made on first use; kept, they are small)."""
        with self._guard:
            gates = self._gates.get(name)
            if gates is None:
                gates = self._gates[name] = self._make_admission(name)
            return gates

    @contextlib.contextmanager
    def use(self, name: str) -> Iterator[Engine]:
        """Collection `name`'s engine, opened if need be (blocking: call it in a thread), held open for the
        body. CollectionNotFoundError when it does not exist."""
        engine = self.acquire(name)
        try:
            yield engine
        finally:
            self.release(name)

    def try_acquire(self, name: str) -> Engine | None:
        """`acquire` when the collection is open already (no waiting: for the event loop); None when not."""
        with self._guard:
            return self._held(name)

    def acquire(self, name: str) -> Engine:
        """`use` without the `with`: call `release(name)` after."""
        with self._guard:
            engine = self._held(name)
        if engine is not None:
            return engine
        with self._guard:
            lock = self._opening.setdefault(name, threading.Lock())
        with lock:  # one request opens it; others asking meanwhile wait for it
            with self._guard:
                engine = self._held(name)
            if engine is not None:
                return engine
            if not self.exists(name):
                raise not_found(name)
            engine = self._engine(name)
            engine.precheck()
            engine.load()
            if engine.status is not Status.ready:
                engine.close()
                raise NotReadyError(f"collection {name!r} failed to load: {engine.error}")
            with self._guard:
                if name in self._dropping:  # dropped while it loaded
                    engine.close()
                    raise not_found(name)
                self._open[name] = engine
                self._users[name] = self._users.get(name, 0) + 1
                evicted = self._evict()
        for old in evicted:
            old.close()
            log.info(
                "closed idle collection %s (SEEKR_MAX_OPEN_COLLECTIONS=%d)",
                old.name,
                self.settings.max_open_collections,
            )
        return engine

    def _held(self, name: str) -> Engine | None:
        """The open engine of `name`, counted as used and made the most recent (None: not open). Holds _guard."""
        if name in self._dropping:
            raise not_found(name)
        engine = self._open.get(name)
        if engine is not None:
            self._open.move_to_end(name)
            self._users[name] = self._users.get(name, 0) + 1
        return engine

    def _evict(self) -> list[Engine]:
        """Take out the least recently used idle collections past the limit (never the default). Holds _guard."""
        out = []
        for name in list(self._open):
            if len(self._open) <= self.settings.max_open_collections:
                break
            if name != DEFAULT_COLLECTION and self._users.get(name, 0) == 0:
                out.append(self._open.pop(name))
        return out

    def release(self, name: str) -> None:
        """A request on `name` is done; an idle collection past the limit closes now."""
        with self._guard:
            self._users[name] -= 1
            evicted = self._evict()
            self._guard.notify_all()
        for old in evicted:
            old.close()

    def refresh(self) -> None:
        """Pick up versions other processes committed, in every open collection (blocking)."""
        for name in self.open_names():
            with self._guard:
                engine = self._held(name) if name not in self._dropping else None
            if engine is None:
                continue
            try:
                engine.refresh()
            finally:
                self.release(name)

    # --- creating and dropping ------------------------------------------------------------------------------

    def create(
        self,
        name: str,
        model: str | None,
        config: ChunkingConfig,
        *,
        read: ReadOptions | None = None,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        endpoint: str | None = None,
        reranker: RerankerInfo | None = None,
        language: str = AUTO,
        keep_originals: bool = False,
    ) -> tuple[bool, CollectionInfo]:
        """Create collection `name` (blocking): (True, its info) when created, (False, its info) when it exists
        with these settings; CollectionExistsError when it exists with others. A prompt left out is the model's
        own. `endpoint`: where a server model is reached; `reranker`: the collection's (loaded first, so a folder
        that is not a cross-encoder is refused here, never at the first search)."""
        check_name(name)
        name_of_model = model or self.settings.model
        if model is None and endpoint is None:
            endpoint = self.settings.embed_url  # the service's own model, where it is served
        embedder, _ = self.models.get(name_of_model, endpoint)
        embedder = with_prompts(embedder, build_prompts(None, name_of_model, query_prompt, passage_prompt))
        config.validate(embedder.max_tokens)
        if reranker is not None:
            self.models.reranker(reranker)
        recorded = model_info(embedder).model_copy(update={"reranker": reranker})
        created = self.catalog.create(name, recorded, chunking_info(config, read), language, keep_originals)
        if created:
            log.info("created collection %s (model %s)", name, embedder.model_id)
        return created, self.catalog.info(name)

    def drop(self, name: str) -> None:
        """Drop collection `name` (blocking): new requests get 404 at once; those in flight finish first."""
        check_name(name)
        try:
            with self.catalog.dropping(name):
                with self._guard:
                    self._dropping.add(name)  # from here on, new requests get 404
                    opening = self._opening.setdefault(name, threading.Lock())
                # An open under way finishes first: it then sees the drop, or is counted below.
                with opening, self._guard:
                    self._guard.wait_for(lambda: self._users.get(name, 0) == 0)
                    engine = self._open.pop(name, None)
                if engine is not None:
                    engine.close()
        finally:
            with self._guard:
                self._dropping.discard(name)
        with self._guard:
            self._gates.pop(name, None)
            self._opening.pop(name, None)
        if self._on_close is not None:
            self._on_close(name)
        log.info("dropped collection %s", name)
