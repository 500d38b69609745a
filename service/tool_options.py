"""The search options as arguments of an MCP tool, derived from `SearchOptions` (their one definition)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, cast

from pydantic import Field

from indexer.retrieval.options import SearchOptions

F = TypeVar("F", bound=Callable[..., Any])


def option_parameters() -> list[inspect.Parameter]:
    """Each field of `SearchOptions` as a keyword-only parameter: its type with its bounds, its default and its
    description, which the MCP SDK turns into the tool's input schema."""
    out = []
    for name, info in SearchOptions.model_fields.items():
        # Annotated built at run time from the field (a type checker reads no such expression as a type).
        annotation = cast(Any, Annotated)[(info.annotation, *info.metadata, Field(description=info.description))]
        out.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info.default, annotation=annotation))
    return out


def with_search_options(fn: F) -> F:
    """`fn`, whose `**options` receive the search options, with a signature naming each of them (the SDK reads a
    tool's arguments from its signature; a `**options` alone would take none)."""
    signature = inspect.signature(fn, eval_str=True)
    params = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    taken = {p.name for p in params}
    clash = taken & set(SearchOptions.model_fields)
    if clash:
        raise TypeError(f"{fn.__name__} names search options itself: {sorted(clash)}")
    fn.__signature__ = signature.replace(parameters=[*params, *option_parameters()])  # type: ignore[attr-defined]
    return fn
