"""The collections: list, inspect, create and drop them. Their searches and documents are the routes of
`service.routes.search` and `service.routes.documents` under /collections/{collection}."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from indexer.analysis import AUTO, supported
from indexer.catalog import CollectionInfo
from indexer.embed.server import EmbedApi, server_model_id
from indexer.errors import CollectionNotFoundError, ConfigError, ModelLoadError
from indexer.ingest.chunking import ChunkingConfig
from indexer.ingest.clean import Cleaning
from indexer.ingest.read_options import ReadOptions
from indexer.rerank.factory import reranker_info
from service.auth import AdminAccess, GrantDep, KeysDep, ReadAccess, identify
from service.collections import Collections
from service.deps import CollectionsDep, SettingsDep, collection_path
from service.errors import UnprocessableError, error_responses
from service.keys import Caller, Right
from service.settings import Settings

router = APIRouter(tags=["collections"])


class CollectionOut(BaseModel):
    """A collection: what it holds and what it was made with."""

    name: str
    engine: str = Field(description="The storage engine keeping it: local or milvus.")
    model: str = Field(description="The embedding model of its vectors (its queries are embedded with it too).")
    embed_url: str | None = Field(
        description="Where a server model (`api:name`) is reached, as recorded when it was made (null: in process)."
    )
    dimension: int
    reranker: str | None = Field(
        description="The reranker its searches use, as recorded (null: the service's SEEKR_RERANKER or "
        "SEEKR_RERANK_API, if any)."
    )
    query_prompt: str = Field(description="Put in front of each query before embedding (empty: none).")
    passage_prompt: str = Field(description="Put in front of each passage before embedding (empty: none).")
    documents: int
    chunks: int
    version: int = Field(description="Its index version (each write makes a new one).")
    chunk_tokens: int
    overlap_tokens: int
    cleaning: str = Field(description="Where the scraped-page rules apply to its files: auto, web or none.")
    language: str = Field(description="Its language: auto (each passage's own, detected) or a language code.")
    keep_originals: bool = Field(description="Whether files sent over HTTP keep their bytes (GET .../source).")
    built_at: datetime = Field(description="When its current version was committed.")
    open: bool = Field(description="Whether its index is loaded in this process (it opens on first use).")
    rights: list[Right] = Field(description="What the caller's key may do in it: read, write, admin.")

    @classmethod
    def of(cls, info: CollectionInfo, is_open: bool, caller: Caller) -> CollectionOut:
        """The answer for `info`."""
        m = info.manifest
        return cls(
            name=info.name,
            engine=info.engine.value,
            model=m.model.id,
            embed_url=m.model.endpoint,
            dimension=m.model.dimension,
            reranker=m.model.reranker.describe() if m.model.reranker else None,
            query_prompt=m.model.query_prompt,
            passage_prompt=m.model.passage_prompt,
            documents=m.counts.documents,
            chunks=m.counts.chunks,
            version=m.version,
            chunk_tokens=m.chunking.chunk_tokens,
            overlap_tokens=m.chunking.overlap_tokens,
            cleaning=m.chunking.cleaning,
            language=m.lexical.language,
            keep_originals=m.keep_originals,
            built_at=m.created_at,
            open=is_open,
            rights=[r for r in Right if caller.may(r, info.name)],
        )


class CollectionList(BaseModel):
    """The collections the caller's key may use, by name."""

    collections: list[CollectionOut]

    @classmethod
    def read(cls, collections: Collections, caller: Caller) -> CollectionList:
        """The collections `caller` may see (blocking: call it in a thread); one dropped meanwhile is left out."""
        out = []
        for name in collections.names():
            if caller.sees(name):
                try:
                    info = collections.catalog.info(name)
                except CollectionNotFoundError:
                    continue
                out.append(CollectionOut.of(info, collections.is_open(name), caller))
        return cls(collections=out)


class CollectionIn(BaseModel):
    """Settings of a new collection; each one left out is the service's own."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{}, {"chunk_tokens": 200, "overlap_tokens": 40, "cleaning": "none"}]},
    )

    model: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        description="Embedding model name or local path (loaded offline; default: the service's SEEKR_MODEL), or a "
        "server model `api:name` (e.g. `tei:BAAI/bge-large-en-v1.5`).",
    )
    embed_api: EmbedApi | None = Field(
        None, description="Embed with a server speaking this contract (openai, tei, ollama) instead of in process."
    )
    embed_url: str | None = Field(
        None,
        max_length=2000,
        pattern=r"^https?://",
        description="The embedding server's base URL (default: SEEKR_EMBED_URL); the service's SEEKR_EMBED_KEY is "
        "sent to it. Keys are never stored with a collection.",
    )
    embed_model: str | None = Field(
        None, min_length=1, max_length=500, description="The model the server is asked for (default: `model`)."
    )
    reranker: str | None = Field(
        None,
        min_length=1,
        max_length=2000,
        description="A reranker for its searches: a cross-encoder folder on the service's machine, or a reranking "
        "server `tei:http://host:port` / `cohere:https://host/v1` (sent SEEKR_RERANK_KEY). Default: the service's.",
    )
    rerank_model: str | None = Field(
        None, min_length=1, max_length=500, description="The model a cohere-style reranking server is asked for."
    )
    query_prompt: str | None = Field(
        None, max_length=500, description="Put in front of each query (default: the model's own, e.g. e5's 'query: ')."
    )
    passage_prompt: str | None = Field(
        None, max_length=500, description="Put in front of each passage (default: the model's own)."
    )
    chunk_tokens: int | None = Field(None, ge=8, le=8192, description="Passage size in model tokens (default 128).")
    overlap_tokens: int | None = Field(
        None, ge=0, le=8191, description="Tokens shared by neighbouring passages (default 32), below chunk_tokens."
    )
    cleaning: Cleaning | None = Field(
        None, description="Where the scraped-page rules apply to uploaded files: auto, web or none (default auto)."
    )
    language: str | None = Field(
        None,
        max_length=10,
        description="Its language: auto (each passage's own, detected; the default) or a code such as zh, ja, ko, "
        "th, ar, hi, ru, de (GET /openapi.json lists none; a 422 names every supported one).",
    )

    keep_originals: bool = Field(
        False,
        description="Keep the bytes of files sent over HTTP, so GET .../documents/{id}/source serves them and their "
        "pages show as images (default false: their text alone is kept).",
    )

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is not None and value not in supported():
            raise ValueError(f"unknown language {value!r}; supported: {', '.join(supported())}")
        return value


class Dropped(BaseModel):
    """A dropped collection."""

    name: str
    dropped: bool = True


@router.get(
    "/collections",
    response_model=CollectionList,
    responses=error_responses(401, 503),
    summary="List the collections",
)
async def list_collections(request: Request, collections: CollectionsDep, keys: KeysDep) -> CollectionList:
    """Every collection the caller's key may use (all of them without keys), with its size and model."""
    caller, _, _ = identify(keys, request.headers.get("Authorization"))
    return await to_thread.run_sync(CollectionList.read, collections, caller)


