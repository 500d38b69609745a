"""Boilerplate rules on the real seeds and on small synthetic pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.ingest.clean import clean_text, split_title
from indexer.ingest.folder import read_folder
from indexer.ingest.read_options import ReadOptions
from tests.conftest import ROOT

SEEDS = ROOT / "seeds"

BOILERPLATE = [
    "Advertisement",
    "Scroll to continue reading",
    "See also",
    "Mario Kart",
    "Avengers",
    "cyberpunk",
    "hide title",
    "toggle title",
    "Follow Us On",
    "Previous Post",
    "Next Post",
    "Leave a Reply",
    "Click to comment",
    "Your email address",
    "You May Also Like",
    "Search Here",
    "gettyimages",
    "Getty Images",
    "Photo: AFP",
    "Image: AFP",
    "Photo: AP",
    "Connect with us",
    "what are you looking for",
    "Hire Us",
    "Download Free Games",
    "Exit mobile version",
    "MOST READ",
    "Post a Comment",
    "Leave a Comment",
    "Dream11",
    "WWE",
    "Fifa",
]


@pytest.fixture(scope="module")
def seed_docs() -> dict[str, str]:
    report = read_folder(SEEDS)
    assert not report.skipped
    return {d.doc_id: d.text for d in report.documents}


def test_all_five_seeds_read(seed_docs: dict[str, str]) -> None:
    assert len(seed_docs) == 5


@pytest.mark.parametrize("phrase", BOILERPLATE)
def test_no_boilerplate_in_cleaned_seeds(seed_docs: dict[str, str], phrase: str) -> None:
    for doc_id, text in seed_docs.items():
        assert phrase.lower() not in text.lower(), f"{phrase!r} left in {doc_id}"


def test_repeated_headline_appears_once(seed_docs: dict[str, str]) -> None:
    text = seed_docs["000_27323d1700c7a7d6.txt"]
    assert text.count('Are China and Russia planning to build a "New Eurasian Security Framework"?') == 1
    text = seed_docs["004_f88386e9262d2b64.txt"]
    assert text.count("Against the Democratic West, Chinese and Russian leaders meet again at SCO summit") == 1


def test_article_body_is_kept(seed_docs: dict[str, str]) -> None:
    assert "met in Astana on May 20" in seed_docs["000_27323d1700c7a7d6.txt"]
    assert "Aowen Cao contributed research from Beijing." in seed_docs["001_a1533b252d97245d.txt"]
    assert "70.2 billion US dollars" in seed_docs["002_ed85d81760ff91a2.txt"]


def test_titles_skip_page_chrome() -> None:
    titles = {d.doc_id: d.title for d in read_folder(SEEDS).documents}
    assert titles["001_a1533b252d97245d.txt"].startswith("Xi Jinping travels outside of China")
    assert titles["002_ed85d81760ff91a2.txt"] == "\u2018New chapter\u2019 in China-Central Asia relations"


def test_caption_before_credit_and_duplicates_removed() -> None:
    raw = (
        "Big news today\n\n"
        "A man stands next to a car in the rain.\n"
        "Jane Doe/AFP via Getty Images\n\n"
        "The council approved the budget on Monday after a long debate.\n\n"
        "The council approved the budget on Monday after a long debate.\n\n"
        "Crowds gathered outside the hall. Photo: Reuters\n"
    )
    cleaned = clean_text(raw)
    assert cleaned == "Big news today\n\nThe council approved the budget on Monday after a long debate."


def test_markdown_heading_kept_as_title_and_short_fragments_dropped() -> None:
    cleaned = clean_text("# Budget\n\nDIPLOMACY\n\nPublished\n\nThe council approved the budget.\n")
    assert cleaned == "Budget\n\nThe council approved the budget."
    assert split_title(cleaned) == "Budget"


def test_end_marker_cuts_teasers() -> None:
    body = "\n\n".join(f"Paragraph {i} says something useful about the topic." for i in range(6))
    raw = body + "\n\nYou May Also Like\n\nSomething unrelated happened somewhere else and\n"
    assert "unrelated" not in clean_text(raw)
    assert "Paragraph 5" in clean_text(raw)


def test_only_boilerplate_gives_empty_text() -> None:
    assert clean_text("Advertisement\n\nFollow Us On Facebook Facebook\n\n") == ""


def test_auto_applies_page_rules_only_to_text_that_looks_scraped(tmp_path: Path) -> None:
    from indexer.ingest.clean import Cleaning

    goldfish = "Common goldfish\n\nThe common goldfish is a freshwater fish that lives for decades..."
    manila = "Metro Manila\n\nIts population is 7007118559750000000♠11,855,975 (2015 census)."
    (tmp_path / "fish.txt").write_text(goldfish)
    (tmp_path / "manila.txt").write_text(manila)
    (tmp_path / "page.txt").write_text(
        "Headline\n\nA real paragraph about the harbour.\n\nAdvertisement\n\nSee also: unrelated story\n"
    )
    auto = read_folder(tmp_path)
    docs = {d.doc_id: d.text for d in auto.documents}
    assert "freshwater fish that lives for decades..." in docs["fish.txt"]  # one teaser-like line is prose
    assert "7007118559750000000" in docs["manila.txt"]
    assert "Advertisement" not in docs["page.txt"] and "unrelated" not in docs["page.txt"]
    assert auto.cleaned == 1 and auto.removed == {"boilerplate": 1, "see also": 1}

    web = read_folder(tmp_path, ReadOptions(Cleaning.web))
    assert web.cleaned == 3 and {d.doc_id for d in web.documents} == {"fish.txt", "manila.txt", "page.txt"}
    assert web.removed["teaser"] == 1 and web.removed["image id"] == 1

    none = read_folder(tmp_path, ReadOptions(Cleaning.none))
    assert none.cleaned == 0 and "Advertisement" in {d.doc_id: d.text for d in none.documents}["page.txt"]


def test_every_seed_article_looks_scraped_and_no_cranfield_abstract_does() -> None:
    from indexer.ingest.clean import looks_scraped

    assert all(looks_scraped(p.read_text(encoding="utf-8")) for p in SEEDS.iterdir())
    corpus = ROOT.parent / "shared" / "datasets" / "cranfield" / "corpus.jsonl"
    if not corpus.exists():
        pytest.skip(f"{corpus} is not here (CI has ../shared beside the clone)")
    texts = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines()]
    assert len(texts) == 1400 and not any(looks_scraped(t) for t in texts)
