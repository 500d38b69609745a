"""Reading folders: supported formats, titles, and every kind of bad file skipped with a reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from indexer.ingest.folder import read_folder


def _write(root: Path, rel: str, data: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")


def test_reads_all_formats_recursively(tmp_path: Path) -> None:
    _write(tmp_path, "a.txt", "Plain title\n\nThe first document talks about rivers and bridges.")
    _write(tmp_path, "sub/b.md", "# Markdown title\n\nThe second document talks about mountains.")
    _write(
        tmp_path,
        "sub/deeper/c.html",
        "<html><head><title>Page title</title></head><body><nav>Home | About</nav><article><h1>Web article</h1>"
        "<p>The third document is a web page about lighthouses on rocky coasts, and it has enough text "
        "to count as the main content of the page for the extractor.</p><p>Lighthouses guide ships "
        "safely into harbours at night and in fog.</p></article><footer>Copyright</footer></body></html>",
    )
    lines = [
        {
            "id": "j1",
            "text": "The fourth document is about volcanoes.",
            "title": "Volcanoes",
            "metadata": {"lang": "en"},
        },
        {"id": "j2", "text": "The fifth document is about glaciers."},
    ]
    _write(tmp_path, "d.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    report = read_folder(tmp_path)
    docs = {d.doc_id: d for d in report.documents}
    assert set(docs) == {"a.txt", "sub/b.md", "sub/deeper/c.html", "j1", "j2"}, report.skipped
    assert docs["a.txt"].title == "Plain title"
    assert docs["sub/b.md"].title == "Markdown title"
    assert "lighthouses" in docs["sub/deeper/c.html"].text.lower()
    assert "Home | About" not in docs["sub/deeper/c.html"].text
    assert docs["j1"].title == "Volcanoes" and docs["j1"].metadata == {"lang": "en"}
    assert docs["j1"].source == "d.jsonl:1" and docs["j2"].source == "d.jsonl:2"
    assert docs["j2"].title == "The fifth document is about glaciers."


def test_bad_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    _write(tmp_path, "good.txt", "A good document about trains and stations.")
    _write(tmp_path, "latin1.txt", "caf\xe9 au lait".encode("latin-1"))
    _write(tmp_path, "binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR")
    _write(tmp_path, "empty.md", "   \n\n")
    _write(tmp_path, "image.png", b"\x89PNG")  # a truncated image
    _write(tmp_path, "drawing.xyz", "?")
    _write(tmp_path, "only-ads.txt", "Advertisement\n\nFollow Us On Facebook\n")
    _write(
        tmp_path,
        "bad.jsonl",
        '{"id": "ok", "text": "Fine line about ferries."}\nnot json\n{"id": "", "text": "x"}\n[1]\n',
    )
    unreadable = tmp_path / "secret.txt"
    unreadable.write_text("You cannot read this.")
    os.chmod(unreadable, 0)
    try:
        report = read_folder(tmp_path)
    finally:
        os.chmod(unreadable, 0o600)
    reasons = {s.path: s.reason for s in report.skipped}
    # A file the page rules would empty is kept whole: cleaning never deletes a document.
    expected = {"good.txt", "ok", "only-ads.txt"} | ({"secret.txt"} if os.geteuid() == 0 else set())
    assert {d.doc_id for d in report.documents} == expected
    assert "not UTF-8" in reasons["latin1.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "empty" in reasons["empty.md"]
    assert "damaged or not an image" in reasons["image.png"]
    assert "unsupported" in reasons["drawing.xyz"]
    assert "only-ads.txt" not in reasons
    assert "malformed JSON" in reasons["bad.jsonl:2"]
    assert "missing 'id'" in reasons["bad.jsonl:3"]
    assert "not a JSON object" in reasons["bad.jsonl:4"]
    if os.geteuid() != 0:  # root reads any file, so the permission case only exists for other users
        assert "unreadable" in reasons["secret.txt"]


def test_duplicate_ids_keep_first(tmp_path: Path) -> None:
    _write(tmp_path, "a.jsonl", '{"id": "x", "text": "First copy about owls."}\n')
    _write(tmp_path, "b.jsonl", '{"id": "x", "text": "Second copy about owls."}\n')
    report = read_folder(tmp_path)
    assert [d.source for d in report.documents] == ["a.jsonl:1"]
    assert "duplicate document id" in report.skipped[0].reason


def test_hidden_files_ignored(tmp_path: Path) -> None:
    _write(tmp_path, ".git/config.txt", "not a document at all, really.")
    _write(tmp_path, "a.txt", "A visible document about cats.")
    report = read_folder(tmp_path)
    assert [d.doc_id for d in report.documents] == ["a.txt"] and not report.skipped


@pytest.mark.parametrize("content", ["\ufeffBOM title\n\nBody text here.", "CRLF title\r\n\r\nBody text here.\r\n"])
def test_bom_and_crlf(tmp_path: Path, content: str) -> None:
    _write(tmp_path, "a.txt", content)
    (doc,) = read_folder(tmp_path).documents
    assert doc.title.endswith("title") and "\r" not in doc.text and "\ufeff" not in doc.text
