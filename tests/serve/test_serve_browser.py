"""The web page in a real browser (Debian's chromium driven by Playwright, no download)."""

import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
def page(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed: apt-get install -y chromium")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed: pip install playwright"
    )
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh user-data-dir
            executable_path=CHROMIUM, headless=True, args=FLAGS,
        )  # fmt: skip
        try:
            yield context.new_page()
        finally:
            context.close()


def test_page_generates_and_plays_a_video(page, server):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    page.fill("#prompt", "a ball rolls across the page")
    page.fill("#size", "64x48")
    page.fill("#seconds", "2")
    page.click("#submit")
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('completed')", timeout=30_000
    )
    assert not page.locator("#status.error").count(), page.text_content("#status")

    # the <video> has loaded the mp4: its duration is the requested 2 s, and it plays
    page.wait_for_function("document.getElementById('player').readyState >= 2", timeout=10_000)
    duration = page.evaluate("document.getElementById('player').duration")
    assert duration == pytest.approx(2.0, abs=0.15)
    t0 = page.evaluate("document.getElementById('player').currentTime")
    time.sleep(0.6)
    t1 = page.evaluate("document.getElementById('player').currentTime")
    assert t1 != t0, "currentTime did not advance: the video is not playing"
    assert page.get_attribute("#download", "href").startswith("blob:")

    # the job list shows it, and a completed video becomes a remix/extend source
    assert "completed" in page.text_content("#jobs")
    assert page.locator("#source option").count() >= 1

    # extend it by 1 s from the page: the new video plays for 2 + 1 s
    page.select_option("#task", "extend")
    assert page.is_hidden("#size") and page.is_visible("#source")
    page.fill("#prompt", "and it keeps rolling")
    page.fill("#seconds", "1")
    page.click("#submit")
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('completed: 64x48, 3 s')",
        timeout=30_000,
    )
    page.wait_for_function(
        "Math.abs(document.getElementById('player').duration - 3) < 0.15", timeout=10_000
    )
    assert not errors
