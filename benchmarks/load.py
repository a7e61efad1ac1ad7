"""Sustained load on a real `twinself serve`: throughput, latency, memory, nothing lost; then abuse.

Runs `twinself serve --mlflow-ui` as a user does (API, shipper, evaluator and MLflow server, each
its own process; offline LLM, offline judge) on the sample persona, in two phases:

1. open: rate limits off. `--clients` clients send `--rate` requests/s in all, half to /chat
   and half to /chat/stream, for `--warmup` then `--duration` seconds. Prints requests/s,
   p50 / p99, the error rate, and the RSS of every process after the warm-up and at the end
   (it must stay flat). Then waits for the outbox to drain: every request that got a response
   must be exactly one MLflow run, and every answer sampled for evaluation must end
   `evaluated` on its run.
2. limited: serve restarted with TWINSELF_RATE_LIMIT=`--limit` and 127.0.0.1 as a trusted
   proxy. `--polite` clients (each its own X-Forwarded-For address) ask below the limit
   throughout; in the second half `--abusers` more (their own addresses, another process so
   that their loop does not slow the polite clients' timing) send as fast as they can. The
   polite clients' p99 without and with the abuse side by side, 429s per kind of client.

    .venv/bin/python benchmarks/load.py [--duration 600] [--limited-duration S] [--rate R]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _load_processes import MemoryWatch, Serve
from _sample_twin import QUESTIONS, free_port, percentile
from mlflow import MlflowClient

TWINSELF = [sys.executable, "-m", "twinself.cli"]
EXPERIMENT = "twinself_production"


@dataclass
class Sample:
    endpoint: str
    started: float  # time.monotonic()
    seconds: float
    status: int  # 0: no complete response (connection error, stream cut short)
    request_id: str | None
    sampled: bool  # the answer was queued for evaluation


def ask(http: httpx.Client, turn: int, headers: dict[str, str]) -> Sample:
    """One question, to /chat or /chat/stream by turn; a stream counts once it sent [DONE]."""
    endpoint = "/chat" if turn % 2 else "/chat/stream"
    body = {"session_id": f"load-{threading.get_ident()}", "message": QUESTIONS[turn % 6]}
    started = time.monotonic()
    try:
        status, meta = (_chat if endpoint == "/chat" else _stream)(http, body, headers)
    except (httpx.HTTPError, ValueError):
        status, meta = 0, {}
    sampled = meta.get("metrics", {}).get("quality_evaluation") == "evaluating_in_background"
    seconds = time.monotonic() - started
    return Sample(endpoint, started, seconds, status, meta.get("request_id"), sampled)


def _chat(http: httpx.Client, body: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
    response = http.post("/chat", json=body, headers=headers)
    return response.status_code, response.json()


def _stream(http: httpx.Client, body: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
    with http.stream("POST", "/chat/stream", json=body, headers=headers) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, response.json()
        event, meta = None, {}
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: {") and event in ("metadata", "error"):
                meta = json.loads(line.removeprefix("data: "))
            elif line == "data: [DONE]":
                return (200 if event == "metadata" else 500), meta
    return 0, meta  # cut short before [DONE]


class Clients:
    """`count` client threads, each pacing itself to `rate / count` requests/s (0: as fast as
    answers come), each with its own X-Forwarded-For address when `addresses` are given."""

    def __init__(self, api: str, count: int, rate: float, addresses: list[str] | None = None):
        self.samples: list[Sample] = []
        self._api, self._interval = api, (count / rate if rate > 0 else 0.0)
        self._stop = threading.Event()
        slots: list[str | None] = list(addresses) if addresses else [None] * count
        self._threads = [
            threading.Thread(target=self._run, args=(n, slots[n]), daemon=True)
            for n in range(count)
        ]

    def start(self) -> Clients:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)

    def _run(self, number: int, address: str | None) -> None:
        headers = {"X-Forwarded-For": address} if address else {}
        due = time.monotonic() + self._interval * number / max(1, len(self._threads))
        with httpx.Client(base_url=self._api, timeout=60) as http:
            turn = number
            while not self._stop.wait(max(0.0, due - time.monotonic())):
                self.samples.append(ask(http, turn, headers))
                turn += 1
                due = max(due + self._interval, time.monotonic() - self._interval)


def abuse(api: str, addresses: list[str], seconds: float, results: Any) -> None:
    """In its own process: one thread per address asking as fast as it can for `seconds`."""
    clients = Clients(api, len(addresses), 0.0, addresses).start()
    time.sleep(seconds)
    clients.stop()
    results.put(clients.samples)


def warm_up(serve: Serve, seconds: float) -> float:
    """Traffic for `seconds`, and until every process has done its first work (the evaluator
    loads its model on its first job); when measuring starts."""
    time.sleep(seconds)
    deadline = time.monotonic() + 300
    while not all(serve.pipeline_totals()):
        if time.monotonic() > deadline:
            raise SystemExit("the shipper or the evaluator did nothing for 5 minutes of traffic")
        time.sleep(1)
    return time.monotonic()


def pipeline_row(serve: Serve, before: tuple[float, float], seconds: float) -> None:
    shipped, evaluated = (a - b for a, b in zip(serve.pipeline_totals(), before, strict=True))
    pending, waiting = serve.backlog()
    print(
        f"meanwhile the shipper made {shipped / seconds:.1f} runs/s and the evaluator "
        f"{evaluated / seconds:.1f} evaluations/s; left waiting: {pending} records, "
        f"{waiting} evaluations"
    )


def latency_row(name: str, samples: list[Sample], seconds: float) -> None:
    done = [s.seconds * 1000 for s in samples if s.status == 200]
    errors = sum(1 for s in samples if s.status != 200)
    statuses = Counter(s.status for s in samples if s.status != 200)
    print(
        f"{name:<22}{len(samples):>9}{len(samples) / seconds:>8.1f}"
        f"{percentile(done, 0.5) if done else float('nan'):>9.0f}"
        f"{percentile(done, 0.99) if done else float('nan'):>9.0f}"
        f"{errors / max(1, len(samples)) * 100:>8.2f}%  {dict(statuses) or ''}"
    )


def latency_header() -> None:
    print(f"{'traffic':<22}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>9}")


def check_runs(mlflow: str, groups: dict[str, list[Sample]]) -> bool:
    """Every response's request_id is exactly one run; every sampled answer was evaluated."""
    client = MlflowClient(mlflow)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    # Run ids per request: pages are offsets, so a run written meanwhile (a backlog still
    # shipping) can shift a run onto the next page too.
    runs: dict[str, set[str]] = defaultdict(set)
    quality: dict[str, str] = {}
    token = None
    while experiment is not None:
        page = client.search_runs([experiment.experiment_id], max_results=5000, page_token=token)
        for run in page:
            request_id = run.data.tags.get("request_id", "")
            runs[request_id].add(run.info.run_id)
            quality[request_id] = run.data.tags.get("quality_evaluation", "")
        token = page.token
        if not token:
            break
    print(f"{'responses':<22}{'with an id':>11}{'runs':>8}{'missing':>9}{'doubled':>9}  sampled")
    ok = True
    for name, samples in groups.items():
        answered = {s.request_id for s in samples if s.request_id}
        sampled = {s.request_id for s in samples if s.sampled and s.request_id}
        missing = sum(1 for r in answered if not runs[r])
        doubled = sum(1 for r in answered if len(runs[r]) > 1)
        outcomes = Counter(quality.get(r, "no run") for r in sampled)
        print(
            f"{name:<22}{len(answered):>11}{len(answered) - missing:>8}{missing:>9}{doubled:>9}"
            f"  {len(sampled)}, on their runs: {dict(outcomes)}"
        )
        ok = ok and not missing and not doubled and outcomes["evaluated"] == len(sampled)
    return ok


