"""The languages a model was trained on, as its model card says (None: many, or unknown).

A sentence-transformers folder carries its model card (README.md) with a `language:` field in its YAML front
matter: `en` for all-MiniLM-L6-v2, a long list or `multilingual` for multilingual models. A model that reads only
some languages gives scores without meaning on text in others; the build warns about such a collection and an
uncalibrated search of a question in another language ranks by keywords (`indexer.retrieval.searcher`).
"""

from __future__ import annotations

from pathlib import Path

import frontmatter
import yaml

from indexer.embed.base import DEFAULT_MODEL, canonical_model_id, resolve_model_location

CARD = "README.md"
# What the bundled model's card says (`language: en`; a test reads the card to keep the two equal). The Docker image
# serves the bundled model from its ONNX export, without the package that carries the card.
BUNDLED_LANGUAGES = ("en",)
# A card listing more languages than this is a multilingual model: it is taken to read every language.
MAX_LISTED = 10


def model_languages(model: str) -> tuple[str, ...] | None:
    """The languages `model`'s card names (None: a multilingual model, no card, or a server's model)."""
    if canonical_model_id(model) == DEFAULT_MODEL:
        return BUNDLED_LANGUAGES
    card = Path(resolve_model_location(model)) / CARD
    try:
        meta = frontmatter.loads(card.read_text(encoding="utf-8")).metadata
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    listed = meta.get("language")
    codes = [listed] if isinstance(listed, str) else listed if isinstance(listed, list) else []
    codes = [str(c).lower() for c in codes]
    if not codes or "multilingual" in codes or len(codes) > MAX_LISTED:
        return None
    return tuple(codes)
