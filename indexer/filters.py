"""Metadata filter expressions: comparisons on a document's metadata fields, combined with and/or/not.

The semantics every engine implements, and `matches` states in Python (the reference the tests hold each engine
to):

- `eq`/`gt`/`gte`/`lt`/`lte`/`in` compare values of the same type only: a number with numbers (integers and
  floats alike), text with text (ISO-8601 dates and times compare correctly as text), true/false with booleans.
  A document whose field is missing, or holds another type, does not match.
- `ne`, `not_in` and `not` are negations: a document without the field matches them.
- `exists` is true when the field holds a number, a text or a boolean (lists and objects are not compared).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from indexer.types import All, Any_, Condition, Expr, Not, Scalar

COMPARISONS = ("gt", "gte", "lt", "lte")


_NEGATED = {"eq": "ne", "ne": "eq", "in": "not_in", "not_in": "in"}


def kind(value: object) -> str | None:
    """The comparable type of a metadata value: number, text or bool (None: not comparable)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return None


def _compare(have: object, op: str, want: Scalar) -> bool:
    if kind(have) is None or kind(have) != kind(want):
        return False
    a: Any = have
    b: Any = want
    if op == "eq":
        return bool(a == b)
    if op == "gt":
        return bool(a > b)
    if op == "gte":
        return bool(a >= b)
    if op == "lt":
        return bool(a < b)
    return bool(a <= b)  # lte


def matches(expr: Expr, metadata: Mapping[str, object]) -> bool:
    """Whether a document with `metadata` passes `expr`."""
    if isinstance(expr, All):
        return all(matches(e, metadata) for e in expr.items)
    if isinstance(expr, Any_):
        return any(matches(e, metadata) for e in expr.items)
    if isinstance(expr, Not):
        return not matches(expr.item, metadata)
    have = metadata.get(expr.field)
    if expr.op == "exists":
        return (kind(have) is not None) == bool(expr.value)
    if expr.op in ("ne", "not_in"):
        return not matches(Condition(expr.field, _NEGATED[expr.op], expr.value), metadata)
    if expr.op == "in":
        assert isinstance(expr.value, tuple)
        return any(_compare(have, "eq", v) for v in expr.value)
    assert not isinstance(expr.value, tuple)
    return _compare(have, expr.op, expr.value)


def negation_normal_form(expr: Expr, negate: bool = False) -> Expr:
    """`expr` (negated if `negate`) with every `not` pushed down to the conditions: a negated eq, in or exists
    becomes ne, not_in or exists with the opposite value; only a negated comparison (gt, ...) keeps a `Not`."""
    if isinstance(expr, Not):
        return negation_normal_form(expr.item, not negate)
    if isinstance(expr, All | Any_):
        items = tuple(negation_normal_form(e, negate) for e in expr.items)
        flip = negate  # De Morgan: a negated All is an Any of negations, and the reverse
        return (Any_(items) if isinstance(expr, All) else All(items)) if flip else type(expr)(items)
    if not negate:
        return expr
    if expr.op in _NEGATED:
        return Condition(expr.field, _NEGATED[expr.op], expr.value)
    if expr.op == "exists":
        return Condition(expr.field, "exists", not expr.value)
    return Not(expr)


def fields(expr: Expr) -> set[str]:
    """The metadata fields `expr` reads."""
    if isinstance(expr, All | Any_):
        return set().union(*(fields(e) for e in expr.items))
    if isinstance(expr, Not):
        return fields(expr.item)
    return {expr.field}


# The query-string form of conditions (GET /search's `filter=`, the CLI's `--filter`): `field:op:value`.
TEXT_OPS = ("eq", "ne", *COMPARISONS, "in", "not_in")
FILTER_FORM = (
    "field:op:value with op eq, ne, gt, gte, lt, lte, in or not_in (in takes a,b,c), or field:exists:true|false; "
    "e.g. year:gte:2020"
)


def _reject_constant(name: str) -> object:
    raise ValueError(name)  # NaN and Infinity are not JSON numbers: such a value is text


def scalar(raw: str, *, booleans: bool = True) -> Scalar:
    """A value written as text: read as JSON when it parses to a number, a text or (if `booleans`) true/false;
    else the text as written."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return raw
    if isinstance(value, bool) and not booleans:
        return raw
    return value if isinstance(value, str | int | float | bool) else raw


def parse_meta(items: list[str]) -> dict[str, Scalar]:
    """`key:value` items as metadata: a value is read as JSON when it parses, else as text; ValueError for an
    item without a key and a colon."""
    out: dict[str, Scalar] = {}
    for item in items:
        key, colon, raw = item.partition(":")
        if not key or not colon:
            raise ValueError(f"metadata {item!r} must be key:value, e.g. lang:en")
        out[key] = scalar(raw)
    return out


def parse_condition(item: str) -> Condition:
    """One `field:op:value` condition; ValueError saying the form for anything else."""
    field, _, rest = item.partition(":")
    op, colon, raw = rest.partition(":")
    if not field or not colon or (op not in TEXT_OPS and not (op == "exists" and raw in ("true", "false"))):
        raise ValueError(f"filter {item!r} must be {FILTER_FORM}")
    if op == "exists":
        return Condition(field, op, raw == "true")
    if op in ("in", "not_in"):
        return Condition(field, op, tuple(scalar(v) for v in raw.split(",")))
    return Condition(field, op, scalar(raw, booleans=op in ("eq", "ne")))


def parse_filters(items: list[str]) -> Expr | None:
    """`field:op:value` conditions, all of which must hold (None: none given)."""
    conditions: list[Expr] = [parse_condition(item) for item in items]
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else All(tuple(conditions))
