"""Slow tier: the search page in headless Debian Chromium, driven by Playwright, against a real server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, RunningServer

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]

if not Path(CHROMIUM).exists():
    # `make test` installs Debian's chromium; in CI its absence is a failure, elsewhere a visible skip.
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing; run `make browser` (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is missing; run `make browser`", allow_module_level=True)


def test_type_question_press_enter_see_article(real_server: RunningServer, capsys: pytest.CaptureFixture[str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(real_server.base_url + "/")
            page.fill("#q", "Where did Wang Yi meet Lavrov")
            page.press("#q", "Enter")
            first = page.locator("li.result").first
            expect(first).to_contain_text("New Eurasian Security Framework", timeout=30_000)
            expect(first).to_contain_text("000_27323d1700c7a7d6.txt")
            expect(first.locator("mark")).to_have_count(1)
            assert "Astana" in first.inner_text()
            expect(page.locator("#status")).to_contain_text("results in")
            page.screenshot(path=str(ARTIFACTS / "search-page.png"), full_page=True)

            # The search is in the address: a link (or a bookmark) opens the page with it asked again.
            assert "q=Where+did+Wang+Yi+meet+Lavrov" in page.url and "collection=default" in page.url
            linked = browser.new_page()
            linked.goto(real_server.base_url + "/?q=Wang+Yi+Lavrov+Astana&collection=default&mode=lexical")
            expect(linked.locator("#q")).to_have_value("Wang Yi Lavrov Astana")
            expect(linked.locator("li.result").first).to_contain_text("Astana", timeout=30_000)
            expect(linked.locator("#status")).to_contain_text("(lexical)")
            linked.close()

            # An API error is shown to the user, not swallowed.
            page.fill("#q", "   ")
            page.press("#q", "Enter")
            expect(page.locator("#error")).to_be_visible(timeout=10_000)
            expect(page.locator("#error")).to_contain_text("non-empty")
            page.screenshot(path=str(ARTIFACTS / "search-page-error.png"))
            assert page.locator("a[href='/docs']").count() == 1
        finally:
            browser.close()
    with capsys.disabled():
        print(f"\nscreenshot: {ARTIFACTS / 'search-page.png'}")


def test_the_picker_offers_only_what_the_key_may_read(fake_seed_index: Path, tmp_path: Path) -> None:
    import httpx
    from playwright.sync_api import expect, sync_playwright

    from service.keys import digest
    from tests.conftest import AUTH, start_fake_server

    reader = "sk-page-reader-0123456789"
    keys = tmp_path / "keys.toml"
    keys.write_text(
        f'[[keys]]\nname = "page"\nsha256 = "{digest(reader)}"\nrights = ["read"]\ncollections = ["notes"]\n',
        encoding="utf-8",
    )
    proc, base = start_fake_server(fake_seed_index, tmp_path / "server.log", SEEKR_KEYS_FILE=str(keys))
    try:
        for name in ("notes", "secret"):
            assert httpx.put(f"{base}/collections/{name}", headers=AUTH).status_code == 201
            httpx.put(f"{base}/collections/{name}/documents/g", json={"text": f"Gannets of {name}."}, headers=AUTH)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page()
                page.goto(base + "/")
                # Without a key, the page says a key is needed and opens the key box.
                expect(page.locator("#error")).to_contain_text("needs", timeout=10_000)
                expect(page.locator("#key-box")).to_have_attribute("open", "")
                page.fill("#key", reader)
                page.press("#key", "Enter")
                page.locator("#key").dispatch_event("change")
                expect(page.locator("#collection option")).to_have_text(["notes (1 documents)"], timeout=10_000)
                page.fill("#q", "gannets")
                page.press("#q", "Enter")
                expect(page.locator("li.result").first).to_contain_text("Gannets of notes.", timeout=10_000)
                page.screenshot(path=str(ARTIFACTS / "search-page-collections.png"))
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
