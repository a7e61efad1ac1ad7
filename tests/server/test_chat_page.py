"""What the chat page needs from the API, in-process: GET / sends browsers to /ui/, the page's
files and their security headers, a run's evaluation in GET /runs/ID, thumbs up or down."""

from __future__ import annotations

import re
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.support.factories import ClientFactory
from twinself.evaluation.results import EvaluationResult, MetricResult
from twinself.pipeline.evaluation_queue import EvaluationQueue
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.rating_queue import RatingQueue
from twinself.server.web_page import STATIC_DIR, prefers_html

QUESTION = {"session_id": "page-1", "message": "Where do you work?"}
CHROME_NAVIGATION = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (CHROME_NAVIGATION, True),
        ("text/html", True),
        ("", False),  # httpx, requests
        ("*/*", False),  # curl
        ("application/json", False),
        ("application/json, text/html;q=0.9", False),
        ("text/*, application/json;q=0.5", True),
        ("text/html;q=0, */*", False),
        ("text/html;q=oops", False),
    ],
)
def test_only_a_client_that_ranks_html_above_json_prefers_the_page(accept: str, html: bool) -> None:
    assert prefers_html(accept) is html


def test_a_browser_at_the_root_is_sent_to_the_page_and_api_clients_keep_the_json(
    client: TestClient,
) -> None:
    browser = client.get("/", headers={"Accept": CHROME_NAVIGATION}, follow_redirects=False)
    assert browser.status_code == 307 and browser.headers["location"] == "/ui/"

    for accept in ("*/*", "application/json"):
        api = client.get("/", headers={"Accept": accept})
        assert api.status_code == 200
        assert api.json()["endpoints"]["page"] == "/ui/"
        assert api.json()["endpoints"]["rating"] == "POST /api/feedback/rating"


def test_the_page_is_served_with_a_strict_policy_and_stays_out_of_the_api_schema(
    make_client: ClientFactory,
) -> None:
    client = make_client(cors_origins="https://me.example.org")
    page = client.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self'" and policy["connect-src"] == "'self'"
    assert policy["default-src"] == "'self'" and policy["style-src"] == "'self'"
    # The owner's site (already allowed to call the API) may frame the page: the widget.
    assert policy["frame-ancestors"] == "'self' https://me.example.org"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"

    script = client.get("/ui/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].split(";")[0] in {
        "text/javascript",
        "application/javascript",
    }
    assert client.get("/ui", follow_redirects=False).headers["location"].endswith("/ui/")
    assert not any(path.startswith("/ui") for path in client.get("/openapi.json").json()["paths"])