def drain(serve: Serve, timeout: float) -> None:
    drained = serve.drain(timeout)
    if not math.isnan(drained):
        print(f"outbox drained {drained:.0f} s after the traffic stopped")
    else:
        records, evaluations = serve.backlog()
        print(f"still waiting after {timeout:.0f} s: {records} records, {evaluations} evaluations")


def open_phase(serve: Serve, args: argparse.Namespace) -> tuple[list[Sample], bool]:
    watch = MemoryWatch(serve).start()
    clients = Clients(serve.api, args.clients, args.rate).start()
    measured_from = warm_up(serve, args.warmup)
    totals = serve.pipeline_totals()
    time.sleep(args.duration)
    clients.stop()
    watch.stop()
    window = [s for s in clients.samples if s.started >= measured_from]
    print(f"\n1. open: {args.clients} clients, {args.rate or 'unpaced'} req/s asked, ", end="")
    print(
        f"{args.duration:.0f} s after a {measured_from - clients.started:.0f} s warm-up, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[1]:.1f} over the last 5 min"
    )
    latency_header()
    latency_row("/chat + /chat/stream", window, args.duration)
    for endpoint in ("/chat", "/chat/stream"):
        latency_row(f"  {endpoint}", [s for s in window if s.endpoint == endpoint], args.duration)
    pipeline_row(serve, totals, time.monotonic() - measured_from)
    watch.table(measured_from)
    drain(serve, args.drain_timeout)
    return clients.samples, check_runs(serve.mlflow, {"all": clients.samples})


