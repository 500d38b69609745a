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
