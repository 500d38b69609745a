"""Every curl example in README.md and the docs site, run as written against a live server; its output excerpt
must match."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)
# Fields whose values in an excerpt must be reproduced exactly by the live server.
CHECKED_KEYS = (
    "doc_id",
    "rank",
    "mode",
    "query",
    "detail",
    "status",
    "model",
    "documents",
    "chunks",
    "chunk_tokens",
    "embedded_chunks",
    "lighthouse-notes",
    "tide-table",
    "tide-note",
    "page",
    "introduces",
    "fusion",
)
PAIR = re.compile(r'"(' + "|".join(CHECKED_KEYS) + r')": ("(?:[^"\\]|\\.)*"|[\w.]+)')


def _examples() -> list[tuple[str, list[str], str | None]]:
    """(page, curl commands of one bash block, the json block after it if any), over every page."""
    examples = []
    for page in PAGES:
        blocks = [(m.group(1), m.group(2)) for m in BLOCK.finditer(page.read_text(encoding="utf-8"))]
        for i, (lang, body) in enumerate(blocks):
            commands = [line for line in body.splitlines() if line.startswith("curl ")]
            if lang == "bash" and commands:
                nxt = blocks[i + 1] if i + 1 < len(blocks) else None
                examples.append((page.name, commands, nxt[1] if nxt and nxt[0] == "json" else None))
    return examples


EXAMPLES = _examples()


def test_readme_and_docs_have_curl_examples() -> None:
    assert any(page == "README.md" for page, _, _ in EXAMPLES)
    assert len(EXAMPLES) >= 4
    assert any("-X POST" in c for _, cmds, _ in EXAMPLES for c in cmds)


def _normalise(output: str) -> str:
    return json.dumps(json.loads(output), ensure_ascii=False, separators=(", ", ": "))


# One test per page, its examples in order: a page's later example may use what an earlier one made (a
# collection), and tests of one parametrized function may run in different processes, in any order.
PAGE_NAMES = list(dict.fromkeys(page for page, _, _ in EXAMPLES))


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_curl_examples(target_base_url: str, page: str) -> None:
    for name, commands, excerpt in EXAMPLES:
        if name == page:
            _check_example(target_base_url, page, commands, excerpt)


def _check_example(target_base_url: str, page: str, commands: list[str], excerpt: str | None) -> None:
    outputs = []
    for command in commands:
        live = command.replace("http://127.0.0.1:8000", target_base_url)
        proc = subprocess.run(["bash", "-c", live], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        outputs.append(_normalise(proc.stdout))
    if excerpt is None:
        return
    combined = "\n".join(outputs)
    pairs = PAIR.findall(excerpt)
    assert pairs, "excerpt shows no checked field"
    for key, value in pairs:
        expected = f'"{key}": {json.dumps(json.loads(value), ensure_ascii=False)}'
        assert expected in combined, f"{page} shows {expected}, server returned {combined[:500]}"
