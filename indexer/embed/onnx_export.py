"""Export a sentence-transformers model to ONNX (fp32 and int8), once, into a cache keyed by its weights.

Run as `python -m indexer.embed.onnx_export MODEL_DIR CACHE_DIR`. Exporting needs torch, sentence-transformers and
onnx (the `torch` extra); serving an exported model needs none of them. The serving side calls
`ensure_exported`, which runs this module in a child process when the cache has no entry, so a server never
imports torch just to find out that the export is already there.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from indexer import model_cache
from indexer.errors import ModelLoadError
from indexer.model_cache import FP32_FILE, INT8_FILE, TOKENIZER_FILE, quantize_int8, weights_hash
from indexer.onnx_export import (
    INT8_SETTINGS,
    TRACE_SETTINGS,
    ensure_entry,
    export_command,
    export_entry,
    input_names,
    trace,
)

# Everything that changes the exported files. Part of the cache key, so a change here re-exports.
EXPORT_SETTINGS: dict[str, Any] = {
    "format": 2,
    **TRACE_SETTINGS,
    # onnxruntime's transformer optimizer fuses attention, LayerNorm and GELU (bert-like models only).
    "fusion": "onnxruntime.transformers.optimizer bert",
    "int8": INT8_SETTINGS,
}
META_FILE = "seekr-onnx.json"
_FUSABLE = {"bert", "roberta", "distilbert", "xlm-roberta", "mpnet", "electra"}


class ExportMeta(BaseModel):
    """What the runtime needs to run an exported model the way sentence-transformers would."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str  # the canonical id of the exported model, recorded in index manifests
    weights_sha256: str
    settings: dict[str, Any]
    dimension: int
    max_seq_length: int
    pooling: str  # "mean" or "cls"
    normalize: bool
    input_names: list[str]
    fused: bool


def cache_entry(model_dir: Path, cache_dir: Path) -> Path:
    """The cache folder for `model_dir` under the current export settings."""
    return model_cache.cache_entry(model_dir, cache_dir, EXPORT_SETTINGS)


def find_export(cache_dir: Path, model_id: str) -> Path | None:
    """An entry exported from model `model_id` with the current settings, for when its weights are not on disk.

    The Docker image ships the export without the original weights; elsewhere entries are found by their key.
    """
    found = []
    for meta_file in sorted(cache_dir.glob(f"*/{META_FILE}")):
        try:
            meta = ExportMeta.model_validate_json(meta_file.read_bytes())
        except (OSError, ValidationError):
            continue  # not ours, or damaged: never picked by this search
        if meta.model_id == model_id and meta.settings == EXPORT_SETTINGS:
            found.append(meta_file.parent)
    if len(found) > 1:
        raise ModelLoadError(
            f"{cache_dir} holds {len(found)} exports of {model_id!r} ({', '.join(p.name for p in found)}) and its "
            "weights are not here to tell which one is current; remove the stale ones."
        )
    return found[0] if found else None


def ensure_exported(model_dir: Path, cache_dir: Path, model_id: str) -> Path:
    """The cache entry for `model_dir`, exporting it first (in a child process) if it is not there yet."""
    args = [str(model_dir), str(cache_dir), "--model-id", model_id]

    def fail(reason: str) -> ModelLoadError:
        return ModelLoadError(f"model {model_dir}: {reason}; or use SEEKR_RUNTIME=torch.")

    return ensure_entry(cache_entry(model_dir, cache_dir), META_FILE, "indexer.embed.onnx_export", args, fail)


def export(model_dir: Path, cache_dir: Path, model_id: str) -> Path:
    """Export `model_dir` into its cache entry under `cache_dir` (atomically); returns the entry."""
    return export_entry(
        cache_entry(model_dir, cache_dir), META_FILE, lambda work: _export_into(model_dir, work, model_id)
    )


def _export_into(model_dir: Path, work: Path, model_id: str) -> ExportMeta:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer

    st = SentenceTransformer(str(model_dir), device="cpu", model_kwargs={"attn_implementation": "eager"})
    modules = list(st)
    if not modules or not isinstance(modules[0], Transformer):
        raise ModelLoadError(f"{model_dir}: only Transformer + Pooling (+ Normalize) models can run on ONNX")
    pooling = next((m for m in modules if isinstance(m, Pooling)), None)
    mode = pooling.pooling_mode if pooling is not None else None
    if mode not in {"mean", "cls"} or any(not isinstance(m, Transformer | Pooling | Normalize) for m in modules):
        raise ModelLoadError(f"{model_dir}: pooling {mode!r} or its modules are not supported on ONNX; use torch")
    transformer: Transformer = modules[0]
    hf = transformer.auto_model.eval()
    names = input_names(st.tokenizer)
    sample = st.tokenizer(["an example sentence to trace", "short"], padding=True, return_tensors="pt")
    raw = work / "raw.onnx"
    trace(hf, names, sample, "last_hidden_state", raw, {0: "batch", 1: "sequence"})
    config = hf.config
    fused = config.model_type in _FUSABLE
    fp32 = work / FP32_FILE
    if fused:
        from onnxruntime.transformers.optimizer import optimize_model

        optimized = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
        )
        optimized.save_model_to_file(str(fp32))
        raw.unlink()
    else:
        raw.rename(fp32)
    quantize_int8(fp32, work / INT8_FILE, EXPORT_SETTINGS["int8"])
    st.tokenizer.backend_tokenizer.save(str(work / TOKENIZER_FILE))
    dimension = st.get_embedding_dimension()
    if dimension is None or st.max_seq_length is None:
        raise ModelLoadError(f"{model_dir}: the model does not report its dimension or maximum sequence length")
    return ExportMeta(
        model_id=model_id,
        weights_sha256=weights_hash(model_dir),
        settings=EXPORT_SETTINGS,
        dimension=int(dimension),
        max_seq_length=int(st.max_seq_length),
        pooling=str(mode),
        normalize=any(isinstance(m, Normalize) for m in modules),
        input_names=names,
        fused=fused,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m indexer.embed.onnx_export MODEL_DIR CACHE_DIR`: export and print the cache entry."""

    def run(args: Any) -> str:
        return str(export(args.folder, args.cache_dir, args.model_id or str(args.folder.resolve())))

    what = "sentence-transformers model folder"
    prog = "python -m indexer.embed.onnx_export"
    return export_command(prog, __doc__, what, run, (ModelLoadError,), argv, model_id=True)


if __name__ == "__main__":
    sys.exit(main())
