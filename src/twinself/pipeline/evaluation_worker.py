"""The evaluation worker: judge queued answers, then log the scores to each request's run.

Runs in its own process (`twinself worker`), never in the server. Judging is asyncio with at
most `concurrency` evaluations in flight; the queue and MLflow calls are short and run in line.

- A judge failure is retried with jittered exponential backoff (longer for a 429); after
  `max_attempts`, or at once for a failure no retry can fix (a refused key), the job is a dead
  letter until `twinself evaluations retry`.
- The run's `quality_evaluation` tag ends as what happened: `evaluated` with the scores,
  `dead_letter` or `failed` with a dead letter (set once the run exists; a request that never
  shipped has no run to tag).
- A job whose run is not shipped yet waits as `scored`, its result kept; MLflow being down
  postpones logging without counting an attempt, as the shipper does.
- A crash leaves jobs `running`; the next worker (holding the lock) puts them back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from twinself.backoff import backoff_delay
from twinself.config.settings import Settings
from twinself.evaluation.judge_errors import classify
from twinself.evaluation.judges import Judge
from twinself.evaluation.results import EvaluationResult
from twinself.pipeline.evaluation_queue import EvaluationQueue, QueuedJob
from twinself.pipeline.mlflow_sink import build_run_sink
from twinself.pipeline.outbox import Outbox, build_outbox
from twinself.pipeline.records import EvaluationOutcome
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.run_sink import RunSink, SinkRejected, SinkUnavailable

logger = logging.getLogger(__name__)

# How often a job whose run is not shipped yet looks again.
_RUN_WAIT_SECONDS = 1.0


@dataclass
class PassCounts:
    claimed: int = 0
    done: int = 0
    dead: int = 0
    waiting: int = 0  # scored, waiting for its run or for MLflow
    failed: int = 0  # will be retried later
    tagged: int = 0  # dead letters' runs given their final quality_evaluation tag

    def add(self, other: PassCounts) -> None:
        for name in ("claimed", "done", "dead", "waiting", "failed", "tagged"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class EvaluationObserver(Protocol):
    """Told what became of each evaluation (the evaluator's Prometheus metrics)."""

    def scores_logged(self, result: EvaluationResult, lag_seconds: float) -> None: ...

    def failed(self, dead: bool) -> None: ...


class EvaluationWorker:
    """Judges the evaluation queue of one outbox, reading its request queue for each run.
    `clock` dates every attempt."""

    def __init__(
        self,
        outbox: Outbox,
        sink: RunSink,
        judge: Judge,
        *,
        concurrency: int,
        timeout_seconds: float,
        max_attempts: int,
        poll_seconds: float = 0.5,
        backoff_base_seconds: float = 2.0,
        rate_limit_base_seconds: float = 10.0,
        max_backoff_seconds: float = 300.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        observer: EvaluationObserver | None = None,
    ) -> None:
        self.queue = EvaluationQueue(outbox, clock)
        self.requests = RequestQueue(outbox, clock)
        self.sink = sink
        self.judge = judge
        self._clock = clock
        self._observer = observer
        self._concurrency = concurrency
        self._timeout = timeout_seconds
        self._max_attempts = max_attempts
        self._poll = poll_seconds
        self._base = backoff_base_seconds
        self._rate_limit_base = rate_limit_base_seconds
        self._max_backoff = max_backoff_seconds
        self._rng = rng or random.Random()

    # --- one pass ---------------------------------------------------------------------

    async def run_pass(self) -> PassCounts:
        jobs = self.queue.claim(self._concurrency * 4)
        counts = PassCounts(claimed=len(jobs))
        slots = asyncio.Semaphore(self._concurrency)
        outcomes = await asyncio.gather(*(self._process(job, slots) for job in jobs))
        for outcome in outcomes:
            setattr(counts, outcome, getattr(counts, outcome) + 1)
        counts.tagged = self._tag_dead_runs()
        return counts

    async def _process(self, queued: QueuedJob, slots: asyncio.Semaphore) -> str:
        job = queued.job
        if queued.result is None:
            async with slots:
                try:
                    result = await asyncio.wait_for(
                        self.judge.evaluate(job.question, job.answer, job.context), self._timeout
                    )
                except Exception as exc:
                    return self._judge_failed(queued, exc)
            self.queue.mark_scored(job.request_id, result.to_dict())
            logger.info(
                "evaluation of request %s by %s: answer_relevancy %.2f, faithfulness %.2f (%.2fs)",
                job.request_id,
                result.judge,
                result.answer_relevancy.score,
                result.faithfulness.score,
                result.seconds,
            )
        else:
            result = EvaluationResult.from_dict(queued.result)
        return self._log(queued, result)

    def _judge_failed(self, queued: QueuedJob, exc: BaseException) -> str:
        failure = classify(exc, self.judge.secret)
        attempts = queued.attempts + 1
        request_id = queued.job.request_id
        if failure.retryable and attempts < self._max_attempts:
            base = self._rate_limit_base if failure.rate_limited else self._base
            # The quota's own reset time (Gemini's retryDelay) wins when it is longer.
            delay = backoff_delay(
                attempts, base, self._max_backoff, self._rng.random(), failure.retry_after_seconds
            )
            self.queue.mark_failed(request_id, failure.message, delay, rescore=True)
            self._tell_failed(dead=False)
            logger.warning(
                "evaluation of request %s failed (attempt %d of %d; next in %.0fs): %s",
                request_id,
                attempts,
                self._max_attempts,
                delay,
                failure.message,
            )
            return "failed"
        outcome: EvaluationOutcome = "dead_letter" if failure.retryable else "failed"
        self.queue.mark_dead(request_id, failure.message, run_tag=outcome)
        self._tell_failed(dead=True)
        logger.error(
            "evaluation of request %s is a dead letter after %d attempt(s): %s. "
            "`twinself evaluations retry %s` queues it again.",
            request_id,
            attempts,
            failure.message,
            request_id,
        )
        return "dead"

    def _log(self, queued: QueuedJob, result: EvaluationResult) -> str:
        request_id = queued.job.request_id
        state = self.requests.state(request_id)
        if state is None or state.status == "failed":
            why = "it is not in the outbox" if state is None else f"it failed: {state.last_error}"
            error = f"The request's run never shipped ({why})"
            self.queue.mark_dead(request_id, error, run_tag=None)  # no run to tag
            self._tell_failed(dead=True)
            return "dead"
        if state.run_id is None or state.status != "shipped":
            waiting = "waiting for the request's run to ship"
            self.queue.postpone(request_id, waiting, _RUN_WAIT_SECONDS)
            return "waiting"
        try:
            self.sink.log_evaluation(state.run_id, state.trace_id, result)
        except SinkUnavailable as exc:
            delay = backoff_delay(queued.attempts + 1, self._base, 60.0, self._rng.random())
            self.queue.postpone(request_id, str(exc), delay)
            return "waiting"
        except SinkRejected as exc:
            logger.warning("MLflow rejected the evaluation of request %s: %s", request_id, exc)
            attempts = queued.attempts + 1
            if attempts >= self._max_attempts:
                self.queue.mark_dead(request_id, str(exc), run_tag="dead_letter")
                self._tell_failed(dead=True)
                return "dead"
            delay = backoff_delay(attempts, self._base, self._max_backoff, self._rng.random())
            self.queue.mark_failed(request_id, str(exc), delay, rescore=False)
            return "failed"
        self.queue.mark_done(request_id)
        if self._observer is not None:
            self._observer.scores_logged(result, self._clock() - queued.created_at)
        return "done"

    def _tell_failed(self, dead: bool) -> None:
        if self._observer is not None:
            self._observer.failed(dead)

    def _tag_dead_runs(self) -> int:
        """Give each dead job's run its final `quality_evaluation` tag once the run exists.
        Owed durably by the job, so a crash or an MLflow outage only delays it."""
        tagged = 0
        for owed in self.queue.owed_run_tags(self._concurrency * 4):
            request_id = owed.request_id
            state = self.requests.state(request_id)
            if state is None or state.status == "failed":
                self.queue.settle_run_tag(request_id)  # the run never shipped: nothing to tag
                continue
            if state.run_id is None or state.status != "shipped":
                self.queue.postpone_run_tag(request_id, _RUN_WAIT_SECONDS)
                continue
            try:
                self.sink.end_quality_evaluation(state.run_id, owed.outcome)
            except SinkUnavailable:
                delay = backoff_delay(owed.attempts, self._base, 60.0, self._rng.random())
                self.queue.postpone_run_tag(request_id, delay)
                break  # MLflow is down for the others too
            except SinkRejected as exc:
                logger.warning(
                    "MLflow refused to tag run %s %s: %s", state.run_id, owed.outcome, exc
                )
            else:
                tagged += 1
            self.queue.settle_run_tag(request_id)
        return tagged

    # --- loops ------------------------------------------------------------------------

    async def drain(self) -> PassCounts:
        """Pass after pass until nothing is due now (jobs waiting for later are left)."""
        self.queue.release_orphans()
        total = PassCounts()
        while True:
            counts = await self.run_pass()
            total.add(counts)
            if counts.claimed == 0 or counts.claimed == counts.waiting + counts.failed:
                return total

    async def run_forever(self, stop: threading.Event) -> None:
        """Until `stop` is set; in-flight evaluations are cancelled then and queued again."""
        released = self.queue.release_orphans()
        if released:
            logger.info("Re-queued %d evaluation(s) a stopped worker left unfinished", released)
        logger.info("Evaluating answers with judge %s", self.judge.name)
        try:
            while not stop.is_set():
                task = asyncio.ensure_future(self.run_pass())
                while not task.done():
                    await asyncio.wait({task}, timeout=0.2)
                    if stop.is_set() and not task.done():
                        task.cancel()
                        await asyncio.gather(task, return_exceptions=True)
                if task.cancelled():
                    break
                counts = task.result()
                busy = counts.claimed > 0 and counts.claimed > counts.waiting + counts.failed
                pause = 0.0 if busy else self._poll
                for _ in range(max(1, int(pause / 0.1))):
                    if stop.is_set() or pause == 0.0:
                        break
                    await asyncio.sleep(0.1)
        finally:
            self.queue.release_orphans()
        logger.info("Evaluation worker stopped")


def build_evaluation_worker(
    settings: Settings, judge: Judge, observer: EvaluationObserver | None = None
) -> EvaluationWorker:
    return EvaluationWorker(
        build_outbox(settings.home),
        build_run_sink(settings),
        judge,
        concurrency=settings.eval_concurrency,
        timeout_seconds=settings.eval_timeout_seconds,
        max_attempts=settings.eval_max_attempts,
        poll_seconds=settings.shipper_poll_seconds,
        observer=observer,
    )
