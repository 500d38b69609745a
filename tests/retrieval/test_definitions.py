"""'Who is X?' questions: each document is shown first by the passage that introduces X."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from indexer.building.builder import build_index
from indexer.retrieval.definitions import (
    definition_subject,
    find_introductions,
    first_mentions,
    introductions_first,
    mention,
)
from indexer.retrieval.results import Mode
from indexer.retrieval.searcher import Searcher
from indexer.storage.base import Backend, DocumentStore
from indexer.storage.settings import BackendName
from indexer.types import ChunkRecord
from tests.conftest import engine_backend
from tests.fakes import FakeEmbedder

FILLER = " ".join(f"The harbour wall {i} was rebuilt after the storm of that winter." for i in range(12))
INTRO = "Professor Ada Quill, a marine biologist at the Harbour Institute, has measured the tides for twenty years."
REPEATS = " ".join(f"Ada Quill said the tide {i} was high, and Ada Quill wrote it down." for i in range(30))


@pytest.mark.parametrize(
    ("query", "subject"),
    [
        ("Who is Wang Yi?", "Wang Yi"),
        ("who was  ada   lovelace", "ada lovelace"),
        ("Who's Sergey Lavrov?", "Sergey Lavrov"),
        ("Who\u2019s Sergey Lavrov", "Sergey Lavrov"),
        ('Who is "Wang Yi"?', "Wang Yi"),
        ("Who is the president of Tajikistan?", None),  # asks who holds a role: no name to introduce
        ("Who met Lavrov in Astana?", None),
        ("Where did Wang Yi meet Lavrov", None),
        ("Who is ?", None),
    ],
)
def test_definition_subject(query: str, subject: str | None) -> None:
    assert definition_subject(query) == subject


def test_mention_is_whole_words_in_any_case_across_line_breaks() -> None:
    pattern = mention("Wang Yi")
    assert pattern.search("Minister WANG\nYi said")
    assert pattern.search("Wang Yi's visit")
    assert not pattern.search("Wang Yin said")
    assert not pattern.search("Wang said Yi")


def _chunk(cid: int, doc: str, start: int, text: str) -> ChunkRecord:
    return ChunkRecord(cid, doc, 0, start, start + len(text), text, "", doc)


def test_first_mentions_takes_the_earliest_passage_naming_the_subject() -> None:
    chunks = [
        _chunk(3, "a", 900, "Ada Quill said so."),
        _chunk(1, "a", 0, "Nothing here."),
        _chunk(2, "a", 400, "Professor Ada Quill, a biologist."),
        _chunk(5, "b", 0, "Never named."),
    ]
    assert first_mentions(chunks, "ada quill") == {"a": 2}


def _documents(ranked: list[tuple[int, float]], doc_of: dict[int, str]) -> tuple[list[str], Counter[str]]:
    """Documents in order of first appearance, and how many places each has."""
    docs = [doc_of[c] for c, _ in ranked]
    return list(dict.fromkeys(docs)), Counter(docs)


def test_introductions_first_moves_within_documents_only() -> None:
    top = [(10, 0.9), (20, 0.8), (11, 0.7), (30, 0.6), (12, 0.5), (31, 0.4)]
    doc_of = {10: "a", 11: "a", 12: "a", 13: "a", 20: "b", 30: "c", 31: "c", 32: "c"}
    # a's introduction (12) is 5th: it takes a's first place and score, a's passages move down one place.
    out = introductions_first(top, doc_of, {"a": 12})
    assert out == [(12, 0.9), (10, 0.9), (20, 0.8), (11, 0.7), (30, 0.6), (31, 0.4)]
    # c's introduction (32) is not in the list: it takes c's first place, and c's last passage leaves.
    out = introductions_first(top, doc_of, {"a": 12, "c": 32})
    assert out == [(12, 0.9), (10, 0.9), (20, 0.8), (11, 0.7), (32, 0.6), (30, 0.6)]
    for reordered in (out, introductions_first(top, doc_of, {"b": 20})):
        # Documents keep their order and their number of places; scores stay sorted.
        assert _documents(reordered, doc_of) == _documents(top, doc_of)
        assert [s for _, s in reordered] == sorted((s for _, s in reordered), reverse=True)
    # One passage per document: each document is shown by its introduction.
    assert introductions_first([(10, 0.9), (20, 0.8)], doc_of, {"a": 13}) == [(13, 0.9), (20, 0.8)]
    # An introduction already first changes nothing.
    assert introductions_first(top, doc_of, {"a": 10, "b": 20}) == top


@pytest.fixture
def quill(engine: BackendName, tmp_path: Path) -> Iterator[Backend]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "quill.txt").write_text(f"Harbour notes\n\n{FILLER}\n\n{INTRO}\n\n{REPEATS}\n")
    (src / "other.txt").write_text("Other notes\n\nThe tide tables were printed. Ada Quill checked them once.\n")
    backend = engine_backend(engine, tmp_path)
    build_index(src, backend, FakeEmbedder())
    yield backend
    backend.close()


@pytest.mark.parametrize("mode", list(Mode))
def test_who_is_shows_the_introducing_passage_first(
    quill: Backend, mode: Mode, monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher = Searcher(quill.open(), FakeEmbedder())
    question = "Who is Ada Quill?"
    hits = searcher.search(question, k=4, mode=mode).hits
    assert hits[0].introduces == "Ada Quill" and "Professor Ada Quill" in hits[0].text
    assert hits[0].score == hits[1].score and hits[1].doc_id == "quill.txt"  # its document's best place
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert len({h.chunk_id for h in hits}) == len(hits)

    # The same question ranked without the rule: the passages repeating the name outrank the introduction,
    # and the documents, their order and their number of places are the same.
    monkeypatch.setattr("indexer.retrieval.definitions.definition_subject", lambda query: None)
    base = searcher.search(question, k=4, mode=mode).hits
    intro = hits[0].chunk_id
    assert all(h.introduces is None for h in base) and base[0].chunk_id != intro
    if intro in [h.chunk_id for h in base]:
        moved_down = [h for h in base if h.chunk_id != intro]
    else:  # its document gave up its last place to it
        last = max(i for i, h in enumerate(base) if h.doc_id == "quill.txt")
        moved_down = base[:last] + base[last + 1 :]
    assert [replace(h, introduces=None) for h in hits[1:]] == [
        replace(h, rank=i) for i, h in enumerate(moved_down, start=2)
    ]
    assert _documents([(h.chunk_id, h.score) for h in hits], {h.chunk_id: h.doc_id for h in hits}) == _documents(
        [(h.chunk_id, h.score) for h in base], {h.chunk_id: h.doc_id for h in base}
    )
    monkeypatch.undo()

    grouped = searcher.search(question, k=5, mode=mode, max_per_doc=1).hits
    assert [h.doc_id for h in grouped] == ["quill.txt", "other.txt"]
    # The other document's first (only) mention is its introduction too.
    assert grouped[0].chunk_id == hits[0].chunk_id and grouped[1].introduces == "Ada Quill"


def test_find_introductions_reads_a_document_only_up_to_its_shown_passage(quill: Backend) -> None:
    store = quill.open().store
    ids = store.chunk_ids_of(["quill.txt"])["quill.txt"]
    records = store.chunks(ids)
    texts = {cid: r.text for cid, r in records.items()}
    assert [records[c].ordinal for c in ids] == list(range(len(ids)))  # ids ascend with the passages' order
    intro = next(c for c in ids if "Professor Ada Quill" in texts[c])
    later = [c for c in ids if c > intro and "Ada Quill" in texts[c]]  # passages repeating the name
    assert len(later) >= 2
    read: list[int] = []

    class Recording:
        """The store, recording which passages are read."""

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def chunks(self, wanted: Iterable[int]) -> Any:
            wanted = list(wanted)
            read.extend(wanted)
            return store.chunks(wanted)

    recording = cast(DocumentStore, Recording())
    assert find_introductions(recording, store.chunks([later[0]]), "Ada Quill") == {"quill.txt": intro}
    assert max(read) < later[0]  # nothing after the passage shown was read
    # A shown passage that does not name the subject bounds nothing: the first mention may come after it.
    read.clear()
    assert find_introductions(recording, store.chunks([ids[0]]), "Ada Quill") == {"quill.txt": intro}
    assert ids[0] not in read and sorted({*read, ids[0]}) == ids  # the rest, and the passage shown not again
    assert find_introductions(recording, store.chunks([ids[0]]), "Nobody Here") == {}