_COLLECTION = "/collections/{collection}"
_NAMED = [Depends(collection_path)]


@router.get(
    _COLLECTION,
    dependencies=_NAMED,
    response_model=CollectionOut,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="One collection",
)
async def get_collection(grant: GrantDep, _: ReadAccess, collections: CollectionsDep) -> CollectionOut:
    """A collection's size, model, chunking and version."""
    name = grant.collection
    info = await to_thread.run_sync(collections.catalog.info, name)
    return CollectionOut.of(info, collections.is_open(name), grant.caller)


@router.put(
    _COLLECTION,
    dependencies=_NAMED,
    response_model=CollectionOut,
    status_code=201,
    responses={
        200: {"model": CollectionOut, "description": "It exists already, with these settings"},
        **error_responses(400, 401, 403, 404, 409, 422, 503),
    },
    summary="Create a collection",
)
async def create_collection(
    grant: GrantDep,
    _: AdminAccess,
    response: Response,
    collections: CollectionsDep,
    settings: SettingsDep,
    body: Annotated[CollectionIn | None, Body()] = None,
) -> CollectionOut:
    """Create an empty collection with its own model, chunking and cleaning (201), or find it made with the same
    ones (200); 409 when it exists with others. Needs a key with the admin right."""
    body = body or CollectionIn()
    defaults = ChunkingConfig()
    config = ChunkingConfig(
        chunk_tokens=body.chunk_tokens if body.chunk_tokens is not None else defaults.chunk_tokens,
        overlap_tokens=body.overlap_tokens if body.overlap_tokens is not None else defaults.overlap_tokens,
    )
    read = ReadOptions(body.cleaning if body.cleaning is not None else settings.cleaning)
    model, endpoint = _model_of(body, settings)
    try:
        reranker = reranker_info(body.reranker, body.rerank_model) if body.reranker else None
        created, info = await to_thread.run_sync(
            lambda: collections.create(
                grant.collection,
                model,
                config,
                read=read,
                query_prompt=body.query_prompt,
                passage_prompt=body.passage_prompt,
                endpoint=endpoint,
                reranker=reranker,
                language=body.language or AUTO,
                keep_originals=body.keep_originals,
            )
        )
    except (ConfigError, ModelLoadError) as exc:
        raise UnprocessableError(str(exc)) from exc
    response.status_code = 201 if created else 200
    return CollectionOut.of(info, collections.is_open(grant.collection), grant.caller)


def _model_of(body: CollectionIn, settings: Settings) -> tuple[str | None, str | None]:
    """(the model a new collection asks for, the embedding server's URL when it is a server model)."""
    if body.embed_api is None:
        if body.embed_url is not None or body.embed_model is not None:
            raise UnprocessableError("embed_url and embed_model need embed_api: openai, tei or ollama")
        return body.model, None
    name = body.embed_model or body.model
    if not name:
        raise UnprocessableError(f"embed_api {body.embed_api.value} needs embed_model, the model to ask the server for")
    endpoint = body.embed_url or settings.embed_url
    if not endpoint:
        raise UnprocessableError(
            f"embed_api {body.embed_api.value} needs embed_url, the server's base URL (the service sets no "
            "SEEKR_EMBED_URL)"
        )
    return server_model_id(body.embed_api, name), endpoint


@router.delete(
    _COLLECTION,
    dependencies=_NAMED,
    response_model=Dropped,
    responses=error_responses(401, 403, 404, 409, 422, 503),
    summary="Drop a collection",
)
async def drop_collection(grant: GrantDep, _: AdminAccess, collections: CollectionsDep) -> Dropped:
    """Drop a collection and everything in it. New requests to it get 404 at once; those already running finish
    first. The only collection left cannot be dropped (409). Needs a key with the admin right."""
    await to_thread.run_sync(collections.drop, grant.collection)
    return Dropped(name=grant.collection)
