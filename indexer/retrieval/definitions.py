"""Definition questions ("Who is X?"): a document answers them with the passage that introduces X.

Writers identify a person where they first name them ("Professor Sean Roberts, a Central Asian researcher at
George Washington University"; "Chinese Foreign Minister Wang Yi"); later passages only repeat the name, and
an encyclopedia entry opens with its definition. Neither retriever can tell the two apart: BM25 counts the
name, and the bi-encoder scores a sentence that merely repeats it higher than the one that introduces it
(all-MiniLM-L6-v2 on the seeds: 0.66 against 0.50 for "Who is Wang Yi?"). So for such a question each
document in the results is shown first by the passage with its first mention of the subject.

This reorders passages within a document only: which documents rank, and in what order, is unchanged.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from indexer.retrieval.query import QueryContext, Ranked
from indexer.storage.base import DocumentStore
from indexer.types import ChunkRecord

# "Who is X?", "who was X", "Who's X?"; English only, like the sentence splitter's default.
_QUESTION = re.compile(r"^\s*who(?:\s+(?:is|was)\s+|['\u2019]s\s+)(?P<subject>.+?)[\s?.!]*$", re.IGNORECASE)
# "Who is the president of X?" asks who holds a role, not what a name stands for.
_DESCRIPTION = re.compile(r"^(?:the|a|an|this|that|these|those|my|your|our|their|his|her|its)\b", re.IGNORECASE)


def definition_subject(query: str) -> str | None:
    """The X of a "Who is X?" question (None: the query is not one)."""
    match = _QUESTION.match(query)
    if match is None:
        return None
    subject = " ".join(match.group("subject").split()).strip("\"'\u201c\u201d\u2018\u2019")
    if not any(c.isalnum() for c in subject) or _DESCRIPTION.match(subject):
        return None
    return subject


def mention(subject: str) -> re.Pattern[str]:
    """Pattern for `subject` as whole words, in any case, across any whitespace (a line break included)."""
    words = (re.escape(word) for word in subject.split())
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def first_mentions(chunks: Sequence[ChunkRecord], subject: str) -> dict[str, int]:
    """Per document, the chunk id of the earliest passage that names `subject` (documents never naming it
    are left out). `chunks` must hold all of a document's passages up to its first mention."""
    pattern = mention(subject)
    found: dict[str, ChunkRecord] = {}
    for chunk in chunks:
        best = found.get(chunk.doc_id)
        if (best is None or chunk.start < best.start) and pattern.search(chunk.text):
            found[chunk.doc_id] = chunk
    return {doc: chunk.chunk_id for doc, chunk in found.items()}


def find_introductions(store: DocumentStore, shown: dict[int, ChunkRecord], subject: str) -> dict[str, int]:
    """doc_id -> its introducing passage (its first naming `subject`), for each document of the passages
    `shown` (read from `store`) that names `subject` at all.

    Only a document's passages up to the first one shown that names the subject are read: the first
    mention is there or before it (a document's chunk ids ascend with its passages' order, as every write
    assigns them), so a long document is not read whole.
    """
    pattern = mention(subject)
    bound: dict[str, int | None] = {}  # the doc's first passage shown naming the subject (None: none does)
    for cid in sorted(shown):
        doc = shown[cid].doc_id
        bound.setdefault(doc, None)
        if bound[doc] is None and pattern.search(shown[cid].text):
            bound[doc] = cid
    wanted = [
        cid
        for doc, ids in store.chunk_ids_of(list(bound)).items()
        for cid in ids
        if (limit := bound[doc]) is None or cid <= limit
    ]
    records = shown | store.chunks([cid for cid in wanted if cid not in shown])
    return first_mentions([records[cid] for cid in wanted], subject)


def introductions_first(
    top: Sequence[tuple[int, float]], doc_of: dict[int, str], introduction: dict[str, int]
) -> list[tuple[int, float]]:
    """`top` (best first) with each document's introducing passage moved to its document's first place,
    taking that place's score so the list stays sorted; the document's other passages move down one.

    Each document keeps as many places as it had: an introduction from outside `top` takes one, and the
    document's last passage leaves. Which documents rank, in what order, is unchanged.
    """
    places = Counter(doc_of[cid] for cid, _ in top)
    taken: Counter[str] = Counter()
    out: list[tuple[int, float]] = []
    for cid, score in top:
        doc = doc_of[cid]
        intro = introduction.get(doc)
        if intro is not None and not taken[doc]:
            out.append((intro, score))  # the document's first place
            taken[doc] += 1
        if cid == intro or taken[doc] >= places[doc]:
            continue  # placed first already, or the document's places are full
        out.append((cid, score))
        taken[doc] += 1
    return out


def introduce(ctx: QueryContext, top: Ranked) -> tuple[Ranked, dict[int, str], dict[int, ChunkRecord]]:
    """The "Who is X?" stage: `top` with each document shown first by the passage introducing X, those
    passages (chunk id -> X), and the passages of `top` as read (so hydration need not read them again). Any
    other query passes through unchanged."""
    subject = definition_subject(ctx.request.text)
    if subject is None or not top:
        return top, {}, {}
    store = ctx.snapshot.store
    shown = store.chunks([cid for cid, _ in top])
    introduction = find_introductions(store, shown, subject)
    doc_of = {cid: r.doc_id for cid, r in shown.items()} | {cid: doc for doc, cid in introduction.items()}
    return introductions_first(top, doc_of, introduction), dict.fromkeys(introduction.values(), subject), shown