def limited_phase(serve: Serve, args: argparse.Namespace) -> tuple[list[Sample], bool]:
    half = args.limited_duration / 2
    polite_addresses = [f"10.0.{n // 250}.{n % 250 + 1}" for n in range(args.polite)]
    abusive_addresses = [f"10.66.{n // 250}.{n % 250 + 1}" for n in range(args.abusers)]
    per_client = args.polite_rate * args.polite
    watch = MemoryWatch(serve).start()
    polite = Clients(serve.api, args.polite, per_client, polite_addresses).start()
    started = warm_up(serve, args.warmup)
    totals = serve.pipeline_totals()
    time.sleep(half)
    abuse_from = time.monotonic()
    results = multiprocessing.get_context("spawn").Queue()
    abusers = multiprocessing.get_context("spawn").Process(
        target=abuse, args=(serve.api, abusive_addresses, half, results)
    )
    abusers.start()
    abusive: list[Sample] = results.get(timeout=half + 300)
    abusers.join(60)
    polite.stop()
    watch.stop()
    calm = [s for s in polite.samples if started <= s.started < abuse_from]
    under = [s for s in polite.samples if s.started >= abuse_from]
    # Abusive samples carry their own process's monotonic clock: only durations compare.
    print(
        f"\n2. limited: TWINSELF_RATE_LIMIT={args.limit}; {args.polite} polite clients at "
        f"{args.polite_rate * 60:.0f}/min each; {args.abusers} abusers unpaced in the second "
        f"half ({half:.0f} s each half); load average {os.getloadavg()[1]:.1f} (5 min)"
    )
    latency_header()
    latency_row("polite, alone", calm, half)
    latency_row("polite, under abuse", under, half)
    latency_row("abusive", abusive, half)
    refused = sum(1 for s in abusive if s.status == 429)
    print(f"abusers: {refused} answered 429, {sum(s.status == 200 for s in abusive)} answered 200")
    pipeline_row(serve, totals, time.monotonic() - started)
    watch.table(started)
    drain(serve, args.drain_timeout)
    groups = {"polite": polite.samples, "abusive": abusive}
    return polite.samples + abusive, check_runs(serve.mlflow, groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="open phase, seconds")
    parser.add_argument("--limited-duration", type=float, help="default: --duration")
    parser.add_argument("--warmup", type=float, default=30, help="seconds before measuring")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (open)")
    parser.add_argument("--rate", type=float, default=20, help="req/s in all (open; 0: unpaced)")
    parser.add_argument("--eval-sample-rate", default="0.2", help="EVAL_SAMPLE_RATE")
    parser.add_argument("--limit", default="30/minute", help="TWINSELF_RATE_LIMIT (limited)")
    parser.add_argument("--polite", type=int, default=12, help="polite clients (limited)")
    parser.add_argument("--polite-rate", type=float, default=0.25, help="req/s per polite one")
    parser.add_argument("--abusers", type=int, default=4, help="abusive clients (limited)")
    parser.add_argument("--drain-timeout", type=float, default=900, help="seconds")
    parser.add_argument("--skip-open", action="store_true", help="only the limited phase")
    args = parser.parse_args()
    args.limited_duration = args.limited_duration or args.duration

    root = Path(tempfile.mkdtemp(prefix="twinself-bench-load-"))
    env = {
        **os.environ,
        "TWINSELF_HOME": str(root / "home"),
        "TWINSELF_LLM_PROVIDER": "offline",
        "TWINSELF_PORT": str(free_port()),
        "TWINSELF_SHIPPER_METRICS_PORT": str(free_port()),
        "TWINSELF_EVALUATOR_METRICS_PORT": str(free_port()),
        "EVAL_JUDGE": "local",
        "EVAL_SAMPLE_RATE": args.eval_sample_rate,
        "TWINSELF_RATE_LIMIT": "",
    }
    for unset in ("MLFLOW_TRACKING_URI", "TWINSELF_DATA_DIR", "QDRANT_URL"):
        env.pop(unset, None)
    subprocess.run([*TWINSELF, "rebuild"], env=env, check=True, capture_output=True)
    mlflow_port, ok = free_port(), True
    print(f"sample persona, offline LLM and judge, EVAL_SAMPLE_RATE={args.eval_sample_rate}")
    if not args.skip_open:
        serve = Serve(root, env, mlflow_port)
        try:
            ok = open_phase(serve, args)[1] and ok
        finally:
            serve.stop()
    limited_env = {
        **env,
        "TWINSELF_RATE_LIMIT": args.limit,
        "TWINSELF_TRUSTED_PROXIES": "127.0.0.1",
    }
    serve = Serve(root, limited_env, mlflow_port)
    try:
        ok = limited_phase(serve, args)[1] and ok
    finally:
        serve.stop()
    if not ok:
        raise SystemExit(
            f"Not every response is a run with its evaluation, or not within --drain-timeout; "
            f"the state is kept in {root}"
        )
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
