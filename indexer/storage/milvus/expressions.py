"""Milvus boolean expressions: literals, lists and the visibility rule of multi-version rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from indexer.types import Scalar


def literal(value: Scalar) -> str:
    """`value` as a Milvus expression literal (strings JSON-quoted, which Milvus unescapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def in_list(field: str, values: Sequence[Scalar]) -> str:
    """`field in [...]`."""
    return f"{field} in [{', '.join(literal(v) for v in values)}]"


def visible(version: int) -> str:
    """Rows live in `version`."""
    return f"version <= {version} and (deleted_at == 0 or deleted_at > {version})"


def row_data(row: dict[str, Any]) -> dict[str, Any]:
    """A row read back, without its Milvus key (a copy gets a new one)."""
    return {k: v for k, v in row.items() if k != "row"}
