"""Milvus boolean expressions: literals, lists and the visibility rule of multi-version rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from indexer.filters import kind
from indexer.types import Condition, Scalar


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


_OPS = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
# The least number a field can hold: every number is at or above it (`exists` without a presence test).
_LEAST = -1.7976931348623157e308


def condition_expr(cond: Condition) -> str:
    """A metadata condition as a Milvus expression on the chunks' `meta` field (see `indexer.filters` for the
    semantics: Milvus compares JSON values of the same type only, as they require, and `!=`, `not in` hold for a
    missing field). Not for `exists: false`, which Milvus Lite cannot express."""
    field = f"meta[{literal(cond.field)}]"
    if cond.op == "exists":
        return f'({field} >= {_LEAST!r} or {field} >= "" or {field} == true or {field} == false)'
    if cond.op in ("in", "not_in"):
        assert isinstance(cond.value, tuple)
        groups: dict[str | None, list[Scalar]] = {}
        for value in cond.value:
            groups.setdefault(kind(value), []).append(value)
        tests = []
        for group, values in groups.items():
            if group == "bool":  # `in` lists take numbers and strings only
                tests += [f"{field} {'==' if cond.op == 'in' else '!='} {literal(v)}" for v in dict.fromkeys(values)]
            else:
                tests.append(f"{field} {'in' if cond.op == 'in' else 'not in'} [{', '.join(map(literal, values))}]")
        return "(" + (" or " if cond.op == "in" else " and ").join(tests) + ")"
    assert not isinstance(cond.value, tuple)
    return f"{field} {_OPS[cond.op]} {literal(cond.value)}"
