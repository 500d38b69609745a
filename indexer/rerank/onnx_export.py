"""Export a sentence-transformers `CrossEncoder` folder to ONNX (fp32, and int8 where it keeps the scores), once,
into the model cache keyed by its weights.

Run as `python -m indexer.rerank.onnx_export FOLDER CACHE_DIR` (needs the `torch` extra); serving the export
needs only onnxruntime, so the Docker image reranks with a cache made where torch is installed. The serving side
calls `ensure_exported`, which runs this module in a child process when the cache has no entry.

The int8 model is kept only if, on fixed probe pairs, its scores stay within `INT8_TOLERANCE` of the fp32
model's (times the fp32 scores' spread when that exceeds 1, for models that give raw logits); the fp32 export
must itself match the torch model within `FP32_TOLERANCE`, or the export fails.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError
from tokenizers import Tokenizer

from indexer.errors import ConfigError
from indexer.model_cache import FP32_FILE, INT8_FILE, TOKENIZER_FILE, cache_entry, quantize_int8, weights_hash
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
EXPORT_SETTINGS: dict[str, Any] = {"format": 1, **TRACE_SETTINGS, "int8": INT8_SETTINGS}
META_FILE = "seekr-cross-encoder.json"
INT8_TOLERANCE = 0.01
FP32_TOLERANCE = 1e-4
ACTIVATIONS = {"Sigmoid": "sigmoid", "Identity": "identity"}

# Probe pairs for the parity check: every question against every passage (plain sentences of no domain).
_QUESTIONS = [
    "When was the bridge finished?",
    "who wrote the report on water quality",
    "What does the committee recommend for next year?",
    "how many people attended the opening",
    "Why did the schedule change in the spring?",
    "which regions saw the largest increase",
    "What is the total cost of the project",
    "where is the main office located",
]
_PASSAGES = [
    "The bridge was finished in the autumn, two months later than planned, after a long dispute over steel prices.",
    "Water samples from the river were tested every week; the report found nitrate levels below the limit.",
    "The committee recommends a smaller budget next year and a review of every contract above the threshold.",
    "More than four thousand people came to the opening, twice as many as the organisers had expected.",
    "Heavy rain in March flooded the site, so the schedule moved the second phase to the summer.",
    "The northern and coastal regions grew fastest, with increases of twelve and nine percent.",
    "In total the project cost 48 million, of which 30 million came from the regional fund.",
    "The company moved its main office to the old harbour district in 2019.",
]


def probe_pairs() -> list[tuple[str, str]]:
    """The pairs the parity check scores."""
    return [(q, p) for q in _QUESTIONS for p in _PASSAGES]


class CrossEncoderMeta(BaseModel):
    """What the runtime needs to score with an export as sentence-transformers would."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str
    weights_sha256: str
    settings: dict[str, Any]
    max_length: int
    activation: str  # "sigmoid" or "identity", applied to the one logit
    input_names: list[str]
    fp32_error: float  # largest |fp32 ONNX - torch| on the probe pairs
    int8_error: float  # largest |int8 - fp32| on the probe pairs
    int8: bool  # whether int8 kept the scores within tolerance (the runtime then uses it by default)


def entry_for(folder: Path, cache_dir: Path) -> Path:
    """The cache folder of `folder`'s export under the current settings."""
    return cache_entry(folder, cache_dir, EXPORT_SETTINGS)


def read_meta(entry: Path) -> CrossEncoderMeta:
    """The export's description (ConfigError when it cannot be read)."""
    try:
        return CrossEncoderMeta.model_validate_json((entry / META_FILE).read_bytes())
    except (OSError, ValidationError) as exc:
        raise ConfigError(
            f"cannot read the cross-encoder export in {entry} ({exc}); delete it to export again"
        ) from exc


def ensure_exported(folder: Path, cache_dir: Path) -> Path:
    """The cache entry of `folder`, exporting it first (in a child process) when the cache has none."""

    def fail(reason: str) -> ConfigError:
        return ConfigError(f"reranker {folder}: {reason}")

    module = "indexer.rerank.onnx_export"
    return ensure_entry(entry_for(folder, cache_dir), META_FILE, module, [str(folder), str(cache_dir)], fail)


def export(folder: Path, cache_dir: Path) -> Path:
    """Export `folder` into its cache entry (atomically); returns the entry."""
    return export_entry(entry_for(folder, cache_dir), META_FILE, lambda work: _export_into(folder, work))


