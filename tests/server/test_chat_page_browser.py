"""The chat page in a real browser (Debian's chromium, driven by Playwright) against one real
`twinself serve` (offline provider, sample persona, shipper and evaluator on, every answer
judged): what a visitor does, what they see, and what reaches the owner."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import artifacts_dir, chromium
from tests.support.memory_data import build_runtime
from tests.support.network import free_port
from tests.support.waiting import answers, wait_until
from twinself.config.settings import Settings, sample_data_dir
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.rating_queue import RatingQueue

pytestmark = pytest.mark.slow

CHAT_KEY = "site-key-for-the-browser-test"
BURST_KEY = "another-site-key"  # spent to its rate limit by one test alone
RATE_LIMIT = 100  # a minute, per key
ADMIN_KEY = "admin-key-for-the-browser-test"
MAX_MESSAGE_CHARS = 300
# Any answer that waits longer than this for the page is a failure, not a slow machine.
UI_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class TwinServer:
    url: str
    home: Path
    widget_site: str  # another origin, allowed to frame the page (TWINSELF_CORS_ORIGINS)

    def admin(self, path: str) -> Any:
        response = httpx.get(f"{self.url}{path}", headers={"X-API-Key": ADMIN_KEY}, timeout=10)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def twin_server(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder
) -> Iterator[TwinServer]:
    root = tmp_path_factory.mktemp("chat_page")
    # The sample memory, built here with the session's model (a `twinself rebuild` process
    # would load it once more), then closed: the server opens it.
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, home=root / "home", data_dir=sample_data_dir(), llm_provider="offline"
    )
    build_runtime(settings, embedder).close()
    port, site_port = free_port(), free_port()
    env = {
        **os.environ,
        "TWINSELF_HOME": str(root / "home"),
        "TWINSELF_DATA_DIR": str(sample_data_dir()),  # only read
        "TWINSELF_LLM_PROVIDER": "offline",
        "TWINSELF_PORT": str(port),
        "TWINSELF_EVAL_SAMPLE_RATE": "1",
        "TWINSELF_MAX_MESSAGE_CHARS": str(MAX_MESSAGE_CHARS),
        "TWINSELF_API_KEYS": f"{CHAT_KEY},{BURST_KEY}",
        "TWINSELF_RATE_LIMIT": f"{RATE_LIMIT}/minute",
        "TWINSELF_ADMIN_KEY": ADMIN_KEY,
        "TWINSELF_CORS_ORIGINS": f"http://127.0.0.1:{site_port}",
        "TWINSELF_SHIPPER_METRICS_PORT": str(free_port()),
        "TWINSELF_EVALUATOR_METRICS_PORT": str(free_port()),
    }
    for name in ("MLFLOW_TRACKING_URI", "QDRANT_URL", "GOOGLE_API_KEY", "EVAL_JUDGE"):
        env.pop(name, None)
    log = (root / "serve.log").open("wb")
    serve = subprocess.Popen(
        [sys.executable, "-m", "twinself.cli", "serve"], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{url}/health"), 120, "twinself serve")
        yield TwinServer(url, root / "home", f"http://127.0.0.1:{site_port}")
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, twin_server: TwinServer) -> Iterator[Page]:
    """A fresh tab (its own sessionStorage), opened at the server's root as a person would,
    with the site's chat key in the fragment as the widget passes it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    # Whatever the Content-Security-Policy blocked ("Executing inline script violates the
    # following Content Security Policy directive ...").
    opened.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    opened.goto(f"{twin_server.url}/#key={CHAT_KEY}")
    expect(opened.locator("body")).to_have_attribute("data-ready", "true")
    yield opened
    context.close()
    assert errors == [], f"the page threw or broke its policy: {errors}"


def send(page: Page, message: str) -> None:
    page.locator("#message").fill(message)
    page.locator("#message").press("Enter")


# Each change the page makes to the answer's text, as the text's length: recorded in the page.
# (Per change, not per repaint: on loopback the whole stream often arrives in one or two
# network reads, so a person sees it grow only as fast as the model writes.)
RECORD_ANSWER_GROWTH = """() => {
  window.answerLengths = [];
  new MutationObserver((records) => {
    for (const record of records) {
      if (!record.target.matches?.(".msg.twin .answer")) continue;
      for (const node of record.addedNodes) window.answerLengths.push(node.textContent.length);
    }
  }).observe(document.getElementById("messages"), { childList: true, subtree: true });
}"""


def test_a_browser_asking_for_the_root_gets_the_chat_page(
    page: Page, twin_server: TwinServer
) -> None:
    assert page.url == f"{twin_server.url}/ui/"  # the key left the address bar
    bot_name = httpx.get(twin_server.url).json()["bot_name"]  # an API client: JSON
    expect(page.locator("h1")).to_have_text(f"Chat with {bot_name}")
    expect(page).to_have_title(f"Chat with {bot_name}")


