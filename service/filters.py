"""The filter language of searches: JSON expressions (conditions joined by and, or, not), GET's
`filter=field:op:value` and `meta=key:value` parameters, and their conversion to the engines' `Filter`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    Tag,
)

from indexer.filters import FILTER_FORM, TEXT_OPS
from indexer.types import All, Any_, Condition, Expr, Filter, Not
from service.fields import END, META_KEY, META_KEY_PATTERN, REQUEST_MODEL_CONFIG, MetaFilter, matching

# GET /search's `filter=field:op:value`: every one that matches this shape is a filter the engines take.
FILTER_PATTERN = "^" + META_KEY + f":(({'|'.join(TEXT_OPS)}):.*|exists:(true|false))" + END
FilterParam = Annotated[
    str,
    *matching(
        FILTER_PATTERN,
        {},
        f"filter must be {FILTER_FORM}",
    ),
]


# Filter expressions in JSON: a condition {"field", "op", "value"}, or {"and": [...]}, {"or": [...]}, {"not": ...}.
# Every shape the schema allows is a filter the engines evaluate (see indexer.filters for the semantics).
Comparable = StrictInt | Annotated[StrictFloat, Field(allow_inf_nan=False)] | StrictStr
Matchable = Comparable | StrictBool
FieldName = Annotated[str, StringConstraints(pattern=META_KEY_PATTERN)]


class Equals(BaseModel):
    """`field` equals (eq) or does not equal (ne) `value`, of the same type."""

    model_config = REQUEST_MODEL_CONFIG
    field: FieldName
    op: Literal["eq", "ne"]
    value: Matchable


class Compares(BaseModel):
    """`field` compares to `value`: numbers as numbers, text (ISO-8601 dates too) as text."""

    model_config = REQUEST_MODEL_CONFIG
    field: FieldName
    op: Literal["gt", "gte", "lt", "lte"]
    value: Comparable


class OneOf(BaseModel):
    """`field` is (in) or is not (not_in) one of `value`."""

    model_config = REQUEST_MODEL_CONFIG
    field: FieldName
    op: Literal["in", "not_in"]
    value: list[Matchable] = Field(min_length=1, max_length=1000)


class Exists(BaseModel):
    """`field` holds (true) or does not hold (false) a number, text or boolean."""

    model_config = REQUEST_MODEL_CONFIG
    field: FieldName
    op: Literal["exists"]
    value: StrictBool


class AllOf(BaseModel):
    """Every filter holds."""

    model_config = REQUEST_MODEL_CONFIG
    and_: list[Where] = Field(alias="and", min_length=1, max_length=100)


class AnyOf(BaseModel):
    """At least one filter holds."""

    model_config = REQUEST_MODEL_CONFIG
    or_: list[Where] = Field(alias="or", min_length=1, max_length=100)


class NoneOf(BaseModel):
    """The filter does not hold."""

    model_config = REQUEST_MODEL_CONFIG
    not_: Where = Field(alias="not")


_TAG_OF_OP = {"eq": "equals", "ne": "equals", "gt": "compares", "gte": "compares", "lt": "compares", "lte": "compares"}
_TAG_OF_OP |= {"in": "one_of", "not_in": "one_of", "exists": "exists"}


def _where_tag(value: object) -> str | None:
    """Which shape a filter is, read from its keys, so that a malformed one is reported against that shape alone."""
    if isinstance(value, AllOf | AnyOf | NoneOf):
        return "and" if isinstance(value, AllOf) else "or" if isinstance(value, AnyOf) else "not"
    if isinstance(value, BaseModel):
        return _TAG_OF_OP.get(getattr(value, "op", ""))
    if not isinstance(value, dict):
        return None
    for key in ("and", "or", "not"):
        if key in value:
            return key
    op = value.get("op")
    return _TAG_OF_OP.get(op) if isinstance(op, str) else None


Where = Annotated[
    Annotated[Equals, Tag("equals")]
    | Annotated[Compares, Tag("compares")]
    | Annotated[OneOf, Tag("one_of")]
    | Annotated[Exists, Tag("exists")]
    | Annotated[AllOf, Tag("and")]
    | Annotated[AnyOf, Tag("or")]
    | Annotated[NoneOf, Tag("not")],
    Discriminator(
        _where_tag,
        custom_error_type="filter_shape",
        custom_error_message='a filter is {"field", "op", "value"} with op one of eq, ne, gt, gte, lt, lte, in, '
        'not_in, exists; or {"and": [...]}, {"or": [...]}, {"not": {...}}',
    ),
]
for _model in (AllOf, AnyOf, NoneOf):
    _model.model_rebuild()  # they refer to Where, defined after them


def to_expr(where: Where) -> Expr:
    """The indexer's filter expression."""
    if isinstance(where, AllOf):
        return All(tuple(to_expr(w) for w in where.and_))
    if isinstance(where, AnyOf):
        return Any_(tuple(to_expr(w) for w in where.or_))
    if isinstance(where, NoneOf):
        return Not(to_expr(where.not_))
    if isinstance(where, OneOf):
        return Condition(where.field, where.op, tuple(where.value))
    return Condition(where.field, where.op, where.value)


class Filters(BaseModel):
    """Which documents to search. Omitted fields do not filter; given fields must all match."""

    model_config = REQUEST_MODEL_CONFIG

    source: str | None = Field(None, min_length=1, description="Source path prefix, e.g. `reports/2024/`.")
    doc_id: list[Annotated[str, StringConstraints(min_length=1)]] | None = Field(
        None, min_length=1, max_length=1000, description="Only these document ids."
    )
    metadata: MetaFilter | None = Field(None, description="Metadata key/value pairs that must all be equal.")
    where: Where | None = Field(
        None,
        description='A metadata expression: {"field": "year", "op": "gte", "value": 2020} (ops: eq, ne, gt, gte, '
        'lt, lte, in, not_in, exists), combined with {"and": [...]}, {"or": [...]} and {"not": {...}}. A field no '
        "document has matches nothing; values compare with values of the same type only.",
    )

    def to_filter(self, extra: Expr | None = None) -> Filter:
        """The indexer's Filter (`extra`: one more expression that must hold)."""
        exprs = [e for e in (to_expr(self.where) if self.where is not None else None, extra) if e is not None]
        return Filter(
            source_prefix=self.source,
            doc_ids=tuple(self.doc_id) if self.doc_id is not None else None,
            metadata=tuple(sorted((self.metadata or {}).items())),
            where=exprs[0] if len(exprs) == 1 else All(tuple(exprs)) if exprs else None,
        )