class _InlineCode(HTMLParser):
    """What a strict CSP would block: inline scripts, event-handler and style attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        self.found += [f"{tag} {name}=" for name in names if name.startswith("on")]
        self.found += [f"{tag} style=" for name in names if name == "style"]


def test_the_page_has_no_inline_code_and_nothing_from_elsewhere() -> None:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    parser = _InlineCode()
    parser.feed(html)
    assert parser.found == []
    code = "\n".join(p.read_text(encoding="utf-8") for p in STATIC_DIR.iterdir())
    assert not re.search(
        r"https?://(?!twin\.example\.org/|www\.w3\.org/2000/svg)", code
    )  # no CDN, no tracker
    assert "innerHTML" not in code  # server and visitor text only ever as textContent


def test_a_runs_evaluation_shows_its_scores_once_judged(
    client: TestClient, evaluation_queue: EvaluationQueue
) -> None:
    request_id = client.post("/chat", json=QUESTION).json()["request_id"]
    waiting = client.get(f"/runs/{request_id}").json()
    assert waiting["evaluation"] == {"status": "pending", "judge": None, "scores": None}

    result = EvaluationResult(
        judge="local-embedding",
        answer_relevancy=MetricResult(0.91, 0.7, "on topic"),
        faithfulness=MetricResult(0.42, 0.7, "quotes the private notes"),
        seconds=0.3,
    )
    evaluation_queue.mark_scored(request_id, result.to_dict())
    scored = client.get(f"/runs/{request_id}").json()["evaluation"]

    assert scored["status"] == "scored" and scored["judge"] == "local-embedding"
    assert scored["scores"] == {
        "answer_relevancy": {"score": 0.91, "threshold": 0.7, "passed": True},
        "faithfulness": {"score": 0.42, "threshold": 0.7, "passed": False},
    }
    assert "private" not in str(scored)  # the judge's reasons may quote hidden memory


def test_an_unsampled_run_has_no_evaluation(make_client: ClientFactory) -> None:
    client = make_client(eval_sample_rate=0.0)
    request_id = client.post("/chat", json=QUESTION).json()["request_id"]
    assert client.get(f"/runs/{request_id}").json()["evaluation"] is None


def test_a_rating_is_stored_for_a_known_request_and_the_newest_counts(
    client: TestClient, outbox: Outbox
) -> None:
    request_id = client.post("/chat", json=QUESTION).json()["request_id"]

    up = client.post("/api/feedback/rating", json={"request_id": request_id, "rating": "up"})
    down = client.post("/api/feedback/rating", json={"request_id": request_id, "rating": "down"})

    assert up.status_code == down.status_code == 200
    assert down.json()["rating_id"] > up.json()["rating_id"]
    [latest] = RatingQueue(outbox).latest()
    assert (latest.request_id, latest.rating, latest.status) == (request_id, "down", "pending")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"request_id": "never-answered", "rating": "up"}, 404),
        ({"request_id": "x", "rating": "meh"}, 422),
        ({"request_id": "a b", "rating": "up"}, 422),
        ({"request_id": "", "rating": "down"}, 422),
        ({"rating": "down"}, 422),
    ],
)
def test_a_rating_of_nothing_known_is_refused(
    client: TestClient, outbox: Outbox, body: dict[str, str], status: int
) -> None:
    assert client.post("/api/feedback/rating", json=body).status_code == status
    assert RatingQueue(outbox).latest() == []


def test_rating_is_keyed_rate_limited_and_body_limited_like_the_other_visitor_routes(
    make_client: ClientFactory,
) -> None:
    client = make_client(api_keys=SecretStr("site-key"), rate_limit="3/minute")
    body = {"request_id": "unknown", "rating": "up"}

    assert client.post("/api/feedback/rating", json=body).status_code == 401
    keyed = {"X-API-Key": "site-key"}
    huge = {"request_id": "x" * 2_000_000, "rating": "up"}
    assert client.post("/api/feedback/rating", json=huge, headers=keyed).status_code == 413
    # The key's own allowance (the keyless 401 counted for the address, not the key).
    for _ in range(3):
        assert client.post("/api/feedback/rating", json=body, headers=keyed).status_code == 404
    limited = client.post("/api/feedback/rating", json=body, headers=keyed)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0


def test_rating_with_tracking_off_says_nothing_is_stored(make_client: ClientFactory) -> None:
    client = make_client(tracking_enabled=False)
    refused = client.post("/api/feedback/rating", json={"request_id": "a", "rating": "up"})
    assert refused.status_code == 503 and "TWINSELF_TRACKING" in refused.json()["detail"]


def test_the_owner_lists_each_answers_newest_rating(
    make_client: ClientFactory, outbox: Outbox
) -> None:
    client = make_client(admin_key=SecretStr("owner-key"))
    first = client.post("/chat", json=QUESTION).json()["request_id"]
    second = client.post("/chat", json=QUESTION).json()["request_id"]
    for request_id, rating in ((first, "up"), (second, "up"), (first, "down")):
        client.post("/api/feedback/rating", json={"request_id": request_id, "rating": rating})

    assert client.get("/admin/ratings").status_code == 401
    listed = client.get("/admin/ratings", headers={"X-API-Key": "owner-key"}).json()
    assert [(r["request_id"], r["rating"], r["shipped"]) for r in listed] == [
        (first, "down", False),
        (second, "up", False),
    ]


def test_an_outbox_from_before_ratings_opens_and_gains_the_table(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE requests (request_id TEXT PRIMARY KEY, created_at REAL, "
            "record TEXT, status TEXT, attempts INTEGER, next_attempt_at REAL, "
            "last_error TEXT, run_id TEXT, trace_id TEXT, shipped_at REAL)"
        )
    outbox = Outbox(path)
    try:
        assert RatingQueue(outbox).append("r1", "up") == 1
    finally:
        outbox.close()
