"""Every passage is matched with its document's title in front; hits still show the passage alone."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from indexer.building.builder import CONTEXT_TOKENS, build_index
from indexer.embed.base import BATCH_SIZE, Vectors
from indexer.ingest.chunking import ChunkingConfig
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.local.versions import open_index
from indexer.types import TITLE_CHARS, matched_text
from tests.fakes import FakeEmbedder

FILLER = " ".join(f"Sentence {i} talks about harbours, tides and ferries." for i in range(40))


class _Recording(FakeEmbedder):
    def __init__(self, max_tokens: int = 254) -> None:
        super().__init__(max_tokens=max_tokens)
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE, progress: bool = False) -> Vectors:
        self.seen.extend(texts)
        return super().encode(texts, batch_size=batch_size, progress=progress)


def _corpus(tmp_path: Path, title: str) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "docs.jsonl").write_text(json.dumps({"id": "d1", "title": title, "text": FILLER}) + "\n")
    return src


def test_matched_text() -> None:
    assert matched_text("Title", "first passage", 0) == "first passage"  # it already opens with the title
    assert matched_text("Title", "later passage", 120) == "Title\nlater passage"
    assert matched_text("Title", "later passage", 120, False) == "later passage"
    assert matched_text("", "later passage", 120) == "later passage"
    assert matched_text("x" * 500, "p", 5) == "x" * TITLE_CHARS + "\np"


def test_every_passage_is_found_by_its_title(tmp_path: Path) -> None:
    embedder = _Recording()
    index = tmp_path / "index"
    build_index(_corpus(tmp_path, "Zeppelin airships"), index, embedder, ChunkingConfig(32, 8))
    snapshot = open_index(index)
    assert snapshot.manifest.chunking.titles is True
    hits = Searcher(snapshot, embedder).search("zeppelin", k=50, mode=Mode.lexical).hits
    assert len(hits) == snapshot.manifest.counts.chunks > 3
    for hit in hits:
        assert "Zeppelin" not in hit.text or hit.start == 0  # the passage itself, not the title
    assert all(text.startswith("Zeppelin airships") for text in embedder.seen)


def test_a_long_title_is_cut_so_the_model_never_truncates_the_passage(tmp_path: Path) -> None:
    embedder = _Recording(max_tokens=40)
    title = " ".join(f"word{i}" for i in range(30))
    build_index(_corpus(tmp_path, title), tmp_path / "index", embedder, ChunkingConfig(32, 8))
    for text in embedder.seen:
        assert len(embedder.token_spans(text)) <= 40
    later = [t for t in embedder.seen if not t.startswith(title)]
    assert later and all(t.startswith("word0") for t in later)


def test_the_context_embedded_in_front_is_bounded_in_model_tokens(tmp_path: Path) -> None:
    # TITLE_CHARS characters of words the model reads one token each (as it reads Chinese characters) would
    # outweigh a short passage in its vector: the context is cut to CONTEXT_TOKENS tokens, every passage whole.
    embedder = _Recording()
    title = " ".join("abcdefghij" * 15)  # 200 characters, 100 tokens
    build_index(_corpus(tmp_path, title), tmp_path / "index", embedder, ChunkingConfig(32, 8))
    later = [t for t in embedder.seen if not t.startswith(title)]
    assert len(later) > 3
    for text in later:
        context = text.split("\n", 1)[0]
        assert title.startswith(context) and len(embedder.token_spans(context)) == CONTEXT_TOKENS
