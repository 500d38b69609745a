"""FastAPI dependencies: the settings and the search engine, taken from the app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from indexer.embed.base import Embedder
from indexer.embed.runtime import load_embedder as load_runtime
from indexer.retrieval.searcher import Searcher
from service.admission import Admission
from service.engine import Engine
from service.settings import Settings


def load_embedder(settings: Settings) -> Embedder:
    """The production embedder, on the configured runtime, offline."""
    return load_runtime(
        settings.model,
        settings.runtime,
        cache_dir=settings.model_cache,
        threads=settings.inference_threads,
        device=settings.device,
    )


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    """The app's engine."""
    engine: Engine = request.app.state.engine
    return engine


def get_searcher(engine: Annotated[Engine, Depends(get_engine)]) -> Searcher:
    """The current searcher (503 until ready)."""
    return engine.searcher


def get_admission(request: Request) -> Admission:
    """The app's admission gates."""
    admission: Admission = request.app.state.admission
    return admission


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]
AdmissionDep = Annotated[Admission, Depends(get_admission)]
