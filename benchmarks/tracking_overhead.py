"""What does tracking cost a request? Three servers side by side in one run, requests interleaved:

- off:    TWINSELF_TRACKING=false
- outbox: twinself's way: one SQLite outbox row per request, shipped by another process
- naive:  TwinSelf's way: synchronous fluent MLflow logging inside the request

All three answer with the offline provider from the same memory. Then the shipper drains the
outbox rows into a local `mlflow server --workers 1` and the drain rate is printed.
Targets: outbox adds < 1 ms at p50; >= 30 runs/s shipped.

    .venv/bin/python benchmarks/tracking_overhead.py [REQUESTS]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from _sample_twin import benchmark_settings, built_runtime, free_port, percentile
from fastapi import FastAPI, Request, Response

from twinself.config.settings import Settings
from twinself.mlflow_server.local_server import use_wal_journal
from twinself.server.app import create_app
from twinself.server.services import ServerServices, build_services
from twinself.twin.factory import TwinRuntime

QUESTIONS = [
    "Where do you work?",
    "What are your hobbies?",
    "Where did you study?",
    "Which programming languages do you use?",
]


@contextmanager
def mlflow_server(home: Path) -> Iterator[str]:
    port = free_port()
    use_wal_journal(home / "mlflow-server.db")  # as `twinself serve --mlflow-ui` does
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    mlflow = Path(sys.executable).with_name("mlflow")
    process = subprocess.Popen(
        [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{home / 'mlflow-server.db'}",
         "--default-artifact-root", str(home / "artifacts")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{uri}/health", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield uri
    finally:
        process.terminate()
        process.wait(30)


def add_naive_fluent_logging(app: FastAPI, tracking_uri: str) -> None:
    """What TwinSelf's server does: log the run with the fluent API before answering."""
    import mlflow

    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("naive_fluent_logging")

    @app.middleware("http")
    async def log_synchronously(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        with mlflow.start_run():
            mlflow.log_params({"session_id": "bench", "message_length": 20})
            mlflow.log_metrics(
                {"total_tokens": 100, "total_time_seconds": time.perf_counter() - started}
            )
        return response


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def main(requests: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="twinself-tracking-bench-"))
    base = benchmark_settings(home=home / "memory")
    runtime: TwinRuntime = built_runtime(base)

    def app_for(name: str, tracking: bool) -> FastAPI:
        settings = base.model_copy(update={"home": home / name, "tracking_enabled": tracking})

        def services(s: Settings) -> ServerServices:
            return build_services(s, runtime=runtime)

        return create_app(settings, services)

    with mlflow_server(home) as mlflow_uri:
        naive = app_for("naive", tracking=False)
        add_naive_fluent_logging(naive, mlflow_uri)
        apps = {"off": app_for("off", False), "outbox": app_for("outbox", True), "naive": naive}
        latencies: dict[str, list[float]] = {name: [] for name in apps}
        with (
            serving(apps["off"]) as off_url,
            serving(apps["outbox"]) as outbox_url,
            serving(apps["naive"]) as naive_url,
            httpx.Client(timeout=60) as client,
        ):
            urls = {"off": off_url, "outbox": outbox_url, "naive": naive_url}
            for _ in range(3):
                for url in urls.values():
                    client.post(f"{url}/chat", json={"session_id": "w", "message": "Hi"})
            for i in range(requests):
                question = QUESTIONS[i % len(QUESTIONS)]
                for name, url in urls.items():  # interleaved: same machine state for each
                    started = time.perf_counter()
                    reply = client.post(
                        f"{url}/chat", json={"session_id": "b", "message": question}
                    )
                    latencies[name].append(time.perf_counter() - started)
                    assert reply.status_code == 200, reply.text

        print(f"{requests} sequential requests per mode, interleaved, offline provider")
        p50_off = statistics.median(latencies["off"])
        for name, values in latencies.items():
            p50 = statistics.median(values)
            print(
                f"  {name:7s} p50 {p50 * 1000:7.2f} ms  "
                f"p99 {percentile(values, 0.99) * 1000:7.2f} ms"
                f"  p50 vs off: {(p50 - p50_off) * 1000:+6.2f} ms ({p50 / p50_off:.2f}x)"
            )
        measure_recording(base, runtime, home)
        measure_drain(base, home, mlflow_uri)
    runtime.close()


def measure_recording(base: Settings, runtime: TwinRuntime, home: Path) -> None:
    """The outbox write alone, timed precisely (what 'tracking on' adds to a request)."""
    from twinself.pipeline.request_recorder import RequestContext

    services = build_services(base.model_copy(update={"home": home / "outbox"}), runtime=runtime)
    answer = services.twin.answer("Where do you work?")
    timings = []
    for i in range(200):
        ctx = RequestContext(f"micro-{i}", "s", "chat", "Where do you work?", 0)
        started = time.perf_counter()
        services.recorder.answered(ctx, answer)
        timings.append(time.perf_counter() - started)
    services.close()
    print(
        f"  record + outbox append alone: p50 {statistics.median(timings) * 1000:.3f} ms, "
        f"p99 {percentile(timings, 0.99) * 1000:.3f} ms"
    )


def measure_drain(base: Settings, home: Path, mlflow_uri: str) -> None:
    from twinself.pipeline.shipper import build_shipper

    settings = base.model_copy(update={"home": home / "outbox", "mlflow_tracking_uri": mlflow_uri})
    shipper = build_shipper(settings)
    pending = shipper.requests.backlog().pending
    started = time.perf_counter()
    shipped = 0
    while shipper.requests.backlog().pending:
        shipped += shipper.ship_pending_records()
    seconds = time.perf_counter() - started
    print(
        f"  drain: {shipped} of {pending} records -> MLflow runs + traces in {seconds:.1f} s = "
        f"{shipped / seconds:.1f} runs/s (mlflow server, --workers 1)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
