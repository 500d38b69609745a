"""The choice of reranker: what a setting names, loaded."""

from __future__ import annotations

from pathlib import Path

from indexer.errors import ConfigError
from indexer.manifest import RerankerInfo
from indexer.model_cache import default_cache_dir, usable_cores
from indexer.rerank.base import Reranker, RerankRuntime
from indexer.rerank.cross_encoder import check_folder
from indexer.rerank.server import RerankApi, ServerReranker


def load_reranker(
    path: Path, runtime: RerankRuntime = RerankRuntime.auto, *, cache_dir: Path | None = None, threads: int = 0
) -> Reranker:
    """The cross-encoder in folder `path` on `runtime` (ConfigError if it is not one, or cannot be exported).
    ONNX runtimes export it into `cache_dir` (default: the model cache) the first time; `threads` 0: every core."""
    if runtime is RerankRuntime.torch:
        from indexer.rerank.cross_encoder import CrossEncoderReranker

        return CrossEncoderReranker(path)  # checks the folder itself
    check_folder(path)
    from indexer.rerank.onnx_export import ensure_exported
    from indexer.rerank.onnx_runtime import OnnxCrossEncoder

    entry = ensure_exported(path, cache_dir or default_cache_dir())
    int8 = {RerankRuntime.onnx: False, RerankRuntime.onnx_int8: True}.get(runtime)
    return OnnxCrossEncoder(entry, folder=path, int8=int8, threads=threads or usable_cores())


def reranker_info(spec: str, model: str | None = None) -> RerankerInfo:
    """What `spec` names: `tei:URL` or `cohere:URL` a reranking server (`model`: what a cohere-style one is asked
    for), anything else a cross-encoder folder (recorded by its absolute path)."""
    kind, sep, rest = spec.partition(":")
    if sep and kind in RerankApi.__members__ and rest.startswith(("http://", "https://")):
        return RerankerInfo(kind=RerankApi(kind).value, location=rest.rstrip("/"), model=model)
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"reranker {spec!r} is neither a folder nor a server (tei:http://host:port or cohere:https://host/v1)"
        )
    return RerankerInfo(kind="cross-encoder", location=str(folder.resolve()))


def load_reranker_of(
    info: RerankerInfo,
    *,
    runtime: RerankRuntime = RerankRuntime.auto,
    cache_dir: Path | None = None,
    threads: int = 0,
    key: str | None = None,
) -> Reranker:
    """The reranker `info` records (a server is sent `key`)."""
    if info.kind == "cross-encoder":
        return load_reranker(Path(info.location), runtime, cache_dir=cache_dir, threads=threads)
    return ServerReranker(RerankApi(info.kind), info.location, info.model, key)
