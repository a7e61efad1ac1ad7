"""A real browser for the chat page's tests: Debian's chromium driven by Playwright.

Playwright's own browser downloads are never used: the system chromium is launched by path
(installed by `require_tool` when the test machine allows it; under CI=true a missing one
fails the test instead of skipping it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from tests.support.system_tools import require_tool

REPO = Path(__file__).resolve().parents[2]
# Headless and quiet: no GPU, no first-run or background traffic to Google.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    executable = require_tool("chromium", "chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def artifacts_dir(name: str) -> Path:
    """Where a test keeps what a person should look at (screenshots): under
    $TWINSELF_TEST_ARTIFACTS, else <repo>/test-artifacts/ (ignored by git)."""
    root = Path(os.environ.get("TWINSELF_TEST_ARTIFACTS") or REPO / "test-artifacts")
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    return directory