def pair_tokenizer(entry: Path, max_length: int) -> Tokenizer:
    """The export's tokenizer set up as transformers' call in CrossEncoder.predict: pairs cut longest-first to
    `max_length`, padded to the batch's longest. Configured once, never changed after: threads can share it."""
    tokenizer = Tokenizer.from_file(str(entry / TOKENIZER_FILE))
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
    shipped = tokenizer.padding or {"pad_id": 0, "pad_token": "[PAD]"}
    tokenizer.enable_padding(pad_id=shipped["pad_id"], pad_token=shipped["pad_token"])
    return tokenizer


def pair_feeds(tokenizer: Tokenizer, question: str, passages: Sequence[str], names: list[str]) -> dict[str, Any]:
    """The model's inputs for (question, passage) pairs."""
    encodings = tokenizer.encode_batch([(question, p) for p in passages])
    feeds = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
    }
    if "token_type_ids" in names:
        feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
    return feeds


def activate(logits: np.ndarray[Any, Any], activation: str) -> np.ndarray[Any, Any]:
    """The scores sentence-transformers' `predict` gives for `logits`."""
    if activation == "sigmoid":
        scores: np.ndarray[Any, Any] = 1.0 / (1.0 + np.exp(-logits))
        return scores
    return logits


def _export_into(folder: Path, work: Path) -> CrossEncoderMeta:
    import onnxruntime as ort
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(str(folder), device="cpu", model_kwargs={"attn_implementation": "eager"})
    if ce.num_labels != 1:
        raise ConfigError(f"reranker {folder} gives {ce.num_labels} scores per pair; a reranker gives one")
    activation = ACTIVATIONS.get(type(ce.activation_fn).__name__)
    if activation is None:
        raise ConfigError(f"reranker {folder}: its activation {ce.activation_fn!r} cannot run on ONNX; use torch")
    hf = ce.model.eval()
    tokenizer = ce.tokenizer
    names = input_names(tokenizer)
    sample = tokenizer(
        ["a question to trace", "short"], ["a passage to trace through the model", "p"], padding=True,
        return_tensors="pt",
    )  # fmt: skip
    fp32 = work / FP32_FILE
    trace(hf, names, sample, "logits", fp32, {0: "batch"})
    quantize_int8(fp32, work / INT8_FILE, EXPORT_SETTINGS["int8"])
    tokenizer.backend_tokenizer.save(str(work / TOKENIZER_FILE))

    pairs = probe_pairs()
    reference = np.asarray(ce.predict(pairs, batch_size=16, show_progress_bar=False), dtype=np.float64)
    # Scored as the runtime scores them (one question's passages per batch): int8 quantises activations per
    # batch, so its error depends on what shares a batch.
    pair_tok = pair_tokenizer(work, int(ce.max_seq_length))
    by_question = [(q, [p for qq, p in pairs if qq == q]) for q in dict.fromkeys(q for q, _ in pairs)]

    def scores(file: str) -> np.ndarray[Any, Any]:
        session = ort.InferenceSession(str(work / file), providers=["CPUExecutionProvider"])
        out = [
            session.run(["logits"], pair_feeds(pair_tok, q, passages, names))[0][:, 0] for q, passages in by_question
        ]
        return activate(np.concatenate(out).astype(np.float64), activation)

    fp32_scores, int8_scores = scores(FP32_FILE), scores(INT8_FILE)
    fp32_error = float(np.max(np.abs(fp32_scores - reference)))
    if fp32_error > FP32_TOLERANCE:
        raise ConfigError(f"reranker {folder}: its ONNX export scores {fp32_error:.2g} away from torch; use torch")
    int8_error = float(np.max(np.abs(int8_scores - fp32_scores)))
    spread = float(fp32_scores.max() - fp32_scores.min())
    return CrossEncoderMeta(
        model_id=str(folder.resolve()),
        weights_sha256=weights_hash(folder),
        settings=EXPORT_SETTINGS,
        max_length=int(ce.max_seq_length),
        activation=activation,
        input_names=names,
        fp32_error=fp32_error,
        int8_error=int8_error,
        int8=int8_error <= INT8_TOLERANCE * max(1.0, spread),
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m indexer.rerank.onnx_export FOLDER CACHE_DIR`: export, print the cache entry and the parity."""

    def run(args: Any) -> str:
        entry = export(args.folder, args.cache_dir)
        meta = read_meta(entry)
        kept = "kept" if meta.int8 else "not kept (fp32 is used)"
        return f"{entry}\nfp32 vs torch: {meta.fp32_error:.2g}; int8 vs fp32: {meta.int8_error:.2g}, int8 {kept}"

    what = "a sentence-transformers CrossEncoder folder"
    return export_command("python -m indexer.rerank.onnx_export", __doc__, what, run, (ConfigError,), argv)


if __name__ == "__main__":
    sys.exit(main())
