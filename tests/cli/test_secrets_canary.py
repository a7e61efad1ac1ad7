"""No secret leaves the twin: with a distinctive canary in every secret setting, traffic of
every kind (answers, a stream, 401s, provider errors that echo the key, a suggestion, judge
failures) leaves no canary, nor any 12-character piece of one, in a response, a log line, a
command line, a row of the outbox or MLflow databases, or any file under the test's folder
(TWINSELF_HOME with its artifacts and traces, the working folder, $HOME).

`twinself serve --mlflow-ui` answers with the real google-genai client against a fake Gemini,
judges with DeepEval's Gemini model against a fake judge, and keeps its memory on a Qdrant
REST server; each fake refuses any other key, so each canary was really in use. The
OpenAI-compatible keys are used by `twinself doctor`, which prints the configuration and tries
the provider and the judge, both of which refuse quoting the key.
"""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.fakes.gemini_judge import FakeGeminiJudge, prompt_text, small_ca_bundle
from tests.fakes.gemini_server import FakeGeminiServer, gemini_error
from tests.fakes.openai_judge import FakeOpenAIJudge
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.qdrant_rest import QdrantRestServer
from tests.fakes.scripted_server import RecordedRequest, Reply, json_reply
from tests.support.network import free_port
from tests.support.secret_search import (
    Haystack,
    Searched,
    file_haystacks,
    matches,
    response_haystack,
    sqlite_haystacks,
    text_haystack,
)
from tests.support.waiting import answers, wait_until

pytestmark = pytest.mark.slow

TWINSELF = [sys.executable, "-m", "twinself.cli"]
REPLY = "I work at Solvik in Gothenburg as a senior ML platform engineer."


def canary(tag: str) -> str:
    return f"canary-{tag}-{secrets.token_hex(12)}"


CANARIES = {
    "GOOGLE_API_KEY": canary("gk"),
    "GOOGLE_API_KEY_4DEEPEVAL": canary("gj"),
    "OPENAI_API_KEY": canary("ok"),
    "EVAL_OPENAI_API_KEY": canary("oj"),
    "QDRANT_API_KEY": canary("qd"),
    "TWINSELF_API_KEY 1": canary("a1"),
    "TWINSELF_API_KEY 2": canary("a2"),
    "TWINSELF_ADMIN_KEY": canary("ad"),
}
KEY_1, KEY_2 = CANARIES["TWINSELF_API_KEY 1"], CANARIES["TWINSELF_API_KEY 2"]
# Not secret: planted in a question, it must be found where questions are kept.
QUESTION_MARKER = f"marker-{secrets.token_hex(12)}"
REFUSED_TOPIC = "pancake"
# What an error quoting its key reads like once redacted: proof the error itself was kept.
REDACTED_ERROR = "Request with API key *** was refused (key=***)"


def echo_error(code: int, status: str, key: str) -> dict[str, object]:
    """A provider error that quotes the key it was sent, as some proxies and gateways do."""
    return gemini_error(code, status, f"Request with API key {key} was refused (key={key}).")


class RefusingJudge(FakeGeminiJudge):
    """Refuses, quoting its key, to judge any answer to a question about REFUSED_TOPIC: that
    evaluation becomes a dead letter, its error kept in the outbox."""

    def normal_reply(self, request: RecordedRequest) -> Reply:
        if REFUSED_TOPIC in prompt_text(request):
            key = CANARIES["GOOGLE_API_KEY_4DEEPEVAL"]
            return json_reply(echo_error(403, "PERMISSION_DENIED", key), 403)
        return super().normal_reply(request)


@dataclass
class Fakes:
    gemini: FakeGeminiServer
    judge: RefusingJudge
    qdrant: QdrantRestServer
    openai: FakeOpenAIServer
    openai_judge: FakeOpenAIJudge


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    """Each Gemini fake and the Qdrant server refuse any key but their canary."""
    gemini = FakeGeminiServer(REPLY, api_key=CANARIES["GOOGLE_API_KEY"])
    judge = RefusingJudge(api_key=CANARIES["GOOGLE_API_KEY_4DEEPEVAL"])
    qdrant = QdrantRestServer(api_key=CANARIES["QDRANT_API_KEY"])
    with gemini, judge, qdrant, FakeOpenAIServer(REPLY) as openai, FakeOpenAIJudge() as other:
        yield Fakes(gemini, judge, qdrant, openai, other)


