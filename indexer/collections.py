"""Collection names: what a name may be, and the default collection's name.

A collection is a named index with its own documents, model, chunking and versions. The default one is the
index `python -m indexer build` writes without `--collection`, and what the service's unprefixed routes mean.
"""

from __future__ import annotations

import re

from indexer.errors import CollectionNameError, CollectionNotFoundError

DEFAULT_COLLECTION = "default"
MAX_NAME_CHARS = 64
NAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_NAME_CHARS - 1}}}$"
_NAME = re.compile(NAME_PATTERN)


def check_name(name: str) -> str:
    """`name` itself when it is a valid collection name; CollectionNameError saying what a name may be."""
    if not is_name(name):
        raise CollectionNameError(
            f"{name[:80]!r} is not a collection name: use 1 to {MAX_NAME_CHARS} letters, digits, '-' and '_', "
            "starting with a letter or digit (e.g. handbook, tickets-2026)"
        )
    return name


def not_found(name: str) -> CollectionNotFoundError:
    """The error for a collection that does not exist, or that the caller may not see: the same words, so that
    names do not leak."""
    return CollectionNotFoundError(
        f"no collection {name[:80]!r}; GET /collections lists those you may use, and `python -m indexer "
        "collections list` every one"
    )


def is_name(name: str) -> bool:
    """Whether `name` is a valid collection name."""
    return _NAME.fullmatch(name) is not None  # fullmatch: "$" alone would let a final newline through
