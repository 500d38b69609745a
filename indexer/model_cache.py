"""Exported models kept in a cache by their weights, shared by the embedder's and the reranker's ONNX exports.

An entry's name holds a hash of the model folder's files and of the export settings, so new weights or new
settings make a new entry and an entry is never stale. Entries are written into a temporary folder and renamed
into place, so a reader never sees half an export and two processes exporting at once both end with a whole one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Files of a model folder that do not change its outputs.
_IGNORED = {"README.md", ".gitattributes"}

# The files of an export: the same names for every kind of model (embedder, cross-encoder).
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
TOKENIZER_FILE = "tokenizer.json"


def cache_root() -> Path:
    """The folder seekr keeps its caches under: `$XDG_CACHE_HOME/seekr` (`~/.cache/seekr`)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seekr"


def default_cache_dir() -> Path:
    """Where exported models are kept unless SEEKR_MODEL_CACHE says otherwise."""
    if configured := os.environ.get("SEEKR_MODEL_CACHE"):
        return Path(configured)
    return cache_root() / "models"


def weights_hash(model_dir: Path) -> str:
    """SHA-256 over every file of the model folder that affects its outputs (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name not in _IGNORED):
        digest.update(path.relative_to(model_dir).as_posix().encode() + b"\0")
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def cache_entry(model_dir: Path, cache_dir: Path, settings: dict[str, Any]) -> Path:
    """The cache folder for `model_dir` exported with `settings`."""
    key = hashlib.sha256((weights_hash(model_dir) + json.dumps(settings, sort_keys=True)).encode()).hexdigest()
    return cache_dir / f"{model_dir.name}-{key[:16]}"


def write_entry(entry: Path, marker: str, fill: Callable[[Path], None]) -> Path:
    """Make `entry` by `fill`ing a temporary folder beside it (which must end holding `marker`), then renaming
    it into place; an entry already there is kept."""
    if (entry / marker).is_file():
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        fill(work)
        work.chmod(0o755)  # mkdtemp makes it private; the entry is shared (e.g. built as root, served as a user)
        try:
            work.rename(entry)
        except OSError:
            # Another process exported the same entry first; theirs is identical (the export is reproducible).
            if not (entry / marker).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return entry


def can_export() -> bool:
    """Whether exports can be made here: torch and onnx are installed (the `torch` extra)."""
    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("onnx") is not None


def export_in_child(module: str, args: list[str], entry: Path, marker: str) -> str | None:
    """Make `entry` by running `python -m module args` (torch stays out of this process); None when the entry is
    there after, else why not (the child's last words)."""
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not (entry / marker).is_file():
        return proc.stderr.strip()[-2000:] or f"exit status {proc.returncode}"
    return None


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, so a container's cpuset counts)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def quantize_int8(fp32: Path, out: Path, settings: dict[str, Any]) -> None:
    """Write the int8 model of `fp32` to `out`: dynamic quantisation (int8 weights, activations quantised per
    batch at run time) with `settings` (weight_type, per_channel, reduce_range, weight_symmetric)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        fp32,
        out,
        weight_type=QuantType[settings["weight_type"]],
        per_channel=settings["per_channel"],
        reduce_range=settings["reduce_range"],
        extra_options={
            "WeightSymmetric": settings["weight_symmetric"],
            "ActivationSymmetric": False,
            # Shape inference cannot type the outputs of fused (com.microsoft) ops; they are all float.
            "DefaultTensorType": onnx.TensorProto.FLOAT,
        },
    )
