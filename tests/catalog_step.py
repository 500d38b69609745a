"""Create or drop a collection and die by SIGKILL just before the STOP-th step that changes storage:
ENGINE ROOT ACTION NAME STOP (STOP 0: run to the end and print how many steps there were).

Used by the catalog's crash test as a subprocess. The steps are the primitives that change what is stored:
for the local engine creating, renaming, replacing and removing files and folders; for Milvus creating,
dropping and writing collections. Killing the process before each of them in turn covers every state a
crash can leave, whatever the machine's speed.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from indexer.building.builder import chunking_info, model_info
from indexer.catalog import open_catalog
from indexer.ingest.chunking import ChunkingConfig
from indexer.storage.settings import BackendName
from tests.conftest import storage
from tests.fakes import FakeEmbedder

steps = 0
stop = 0


def _counted(what: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def step(*args: Any, **kwargs: Any) -> Any:
        global steps
        steps += 1
        if steps == stop:
            print(f"killed before step {steps}: {what} {args[:1]}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args, **kwargs)

    return step


def _instrument(engine: BackendName) -> None:
    if engine is BackendName.local:
        for name in ("mkdir", "rename", "replace", "unlink", "rmdir"):
            setattr(os, name, _counted(name, getattr(os, name)))
        shutil.rmtree = _counted("rmtree", shutil.rmtree)  # type: ignore[assignment]
        return
    from pymilvus import MilvusClient

    for name in ("create_collection", "create_index", "insert", "upsert", "delete", "drop_collection"):
        setattr(MilvusClient, name, _counted(name, getattr(MilvusClient, name)))


def main(engine_name: str, root: str, action: str, name: str, stop_at: str) -> None:
    global stop
    stop = int(stop_at)
    engine = BackendName(engine_name)
    catalog = open_catalog(storage(engine, Path(root)))  # where the parent test put the collections
    catalog.names()  # connect first: starting Milvus Lite is not a step of the action
    _instrument(engine)
    embedder = FakeEmbedder()
    if action == "create":
        catalog.create(name, model_info(embedder), chunking_info(ChunkingConfig()))
    else:
        catalog.drop(name)
    print(f"steps {steps}", flush=True)
    catalog.close()


if __name__ == "__main__":
    main(*sys.argv[1:6])
