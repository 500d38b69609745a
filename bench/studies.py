"""What the quality studies share: a BEIR set indexed with the project's own pipeline, and their command line
(`python -m bench NAME DATASET_DIR [--json FILE]`: run in a temporary folder, print a table, write JSON)."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from indexer.building.builder import sync_index
from indexer.embed.base import Embedder
from indexer.embed.runtime import load_embedder
from indexer.evaluate import BeirDataset, load_beir
from indexer.ingest.chunking import ChunkingConfig
from indexer.storage.local.backend import LocalBackend
from indexer.storage.local.snapshot import IndexSnapshot

T = TypeVar("T")


def index_dataset(dataset: BeirDataset, embedder: Embedder, index_dir: Path) -> IndexSnapshot:
    """`dataset`'s corpus indexed in `index_dir` with the default chunking, as a user's build would."""
    backend = LocalBackend(index_dir)
    sync_index(dataset.corpus, backend, embedder, ChunkingConfig())
    return backend.open()


def header(dataset: BeirDataset) -> str:
    """The line every study's table starts with."""
    return f"{dataset.name}: {len(dataset.queries)} judged questions; nDCG@10, one passage per document"


def study_main(
    argv: list[str] | None,
    *,
    prog: str,
    description: str | None,
    run: Callable[[BeirDataset, Embedder, Path, argparse.Namespace], T],
    show: Callable[[BeirDataset, T], str],
    to_json: Callable[[T], Any] = lambda result: result,
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None,
) -> int:
    """Parse `DATASET_DIR [--json FILE]` (and `arguments`), `run` the study on the bundled model in a temporary
    folder, print `show` of its result, and write `to_json` of it to FILE if asked."""
    parser = argparse.ArgumentParser(prog=f"python -m bench {prog}", description=description)
    parser.add_argument("dataset", type=Path, metavar="DATASET_DIR", help="a BEIR folder")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    arguments(parser)
    args = parser.parse_args(argv)
    dataset = load_beir(args.dataset)
    with tempfile.TemporaryDirectory(prefix=f"seekr-{prog}-") as tmp:
        result = run(dataset, load_embedder(), Path(tmp), args)
    print(show(dataset, result))
    if args.json:
        args.json.write_text(json.dumps(to_json(result), indent=2) + "\n", encoding="utf-8")
    return 0
