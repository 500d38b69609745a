"""The steps every ONNX export shares, the embedder's (`indexer.embed.onnx_export`) and the cross-encoder's
(`indexer.rerank.onnx_export`): tracing a transformers model, the int8 settings, finding or making the cache
entry in a child process, and the command that makes one.

Each export module says only what is its own: which output of the model it keeps, what it records beside the
files (a pydantic model written as the entry's marker file), and what it checks.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from indexer.model_cache import can_export, export_in_child, write_entry

# How a model is traced, part of every export's settings (and so of its cache key).
TRACE_SETTINGS: dict[str, Any] = {"exporter": "torch.onnx.export dynamo=False", "opset": 17, "attention": "eager"}
# Per-channel symmetric int8 weights, asymmetric activations: what sentence-transformers' avx512_vnni config does.
# Per-tensor weights cost far more accuracy (embeddings: mean cosine 0.957 vs fp32, against 0.993).
INT8_SETTINGS: dict[str, Any] = {
    "weight_type": "QInt8",
    "per_channel": True,
    "reduce_range": False,
    "weight_symmetric": True,
}
# The inputs a BERT-like tokenizer may give, in the order the traced model takes them.
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def input_names(tokenizer: Any) -> list[str]:
    """The inputs `tokenizer` (a transformers tokenizer) gives the model, in the traced order."""
    return [name for name in INPUT_NAMES if name in tokenizer.model_input_names]


def trace(hf: Any, names: list[str], sample: Mapping[str, Any], output: str, path: Path, axes: dict[int, str]) -> None:
    """Trace `hf` (a transformers model in eval mode) into ONNX at `path`: it takes `names` (batch and sequence
    dynamic) and gives the attribute `output` of its result (dynamic along `axes`). `sample` holds inputs to
    trace with."""
    import torch

    class _Traced(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hf = hf

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            kept: torch.Tensor = getattr(self.hf(**dict(zip(names, inputs, strict=True))), output)
            return kept

    with torch.no_grad():
        torch.onnx.export(
            _Traced(),
            tuple(sample[n] for n in names),
            str(path),
            dynamo=False,
            opset_version=TRACE_SETTINGS["opset"],
            input_names=names,
            output_names=[output],
            dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, output: axes},
        )


def ensure_entry(entry: Path, marker: str, module: str, args: list[str], fail: Callable[[str], Exception]) -> Path:
    """`entry`, made first by `python -m module args` in a child process (torch stays out of this process) when
    it holds no `marker`. `fail(reason)` is the error raised when it cannot be made."""
    if (entry / marker).is_file():
        return entry
    if not can_export():
        raise fail(
            f"no ONNX export of it in {entry.parent}, and exporting needs torch and onnx, which are not installed. "
            f"Export it where they are (`pip install 'seekr[torch]'`, then `python -m {module} FOLDER CACHE_DIR`) "
            "and point SEEKR_MODEL_CACHE at that cache"
        )
    if (failure := export_in_child(module, args, entry, marker)) is not None:
        raise fail(f"exporting it to ONNX failed:\n{failure}")
    return entry


def export_entry(entry: Path, marker: str, make: Callable[[Path], BaseModel]) -> Path:
    """Make `entry` (atomically, see `write_entry`): `make(folder)` writes the export's files into the folder and
    returns what it records, written as `marker`."""

    def fill(work: Path) -> None:
        meta = make(work)
        (work / marker).write_text(meta.model_dump_json(indent=2) + "\n", encoding="utf-8")

    return write_entry(entry, marker, fill)


def export_command(
    prog: str,
    description: str | None,
    what: str,
    run: Callable[[argparse.Namespace], str],
    errors: tuple[type[Exception], ...],
    argv: list[str] | None = None,
    model_id: bool = False,
) -> int:
    """`python -m PROG FOLDER CACHE_DIR` (with `model_id`: `[--model-id ID]`): `run(args)` exports and says what
    it made (printed); exit status 2 with the reason on one of `errors`. Offline: an export reads the folder,
    never the hub."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("folder", type=Path, help=what)
    parser.add_argument("cache_dir", type=Path, help="cache folder (the entry is made inside it)")
    if model_id:
        parser.add_argument("--model-id", help="id recorded for the model (default: the folder's absolute path)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        print(run(args))
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
