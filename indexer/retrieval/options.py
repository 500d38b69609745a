"""The options of a search, defined once.

`SearchOptions` is what `Searcher.search` takes besides the question and the filter. Every surface is derived
from it: the POST /search body extends it, GET /search reads it from the query string, the MCP `search` tool's
arguments and `python -m indexer query`'s flags are built from its fields (type, bounds, description). Adding an
option is a field here and the stage that reads it (`ctx.request.options`); see docs/architecture.md.

Filters are not here: each surface spells them its own way (a JSON tree, repeated query parameters, flags), and
all of them become one `indexer.types.Filter`.
"""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from indexer.rerank.settings import DEFAULT_RERANK_CANDIDATES
from indexer.retrieval.fusion import Fusion
from indexer.retrieval.results import Group, Mode, Navigation

MAX_K = 100
MAX_DEPTH = 1000  # deepest result a page may reach: offset + k
MAX_OFFSET = MAX_DEPTH - MAX_K
MAX_CONTEXT = 10  # passages before and after a hit
MAX_RERANK_BUDGET_MS = 60_000


class SearchOptions(BaseModel):
    """How a search ranks and what it returns. None means "the collection's default" where a field allows it."""

    # Frozen: one request's options are shared by the stages that read them. Forbid: a misspelt option is an error
    # naming it, never silently ignored.
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Bounds of an optional field sit inside its Annotated: outside it, they reach the JSON schema as "ge"/"le" on
    # the union, which no client reads.
    k: Annotated[int, Field(ge=1, le=MAX_K)] = Field(5, description=f"Number of passages, 1..{MAX_K}.")
    mode: Mode | None = Field(
        None,
        description="dense, lexical or hybrid (both, fused); default: the collection's (hybrid unless it was "
        "calibrated from judged questions).",
    )
    fusion: Fusion | None = Field(
        None,
        description="Hybrid only: dbsf (distribution-based score fusion) or rrf (reciprocal rank fusion); "
        "default: the collection's calibrated choice, else the server's (SEEKR_FUSION, dbsf).",
    )
    dense_weight: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = Field(
        None,
        description="Hybrid dbsf only: the dense share of the fused score, 0..1 (default: the collection's "
        "calibrated choice, else the server's, 0.5).",
    )
    min_score: Annotated[float, Field(allow_inf_nan=False)] | None = Field(
        None,
        description="Drop hits scoring below this, in the mode's scale: cosine (dense, -1..1), BM25 (lexical, "
        ">= 0), dbsf (hybrid: sum of two normalised scores, about 0..2), rrf (hybrid, at most 2/61 = 0.0328).",
    )
    max_per_doc: Annotated[int, Field(ge=1, le=MAX_K)] | None = Field(
        None, description="At most this many passages per document; k is filled from other documents."
    )
    highlight: bool = Field(True, description="Mark the best-matching sentence of each passage.")
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET)] = Field(
        0,
        description=f"Results to skip: the next page starts at offset + k. Pages concatenated equal one request "
        f"for more; at most {MAX_OFFSET} (offset + k reaches the {MAX_DEPTH:,}th result at most).",
    )
    context: Annotated[int, Field(ge=0, le=MAX_CONTEXT)] = Field(
        0,
        description=f"Also return this many passages before and after each hit, from its document (0..{MAX_CONTEXT}).",
    )
    group: Group | None = Field(
        None,
        description="page (the default): one hit per page of a paged document, its best passage, scored from all "
        "its passages; passage: every passage on its own. Passages without a page are their own unit either way.",
    )
    document_weight: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] | None = Field(
        None,
        description="Hierarchical scoring, w: each hit's score is (own + w * document) / (1 + w), the document's "
        "score being the mean of its best three pages or passages among the first candidates; 0 ranks pages and "
        "passages alone (default 1).",
    )
    navigation: Navigation | None = Field(
        None,
        description="Where passages of navigation pages (tables of contents, indexes, lists of figures) go: "
        "below (the default: after every content passage), exclude, or include (ranked as any passage).",
    )
    rerank: bool | None = Field(
        None,
        description="Whether the collection's reranker, if it has one, re-scores the hits (default: yes, or what "
        "the collection's calibration chose).",
    )
    rerank_candidates: Annotated[int, Field(ge=1, le=MAX_DEPTH)] | None = Field(
        None,
        description="How many of the first units the reranker re-scores (default SEEKR_RERANK_CANDIDATES, "
        f"{DEFAULT_RERANK_CANDIDATES}).",
    )
    rerank_budget_ms: Annotated[float, Field(gt=0, le=MAX_RERANK_BUDGET_MS, allow_inf_nan=False)] | None = Field(
        None,
        description="Past this many milliseconds the reranker is not waited for: the fused order is returned and "
        "`rerank` says so (default SEEKR_RERANK_BUDGET_MS).",
    )

    @property
    def depth(self) -> int:
        """How far down the ranking these options read."""
        return self.offset + self.k

    def given(self) -> dict[str, Any]:
        """The options set explicitly (to pass on, or to merge with others)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


def option_type(name: str) -> type:
    """The one plain type of option `name` (through Optional and its bounds): what a surface converts it to (a
    flag's type, a JSON body's number or boolean)."""
    annotation = SearchOptions.model_fields[name].annotation
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType):
            (annotation,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        elif isinstance(annotation, type):
            return annotation
        else:
            raise TypeError(f"search option {name} has no plain type ({annotation!r})")


def search_options(options: SearchOptions | None = None, **fields: Any) -> SearchOptions:
    """`options` with `fields` on top, checked (a ValidationError names a misspelt or out-of-range field)."""
    if not fields:
        return options or DEFAULT_OPTIONS
    base = options.given() if options is not None else {}
    return SearchOptions.model_validate(base | fields)


DEFAULT_OPTIONS = SearchOptions()
