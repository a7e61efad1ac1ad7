"""Everything a running server uses, built once in the app's lifespan."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
from prometheus_client import CollectorRegistry

import twinself
from twinself.config.loading import secret_values
from twinself.config.settings import Settings
from twinself.monitoring.metrics import TwinMetrics
from twinself.monitoring.outbox_metrics import OutboxCollector
from twinself.pipeline.evaluation_queue import EvaluationQueue
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.outbox import Outbox, build_outbox
from twinself.pipeline.outbox_writes import OutboxWriteGate
from twinself.pipeline.pricing import PriceBook, load_prices
from twinself.pipeline.rating_queue import RatingQueue
from twinself.pipeline.records import RequestRecord
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.request_recorder import EvaluationSampling, RequestRecorder
from twinself.server.active_memory import ActiveMemory, Serving
from twinself.server.rate_limits import RateLimits
from twinself.server.spend_cap import SpendCap
from twinself.twin.factory import TwinRuntime
from twinself.twin.twin import Twin


@dataclass
class MlflowProbe:
    """Is the tracking server up? Asked by /health; a "yes" is cached briefly, a "no" is not,
    so recovery shows at once."""

    uri: str
    cache_seconds: float = 5.0
    _checked_at: float = field(default=0.0, init=False)
    _connected: bool = field(default=False, init=False)

    def connected(self) -> bool:
        if not self.uri.startswith(("http://", "https://")):
            return True  # a local SQLite store is always there
        now = time.monotonic()
        if not self._connected or now - self._checked_at > self.cache_seconds:
            try:
                self._connected = httpx.get(
                    f"{self.uri.rstrip('/')}/health", timeout=1.0
                ).is_success
            except httpx.HTTPError:
                self._connected = False
            self._checked_at = now
        return self._connected


@dataclass
class ServerServices:
    settings: Settings
    memory: ActiveMemory
    outbox: Outbox | None
    recorder: RequestRecorder
    mlflow: MlflowProbe
    metrics: TwinMetrics
    rate_limits: RateLimits
    spend_cap: SpendCap
    # The outbox's queues; all None when tracking is off.
    requests: RequestQueue | None = None
    feedback: FeedbackQueue | None = None
    evaluations: EvaluationQueue | None = None
    ratings: RatingQueue | None = None

    def serving(self) -> Serving:
        """Take once per request: the twin and data version it answers from, to the end."""
        return self.memory.current

    @property
    def twin(self) -> Twin:
        return self.memory.current.twin

    def describe_build(self) -> None:
        """`twinself_build_info` as of now: the data version follows a switch."""
        llm = self.twin.llm
        self.metrics.describe_build(
            version=twinself.__version__,
            data_version=self.memory.current.data_version,
            prompt_version=self.twin.persona.prompt_version,
            provider=llm.name,
            model=llm.model,
            judge=self.settings.resolved_judge,
        )

    def close(self) -> None:
        self.memory.close()
        if self.outbox is not None:
            self.outbox.close()


def build_services(
    settings: Settings,
    runtime: TwinRuntime | None = None,
    metrics: TwinMetrics | None = None,
    outbox: Outbox | None = None,
    write_gate: OutboxWriteGate | None = None,
) -> ServerServices:
    """`runtime` lets a caller (a test, a benchmark) share an already open model and store;
    `metrics` defaults to a registry of this server's own; `outbox` and `write_gate` default
    to the one under TWINSELF_HOME and a gate on the real clock."""
    metrics = metrics or TwinMetrics(CollectorRegistry())
    metrics.daily_budget.set(settings.daily_budget_usd)
    owns_runtime = runtime is None
    runtime = runtime or TwinRuntime.open(settings)
    memory = ActiveMemory(settings, runtime, owns_runtime=owns_runtime)
    memory.start()
    llm = memory.current.twin.llm
    metrics.expect_provider(llm.name, llm.model)
    outbox = (outbox or build_outbox(settings.home)) if settings.tracking_enabled else None
    requests = RequestQueue(outbox) if outbox is not None else None
    sampling = EvaluationSampling(settings.resolved_judge != "none", settings.eval_sample_rate)
    spend_cap = SpendCap(settings.daily_spend_cap_usd, requests)

    def observe(record: RequestRecord) -> None:
        spend_cap.observe(record)  # first: a failing metric must not hide a cost from the cap
        metrics.observe_request(record)

    recorder = RequestRecorder(
        requests,
        PriceBook(load_prices(settings.model_prices)),
        runtime.data_version(),
        sampling,
        observe=observe,
        write_gate=write_gate or OutboxWriteGate(on_failure=metrics.outbox_write_errors.inc),
        secrets=secret_values(settings),
    )
    feedback = FeedbackQueue(outbox) if outbox is not None else None
    evaluations = EvaluationQueue(outbox) if outbox is not None else None
    if requests is not None and feedback is not None and evaluations is not None:
        metrics.add_collector(OutboxCollector(requests, feedback, evaluations))
    return ServerServices(
        settings=settings,
        memory=memory,
        outbox=outbox,
        recorder=recorder,
        mlflow=MlflowProbe(settings.resolved_tracking_uri),
        metrics=metrics,
        rate_limits=RateLimits(settings.rate_limit, settings.trusted_proxy_list),
        spend_cap=spend_cap,
        requests=requests,
        feedback=feedback,
        evaluations=evaluations,
        ratings=RatingQueue(outbox) if outbox is not None else None,
    )
