"""MlflowRunSink against a real SQLite store and a real `mlflow server`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSourceType, Trace

from tests.support.factories import SinkFactory
from tests.support.mlflow_process import runs_of
from tests.support.network import free_port
from tests.support.records import (
    METRIC_NAMES,
    RUN_TAG_NAMES,
    SPAN_NAMES,
    make_record,
)
from twinself.config.settings import Settings
from twinself.pipeline.feedback_queue import Feedback
from twinself.pipeline.mlflow_assessments import FEEDBACK_ASSESSMENT_NAME
from twinself.pipeline.mlflow_sink import MlflowRunSink, build_run_sink
from twinself.pipeline.run_sink import RunNotFound, SinkRejected, SinkUnavailable
from twinself.pipeline.trace_ids import trace_id_for


def traces_of(uri: str, experiment_name: str) -> list[Trace]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(experiment_name)
    assert experiment is not None
    return list(client.search_traces(locations=[experiment.experiment_id], max_results=500))


def test_a_record_becomes_a_run_and_a_trace_linked_both_ways(
    tracking_uri: str, make_sink: SinkFactory, experiment_name: str
) -> None:
    record = make_record()
    created: list[str] = []

    shipped = make_sink(tracking_uri).ship(record, None, created.append)

    client = MlflowClient(tracking_uri)
    run = client.get_run(shipped.run_id)
    assert created == [shipped.run_id]
    assert run.info.run_name == f"chat-{record.request_id[:8]}"
    assert run.info.status == "FINISHED"
    assert run.info.start_time == int(record.created_at * 1000)
    assert run.data.params == record.params
    assert set(METRIC_NAMES) <= set(run.data.metrics)
    assert run.data.metrics["total_tokens"] == 150
    assert set(RUN_TAG_NAMES) <= set(run.data.tags)
    assert run.data.tags["request_id"] == record.request_id
    assert run.data.tags["trace_id"] == shipped.trace_id == trace_id_for(record.request_id)
    assert run.data.tags["http_status"] == "200"
    assert run.data.tags["price_known"] == "true"  # the record's own tags come along

    trace = client.get_trace(shipped.trace_id)
    info = trace.info
    assert info.trace_metadata["mlflow.sourceRun"] == shipped.run_id
    assert info.trace_metadata["mlflow.trace.session"] == record.session_id
    assert info.tags["request_id"] == record.request_id
    assert info.tags["session_id"] == record.session_id
    assert info.token_usage == {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150}
    cost = json.loads(info.trace_metadata["mlflow.trace.cost"])
    assert cost["total_cost"] == pytest.approx(record.metrics["total_cost_usd"])
    assert info.state.value == "OK"
    assert info.client_request_id == record.request_id
    linked = client.search_traces(
        locations=[run.info.experiment_id], run_id=shipped.run_id, include_spans=False
    )
    assert [t.info.trace_id for t in linked] == [shipped.trace_id]

    spans = {span.name: span for span in trace.data.spans}
    assert set(spans) == {"chat", *SPAN_NAMES}
    root = spans["chat"]
    assert root.parent_id is None
    assert record.root is not None and root.start_time_ns == record.root.start_ns
    for name in ("retrieve_semantic", "retrieve_episodic", "retrieve_procedural"):
        assert spans[name].span_type == "RETRIEVER"
        assert spans[name].outputs[0]["page_content"].endswith("passage 0")
        assert spans[name].parent_id == root.span_id
    assert spans["prompt"].span_type == "CHAIN"
    llm = spans["llm"]
    assert llm.span_type == "LLM"
    assert llm.get_attribute("mlflow.chat.tokenUsage")["total_tokens"] == 150
    assert llm.get_attribute("mlflow.llm.model") == "gemini-2.5-flash-lite"
    by_record = {s.name: s for s in record.spans}
    assert llm.start_time_ns == by_record["llm"].start_ns
    assert llm.end_time_ns == by_record["llm"].end_ns


@pytest.mark.parametrize(
    ("status", "run_status", "trace_state"),
    [("error", "FAILED", "ERROR"), ("client_disconnected", "KILLED", "ERROR")],
)
def test_run_status_follows_the_request_status(
    sqlite_uri: str, make_sink: SinkFactory, status: str, run_status: str, trace_state: str
) -> None:
    record = make_record(status=status)  # type: ignore[arg-type]
    shipped = make_sink(sqlite_uri).ship(record, None, lambda run_id: None)
    client = MlflowClient(sqlite_uri)
    assert client.get_run(shipped.run_id).info.status == run_status
    assert client.get_trace(shipped.trace_id).info.state.value == trace_state


def test_token_usage_comes_from_metrics_when_the_llm_span_lacks_it(
    sqlite_uri: str, make_sink: SinkFactory
) -> None:
    base = make_record()
    record = replace(base, spans=[replace(s, attributes={}) for s in base.spans])
    shipped = make_sink(sqlite_uri).ship(record, None, lambda run_id: None)
    info = MlflowClient(sqlite_uri).get_trace(shipped.trace_id).info
    assert info.token_usage == {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150}
    assert "mlflow.trace.cost" in info.trace_metadata


def test_shipping_again_reuses_the_run_and_the_trace(
    tracking_uri: str, make_sink: SinkFactory, experiment_name: str
) -> None:
    """A crash after any step, then a retry that knows nothing: still one run, one trace."""
    record = make_record()
    sink = make_sink(tracking_uri)
    first = sink.ship(record, None, lambda run_id: None)
    # The outbox never learned the run id (crash before note_run_created): look it up.
    again = sink.ship(record, None, lambda run_id: pytest.fail("created a second run"))
    # A batch lookup finds it too.
    assert sink.find_runs([record]) == {record.request_id: first.run_id}

    assert again == first
    assert [r.info.run_id for r in runs_of(tracking_uri, experiment_name)] == [first.run_id]
    traces = traces_of(tracking_uri, experiment_name)
    assert [t.info.trace_id for t in traces] == [first.trace_id]
    assert len(traces[0].data.spans) == 1 + len(record.spans)
    history = MlflowClient(tracking_uri).get_metric_history(first.run_id, "total_tokens")
    assert len(history) == 1


def test_find_runs_picks_only_the_asked_requests(sqlite_uri: str, make_sink: SinkFactory) -> None:
    sink = make_sink(sqlite_uri)
    shipped_record, other, never_shipped = make_record(0), make_record(1), make_record(2)
    shipped = sink.ship(shipped_record, None, lambda run_id: None)
    sink.ship(other, None, lambda run_id: None)
    assert sink.find_runs([shipped_record, never_shipped]) == {
        shipped_record.request_id: shipped.run_id
    }
    assert sink.find_runs([]) == {}


def test_feedback_becomes_one_human_assessment_on_the_trace(
    tracking_uri: str, make_sink: SinkFactory
) -> None:
    record = make_record()
    sink = make_sink(tracking_uri)
    shipped = sink.ship(record, None, lambda run_id: None)
    feedback = Feedback(
        feedback_id=7,
        created_at=1.5,
        request_id=record.request_id,
        original_question=record.question,
        original_response=record.response,
        suggested_response="I mostly write Python and Go.",
        status="pending",
        attempts=0,
    )

    sink.log_feedback(feedback, shipped.trace_id)
    sink.log_feedback(feedback, shipped.trace_id)  # a retry after a crash before marking

    assessments = MlflowClient(tracking_uri).get_trace(shipped.trace_id).info.assessments
    assert len(assessments) == 1
    suggestion = assessments[0]
    assert suggestion.name == FEEDBACK_ASSESSMENT_NAME
    assert suggestion.value == "I mostly write Python and Go."
    assert suggestion.source.source_type == AssessmentSourceType.HUMAN
    assert suggestion.metadata is not None
    assert suggestion.metadata["original_question"] == record.question
    assert suggestion.metadata["original_response"] == record.response


def test_a_dead_letter_ends_the_runs_quality_evaluation_tag(
    tracking_uri: str, make_sink: SinkFactory
) -> None:
    sink = make_sink(tracking_uri)
    shipped = sink.ship(
        make_record(quality_evaluation="evaluating_in_background"), None, lambda run_id: None
    )
    client = MlflowClient(tracking_uri)
    assert client.get_run(shipped.run_id).data.tags["quality_evaluation"] == (
        "evaluating_in_background"
    )

    sink.end_quality_evaluation(shipped.run_id, "dead_letter")
    sink.end_quality_evaluation(shipped.run_id, "dead_letter")  # a retry after a crash

    assert client.get_run(shipped.run_id).data.tags["quality_evaluation"] == "dead_letter"
    with pytest.raises(RunNotFound, match="no MLflow run"):
        sink.end_quality_evaluation("0" * 32, "failed")


def test_an_unreachable_server_is_unavailable_not_rejected(make_sink: SinkFactory) -> None:
    sink = make_sink(f"http://127.0.0.1:{free_port()}", http_max_retries=0)
    with pytest.raises(SinkUnavailable, match="unreachable"):
        sink.check_connection()
    with pytest.raises(SinkUnavailable):
        sink.ship(make_record(), None, lambda run_id: None)


def test_data_mlflow_refuses_is_rejected(sqlite_uri: str, make_sink: SinkFactory) -> None:
    base = make_record()
    record = replace(base, metrics={**base.metrics, "no?such:metric!": 1.0})
    with pytest.raises(SinkRejected, match="rejected"):
        make_sink(sqlite_uri).ship(record, None, lambda run_id: None)


def test_credentials_never_reach_messages() -> None:
    sink = MlflowRunSink("http://bob:s3cret@127.0.0.1:9/", "twinself_production", "file:///tmp/a")
    assert sink.tracking_uri == "http://***@127.0.0.1:9/"


def test_a_tracking_server_chooses_where_a_new_experiments_artifacts_go(
    tracking_uri: str, experiment_name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With replicas, the first box to create the experiment must not pin its own disk."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    monkeypatch.setenv("TWINSELF_HOME", str(tmp_path / "home"))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    shipped = build_run_sink(settings).ship(make_record(), None, lambda _run_id: None)

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment(client.get_run(shipped.run_id).info.experiment_id)
    home_artifacts = (tmp_path / "home" / "mlartifacts").as_uri()
    if tracking_uri.startswith("http"):
        assert not experiment.artifact_location.startswith(home_artifacts)
    else:
        assert experiment.artifact_location == home_artifacts