def test_an_answer_streams_in_with_its_sources_scores_and_the_visitors_feedback(
    page: Page, twin_server: TwinServer
) -> None:
    page.evaluate(RECORD_ANSWER_GROWTH)
    send(page, "Where do you work?")

    twin = page.locator(".msg.twin").last
    expect(twin.locator(".actions")).to_be_visible()  # the stream ended, the metadata came
    answer = twin.locator(".answer").inner_text()
    assert "Solvik" in answer
    # The text grew chunk by chunk as the stream was read, not in one piece at the end.
    lengths: list[int] = page.evaluate("window.answerLengths")
    assert len(lengths) >= 10 and lengths == sorted(lengths), lengths
    assert lengths[-1] == len(answer)
    # Screen readers hear the finished answer once; focus is back in the message box.
    expect(page.locator("#announcer")).to_contain_text(answer[:40])
    expect(page.locator("#message")).to_be_focused()

    # Its sources: a closed list, each source opening on the passage it quotes.
    sources = twin.locator("details.sources")
    expect(sources.locator(".source")).not_to_have_count(0)
    sources.locator("summary").first.click()
    first = sources.locator(".source").first
    first.locator("summary").click()
    expect(first.locator("summary .tag")).to_have_text("semantic")
    expect(first.locator("p")).to_be_visible()

    # The quality scores appear under the answer once the evaluator has judged it.
    expect(twin.locator(".quality")).to_contain_text("Faithfulness", timeout=120_000)
    expect(twin.locator(".quality")).to_contain_text("Relevancy")

    # Thumbs down, then a better answer, as a visitor gives them.
    down = twin.get_by_role("button", name="Not helpful")
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(twin.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "false"
    )
    twin.get_by_role("button", name="Suggest a better answer").click()
    twin.get_by_label("Your better answer").fill("I work at Solvik, in Gothenburg.")
    twin.get_by_role("button", name="Send suggestion").click()
    expect(twin.locator(".feedback-status")).to_contain_text("goes to the owner for review")

    first.locator("summary").click()  # closed again: the screenshots show the whole answer
    save_screenshots(page, "answered")
    page.set_viewport_size({"width": 360, "height": 740})  # the narrowest phone: no side-scroll
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    # Both reached the owner: the rating and the suggestion, each naming the request...
    [rating] = twin_server.admin("/admin/ratings")
    [suggestion] = twin_server.admin("/admin/feedback")
    request_id = rating["request_id"]
    assert rating["rating"] == "down"
    assert suggestion["request_id"] == request_id
    assert suggestion["suggested_response"] == "I work at Solvik, in Gothenburg."
    assert suggestion["original_response"] == answer
    # ... and the request's MLflow trace, once the shipper has passed.
    outbox = Outbox(twin_server.home / "outbox.sqlite3")
    try:
        ratings = RatingQueue(outbox)
        wait_until(lambda: ratings.latest()[0].status == "shipped", 60, "the rating to ship")
    finally:
        outbox.close()
    run = httpx.get(f"{twin_server.url}/runs/{request_id}", headers={"X-API-Key": CHAT_KEY})
    trace_id = run.json()["trace_id"]
    mlflow = MlflowClient(f"sqlite:///{twin_server.home / 'mlflow.db'}")
    assessments = {a.name: a for a in mlflow.get_trace(trace_id).info.assessments}
    assert assessments["user_rating"].value is False
    assert run.json()["evaluation"]["scores"]["faithfulness"]["score"] >= 0


def test_the_conversation_is_sent_as_history_and_a_new_one_starts_empty(
    page: Page, twin_server: TwinServer
) -> None:
    send(page, "Where do you work?")
    expect(page.locator(".msg.twin .actions")).to_have_count(1)
    send(page, "And before that?")
    expect(page.locator(".msg.twin .actions")).to_have_count(2)
    stored = page.evaluate("JSON.parse(sessionStorage.getItem('twinself.conversation'))")
    assert [t["role"] for t in stored["turns"]] == ["user", "assistant"] * 2

    page.reload()  # the same tab keeps its conversation
    expect(page.locator(".msg")).to_have_count(4)
    page.get_by_role("button", name="New conversation").click()
    expect(page.locator(".msg")).to_have_count(0)
    after = page.evaluate("JSON.parse(sessionStorage.getItem('twinself.conversation'))")
    assert after["turns"] == [] and after["sessionId"] != stored["sessionId"]


