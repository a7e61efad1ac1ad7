"""kill -9 the evaluation worker mid-job: after a restart the job completes, exactly once."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.fakes.gemini_judge import FakeGeminiJudge, small_ca_bundle
from tests.support.factories import SinkFactory
from tests.support.records import make_record
from tests.support.waiting import wait_until
from twinself.pipeline.evaluation_queue import EvaluationQueue
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.records import EvaluationJob
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.shipper import Shipper
from twinself.pipeline.trace_ids import trace_id_for

pytestmark = pytest.mark.slow
JUDGE_KEY = "judge-key-for-the-crash-test"


def test_a_job_killed_mid_evaluation_completes_once_after_restart(
    outbox: Outbox,
    request_queue: RequestQueue,
    evaluation_queue: EvaluationQueue,
    make_sink: SinkFactory,
    tmp_path: Path,
    experiment_name: str,
) -> None:
    uri = f"sqlite:///{tmp_path / 'crash_mlflow.db'}"
    sink = make_sink(uri)
    record = make_record(quality_evaluation="evaluating_in_background")
    job = EvaluationJob(record.request_id, "Where did you study?", "At Chalmers.", ["Chalmers."])
    request_queue.append(record, job)
    Shipper(outbox, sink, batch_size=10, poll_seconds=0.1).drain()
    fake = FakeGeminiJudge(api_key=JUDGE_KEY, hang_seconds=math.inf).start()
    env = {
        **os.environ,
        "TWINSELF_HOME": str(tmp_path / "home"),
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_EXPERIMENT_NAME": experiment_name,
        "GOOGLE_API_KEY_4DEEPEVAL": JUDGE_KEY,
        "EVAL_GEMINI_BASE_URL": fake.base_url,
        "SSL_CERT_FILE": str(small_ca_bundle(tmp_path)),
    }
    command = [sys.executable, "-m", "twinself.cli", "worker", "--no-shipper"]
    log = (tmp_path / "worker.log").open("ab")
    try:
        first = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        wait_until(fake.hanging.is_set, 120, "the judge call to start")
        held = evaluation_queue.get(record.request_id)
        assert held is not None and held.status == "running"

        first.kill()  # SIGKILL: no cleanup of any kind
        first.wait(30)
        assert evaluation_queue.get(record.request_id).status == "running"  # type: ignore[union-attr]
        fake.hang_seconds = 0.0
        fake.release.set()

        second = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        wait_until(
            lambda: evaluation_queue.get(record.request_id).status == "done",  # type: ignore[union-attr]
            120,
            "the restarted worker to finish the job",
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        for process in ("first", "second"):
            running = locals().get(process)
            if running is not None and running.poll() is None:
                running.kill()
        fake.stop()
        log.close()

    client = MlflowClient(uri)
    state = request_queue.state(record.request_id)
    assert state is not None and state.run_id is not None
    for metric in ("deepeval_faithfulness", "deepeval_answer_relevancy"):
        assert len(client.get_metric_history(state.run_id, metric)) == 1
    assert client.get_run(state.run_id).data.tags["quality_evaluation"] == "evaluated"
    assessments = client.get_trace(trace_id_for(record.request_id)).info.assessments
    assert sorted(a.name for a in assessments) == ["answer_relevancy", "faithfulness"]
    assert "Re-queued 1 evaluation(s)" in (tmp_path / "worker.log").read_text()