def _small_persona(data_dir: Path) -> Path:
    """The sample persona cut to one file per memory: the answers come from the fakes, and
    embedding less keeps `rebuild` short."""
    for kind, kept in (("semantic_data", "career.md"), ("episodic_data", "career_questions.json")):
        for path in (data_dir / kind).iterdir():
            if path.name != kept:
                path.unlink()
    return data_dir


def _outbox_settled(outbox: Path, runs: int) -> bool:
    """Every request shipped as a run, every evaluation logged (or dead and its run tagged)."""
    with closing(sqlite3.connect(f"{outbox.as_uri()}?mode=ro", uri=True)) as db:
        shipped = db.execute("SELECT count(*) FROM requests WHERE status = 'shipped'")
        pending = db.execute(
            "SELECT count(*) FROM evaluation_jobs WHERE status NOT IN ('done', 'dead') "
            "OR run_tag IS NOT NULL"
        )
        return bool(shipped.fetchone()[0] >= runs and pending.fetchone()[0] == 0)


def test_no_secret_reaches_a_response_log_database_or_file(
    tmp_path: Path, data_dir: Path, fakes: Fakes
) -> None:
    ports = {name: free_port() for name in ("api", "mlflow", "shipper", "evaluator")}
    home, user_home = tmp_path / "home", tmp_path / "user-home"
    user_home.mkdir()
    env = {
        **os.environ,
        **{name: value for name, value in CANARIES.items() if " " not in name},
        "TWINSELF_API_KEYS": f"{KEY_1}, {KEY_2}",
        "HOME": str(user_home),  # whatever a library writes under ~ is searched too
        "TWINSELF_HOME": str(home),
        "TWINSELF_DATA_DIR": str(_small_persona(data_dir)),
        "TWINSELF_PORT": str(ports["api"]),
        "TWINSELF_SHIPPER_METRICS_PORT": str(ports["shipper"]),
        "TWINSELF_EVALUATOR_METRICS_PORT": str(ports["evaluator"]),
        "TWINSELF_LLM_PROVIDER": "gemini",
        "GEMINI_BASE_URL": fakes.gemini.base_url,
        "LLM_MAX_RETRIES": "1",
        "LLM_RETRY_BASE_SECONDS": "0.01",
        "EVAL_JUDGE": "gemini",
        "EVAL_GEMINI_BASE_URL": fakes.judge.base_url,
        "QDRANT_URL": fakes.qdrant.url,
        "TWINSELF_RATE_LIMIT": "",
        "SSL_CERT_FILE": str(small_ca_bundle(tmp_path)),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    searched = Searched()
    rebuild = subprocess.run(
        [*TWINSELF, "rebuild"], env=env, capture_output=True, timeout=300, check=False
    )
    assert rebuild.returncode == 0, rebuild.stderr.decode()
    texts = [text_haystack("rebuild output", rebuild.stdout + rebuild.stderr, searched)]

    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        serve = subprocess.Popen(
            [*TWINSELF, "serve", "--mlflow-ui", "--mlflow-port", str(ports["mlflow"])],
            env=env,
            stdout=log,
            stderr=log,
        )
    api = f"http://127.0.0.1:{ports['api']}"
    responses: list[httpx.Response] = []

    def call(method: str, url: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
        if key:
            kwargs["headers"] = {"Authorization": f"Bearer {key}"}
        response = httpx.request(method, url, timeout=60, **kwargs)
        responses.append(response)
        return response

    doctor: subprocess.Popen[bytes] | None = None
    try:
        wait_until(lambda: answers(f"{api}/health"), 120, "the chat API")
        # The OpenAI-compatible keys meet errors that quote them in `doctor`, run on the live
        # twin (as its owner would) while the traffic goes on.
        doctor = _start_doctor(env, fakes.openai, fakes.openai_judge, tmp_path / "doctor.txt")
        wait_until(lambda: answers(f"http://127.0.0.1:{ports['mlflow']}/health"), 120, "MLflow")
        serving = psutil.Process(serve.pid)
        texts += [
            text_haystack("command line", " ".join(p.cmdline()), searched)
            for p in (serving, *serving.children(recursive=True))
        ]
        _traffic(api, call, fakes)

        # Every tracked request (refusals included) ships; every evaluation ends.
        tracked = sum(1 for r in responses if r.request.url.path.startswith("/chat"))
        wait_until(
            lambda: _outbox_settled(home / "outbox.sqlite3", tracked),
            120,
            "every run shipped and every evaluation finished",
        )
        assert fakes.judge.served, "the judge never answered"
        judge_key = CANARIES["GOOGLE_API_KEY_4DEEPEVAL"]
        assert {r.headers.get("x-goog-api-key") for r in fakes.judge.requests} == {judge_key}
        for worker in ("shipper", "evaluator"):
            call("GET", f"http://127.0.0.1:{ports[worker]}/metrics")
        assert doctor.wait(120) == 1  # both OpenAI-compatible checks fail
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
        if doctor is not None and doctor.poll() is None:
            doctor.kill()
            doctor.wait()
    doctor_output = (tmp_path / "doctor.txt").read_text()
    assert "FAIL provider" in doctor_output and "FAIL judge" in doctor_output, doctor_output
    assert doctor_output.count("Incorrect API key provided: ***.") == 2, doctor_output
    for fake, key in (
        (fakes.openai, "OPENAI_API_KEY"),
        (fakes.openai_judge, "EVAL_OPENAI_API_KEY"),
    ):
        sent = {r.headers.get("authorization") for r in fake.requests}
        assert sent == {f"Bearer {CANARIES[key]}"}, sent

    _search_everything(tmp_path, home, responses, texts, searched)


def _traffic(api: str, call: Callable[..., httpx.Response], fakes: Fakes) -> None:
    """Answers, a stream, refusals, and provider and judge errors that quote their key."""
    google_key, judge_key = CANARIES["GOOGLE_API_KEY"], CANARIES["GOOGLE_API_KEY_4DEEPEVAL"]
    # The judge's first answer fails quoting its key, and is retried; see also RefusingJudge.
    fakes.judge.plan(500, echo_error(500, "INTERNAL", judge_key))

    def ask(message: str, key: str | None = KEY_1, path: str = "/chat") -> httpx.Response:
        return call("POST", f"{api}{path}", key, json={"session_id": "s", "message": message})

    # Refused: no key, a key cut short (what is presented is never kept: it may be nearly
    # right), the admin key where a visitor's key belongs.
    assert ask("Where do you work?", key=None).status_code == 401
    assert ask("Where do you work?", key=KEY_1[:-1]).status_code == 401
    ask("Where do you work?", key=CANARIES["TWINSELF_ADMIN_KEY"])
    # Answered, with either key, sent either way.
    answered = ask(f"Where do you work? (ref {QUESTION_MARKER})")
    assert answered.status_code == 200, answered.text
    body = {"session_id": "s", "message": "What company do you work for?"}
    streamed = call("POST", f"{api}/chat/stream", headers={"X-API-Key": KEY_2}, json=body)
    assert streamed.status_code == 200 and "Solvik" in streamed.text, streamed.text
    # Provider errors that quote the key: one retried and answered, then each kind of failure.
    fakes.gemini.plan(500, echo_error(500, "INTERNAL", google_key), {"X-Echo-Key": google_key})
    assert ask(f"What is your favourite {REFUSED_TOPIC} recipe?").status_code == 200
    fakes.gemini.plan(401, echo_error(401, "UNAUTHENTICATED", google_key))
    assert ask("Where do you work?").status_code == 502
    fakes.gemini.plan(429, echo_error(429, "RESOURCE_EXHAUSTED", google_key), times=2)
    assert ask("Where do you work?").status_code == 503
    fakes.gemini.plan(200, f"<html>proxy error for key {google_key}</html>")
    assert ask("Where do you work?").status_code == 502
    fakes.gemini.plan(503, echo_error(503, "UNAVAILABLE", google_key), times=2)
    assert ask("Where do you work?", path="/chat/stream").status_code == 503
    assert {r.headers.get("x-goog-api-key") for r in fakes.gemini.requests} == {google_key}

    request_id = answered.json()["request_id"]
    suggestion = {
        "request_id": request_id,
        "original_question": "Where do you work?",
        "original_response": answered.json()["response"],
        "suggested_response": "At Solvik, on demand forecasting for grocery chains.",
    }
    assert call("POST", f"{api}/api/edit-message/suggestion", KEY_2, json=suggestion).is_success
    # The admin routes are the lead's (issue 12): whatever they answer is searched.
    call("GET", f"{api}/admin/feedback", CANARIES["TWINSELF_ADMIN_KEY"])
    assert call("GET", f"{api}/runs/{request_id}", KEY_1).status_code == 200
    for path in ("/health", "/metrics", "/openapi.json"):
        assert call("GET", f"{api}{path}").status_code == 200
    openmetrics = {"Accept": "application/openmetrics-text"}
    assert call("GET", f"{api}/metrics", headers=openmetrics).status_code == 200


def _start_doctor(
    env: dict[str, str], chat: FakeOpenAIServer, judge: FakeOpenAIJudge, output: Path
) -> subprocess.Popen[bytes]:
    """`twinself doctor` (which prints the configuration) with the OpenAI-compatible provider
    and judge: each refuses with an error that quotes the key it was sent."""
    chat_key, judge_key = CANARIES["OPENAI_API_KEY"], CANARIES["EVAL_OPENAI_API_KEY"]
    refusal = "Incorrect API key provided: {}. You can find your API key at ..."
    chat.plan(401, {"error": {"message": refusal.format(chat_key)}}, {"X-Echo-Key": chat_key})
    judge.plan(401, {"error": {"message": refusal.format(judge_key)}})
    openai_env = {
        **env,
        "TWINSELF_LLM_PROVIDER": "openai",
        "OPENAI_BASE_URL": chat.api_base_url,
        "EVAL_JUDGE": "openai",
        "EVAL_LLM_MODEL": "fake-judge",
        "EVAL_OPENAI_BASE_URL": judge.api_base_url,
    }
    with output.open("wb") as out:
        return subprocess.Popen([*TWINSELF, "doctor"], env=openai_env, stdout=out, stderr=out)


def _search_everything(
    tmp_path: Path,
    home: Path,
    responses: list[httpx.Response],
    texts: list[Haystack],
    searched: Searched,
) -> None:
    files = list(file_haystacks(tmp_path, searched))  # the logs and the doctor's output too
    outbox_rows = list(sqlite_haystacks(home / "outbox.sqlite3", searched))
    mlflow_rows = list(sqlite_haystacks(home / "mlflow.db", searched))
    replies = [response_haystack(r, searched) for r in responses]

    # The search reaches each kind of place: what the test put there is found. The errors
    # that quoted a key were kept (redacted): the failed runs', the dead evaluation's, the log's.
    error = {"error": REDACTED_ERROR}
    for table in ("requests", "evaluation_jobs"):
        kept = [h for h in outbox_rows if h.where.startswith(f"row outbox.sqlite3:{table}#")]
        assert matches(kept, error), f"no provider error kept in the outbox's {table}"
    assert matches(mlflow_rows, error), "no provider error kept in MLflow"
    marker = {"marker": QUESTION_MARKER}
    assert matches(outbox_rows, marker), "the search missed a question in the outbox"
    assert matches(mlflow_rows, marker), "the search missed a question in MLflow"
    databases = [h for h in files if h.where.startswith("file home/outbox.sqlite3")]
    assert matches(databases, marker), "the search missed a question in the database files"
    assert matches(replies, {"reply": REPLY}), "the search missed the answers"
    answered = [
        r.json()["request_id"]
        for r in responses
        if r.request.url.path == "/chat" and r.status_code == 200
    ]
    log = [h for h in files if h.where == "file serve.log"]
    assert answered and all(matches(log, {"id": i}) for i in answered), "the log is unsearched"
    assert matches(log, error), "no provider error in the log"
    piece = CANARIES["GOOGLE_API_KEY"][-12:].upper()
    assert matches([Haystack("probe", f"key=...{piece}".encode())], CANARIES), (
        "a piece of a key, upper-cased, must count as a leak"
    )

    leaks = matches([*replies, *texts, *files, *outbox_rows, *mlflow_rows], CANARIES)
    print(f"searched {searched}")  # for the report: how much the search read
    assert leaks == [], "\n".join(leaks)