def test_refusals_are_explained_not_silent(page: Page, twin_server: TwinServer) -> None:
    alert = page.get_by_role("alert")

    # Too long: the server's limit, in words; the text stays in the box to shorten.
    long_message = "why " * 100
    send(page, long_message)
    expect(alert).to_contain_text("Your message is too long")
    expect(alert).to_contain_text(f"the limit is {MAX_MESSAGE_CHARS}")
    assert page.locator("#message").input_value() == long_message.strip()
    expect(page.locator(".msg")).to_have_count(0)
    save_screenshots(page, "too-long", dark_only=True)

    # No key (a page opened without the site's key): the page asks for one.
    page.evaluate("sessionStorage.removeItem('twinself.key')")
    send(page, "Where do you work?")
    expect(alert).to_contain_text("needs an access key")
    key_field = page.get_by_label("This twin needs an access key")
    expect(key_field).to_be_focused()
    key_field.fill(CHAT_KEY)
    key_field.press("Enter")
    send(page, "Where do you work?")
    expect(page.locator(".msg.twin .actions")).to_have_count(1)

    # Offline: said at once, nothing is lost.
    page.context.set_offline(True)
    send(page, "Are you there?")
    expect(alert).to_contain_text("offline")
    page.context.set_offline(False)
    expect(page.locator(".msg.twin")).to_have_count(1)


def test_a_rate_limited_visitor_is_told_when_to_retry(
    browser: Browser, twin_server: TwinServer
) -> None:
    with httpx.Client(base_url=twin_server.url, headers={"X-API-Key": BURST_KEY}) as client:
        for _ in range(RATE_LIMIT):  # the key's allowance for this minute, spent
            rating = {"request_id": "never-answered", "rating": "up"}
            assert client.post("/api/feedback/rating", json=rating).status_code == 404
    page = browser.new_page()
    page.goto(f"{twin_server.url}/ui/#key={BURST_KEY}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    send(page, "Where do you work?")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Too many messages for now. Try again in")
    assert re.search(r"Try again in \d+ seconds?\.", alert.inner_text())
    page.close()


def test_the_keyboard_reaches_everything_in_order(page: Page) -> None:
    page.locator("body").focus()
    order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
    assert order == ["skip", "new-conversation", "message", "send"]
    page.keyboard.press("Shift+Tab")  # back in the box: Shift+Enter is a new line, not a send
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    assert page.locator("#message").input_value() == "first line\nsecond line"
    expect(page.locator(".msg")).to_have_count(0)
    page.keyboard.press("Enter")
    expect(page.locator(".msg.twin .actions")).to_have_count(1)
    expect(page.locator("#message")).to_be_focused()


def test_the_widget_opens_the_page_in_a_frame_on_the_owners_site(
    browser: Browser, twin_server: TwinServer, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    script = f'<script src="{twin_server.url}/ui/widget.js" data-key="{CHAT_KEY}" defer></script>'
    (site / "index.html").write_text(f"<!doctype html><title>My site</title><h1>Hi</h1>{script}")
    port = int(twin_server.widget_site.rsplit(":", 1)[1])
    handler = partial(SimpleHTTPRequestHandler, directory=str(site))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(f"{twin_server.widget_site}/index.html")
            page.get_by_role("button", name="Chat with my twin").click()
            frame = page.frame_locator("iframe#twinself-chat-frame")
            expect(frame.locator("body")).to_have_attribute("data-ready", "true")
            frame.locator("#message").fill("Where do you work?")
            frame.locator("#message").press("Enter")
            answered = frame.locator(".msg.twin .actions, #alert:not([hidden])")
            expect(answered.first).to_be_visible(timeout=UI_TIMEOUT_MS)
            assert frame.locator("#alert").is_hidden(), frame.locator("#alert").inner_text()
            page.screenshot(path=artifacts_dir("chat-page") / "widget-phone-light.png")
            page.close()
        finally:
            server.shutdown()


def save_screenshots(page: Page, name: str, dark_only: bool = False) -> None:
    """What a visitor sees now, at phone and desktop width, light and dark."""
    directory = artifacts_dir("chat-page")
    schemes = ("dark",) if dark_only else ("light", "dark")
    size = page.viewport_size
    for scheme in schemes:
        page.emulate_media(color_scheme=scheme)
        for label, width in (("phone", 390), ("desktop", 1280)):
            page.set_viewport_size({"width": width, "height": 844 if width < 600 else 900})
            page.evaluate("document.querySelector('.msg')?.scrollIntoView({block: 'start'})")
            page.screenshot(path=directory / f"{name}-{label}-{scheme}.png")
    page.emulate_media(color_scheme="light")
    if size is not None:
        page.set_viewport_size(size)
