"""An outbox record as an MLflow trace: the spans and the TraceInfo, with ids derived from the
request_id, so shipping a record twice writes the same trace and spans (the store merges them)
instead of a second trace."""

from __future__ import annotations

import base64
import json
from typing import Any

from mlflow.entities import Span, Trace, TraceData, TraceInfo, TraceLocation, TraceState
from mlflow.tracing.constant import (
    MAX_CHARS_IN_TRACE_INFO_METADATA,
    TRACE_SCHEMA_VERSION_KEY,
    TRUNCATION_SUFFIX,
    CostKey,
    SpanAttributeKey,
    TokenUsageKey,
    TraceMetadataKey,
    TraceTagKey,
)
from mlflow.tracing.utils import (
    SpanAggregationNode,
    add_size_stats_to_trace_metadata,
    aggregate_cost_from_span_nodes,
    aggregate_usage_from_span_nodes,
    dump_span_attribute_value,
)

from twinself.pipeline.records import RequestRecord, SpanRecord
from twinself.pipeline.trace_ids import derived_id, otel_trace_id

REQUEST_ID_TAG = "request_id"
_PREVIEW_CHARS = 1000


def _b64(value: int, size: int) -> str:
    return base64.b64encode(value.to_bytes(size, "big")).decode("ascii")


def _root_of(record: RequestRecord) -> SpanRecord:
    if record.root is not None:
        return record.root
    start_ns = int(record.created_at * 1e9)
    duration = record.metrics.get("total_time_seconds", 0.0)
    return SpanRecord(
        name="chat",
        span_type="CHAIN",
        start_ns=start_ns,
        end_ns=start_ns + int(duration * 1e9),
        inputs={"message": record.question},
        outputs={"response": record.response},
        status="OK" if record.status == "success" else "ERROR",
    )


def _llm_attributes(record: RequestRecord, span: SpanRecord) -> dict[str, Any]:
    """Token usage, cost and model on the LLM span, from the record when the span lacks them.

    MLflow sums `mlflow.chat.tokenUsage` and `mlflow.llm.cost` of the spans into the trace's
    `mlflow.trace.tokenUsage` / `mlflow.trace.cost`, which the trace table shows.
    """
    metrics = record.metrics
    extra: dict[str, Any] = {}
    if SpanAttributeKey.CHAT_USAGE not in span.attributes and "total_tokens" in metrics:
        extra[SpanAttributeKey.CHAT_USAGE] = {
            TokenUsageKey.INPUT_TOKENS: int(metrics.get("input_tokens", 0)),
            TokenUsageKey.OUTPUT_TOKENS: int(metrics.get("output_tokens", 0)),
            TokenUsageKey.TOTAL_TOKENS: int(metrics["total_tokens"]),
        }
    if SpanAttributeKey.LLM_COST not in span.attributes and "total_cost_usd" in metrics:
        extra[SpanAttributeKey.LLM_COST] = {
            CostKey.INPUT_COST: metrics.get("input_cost_usd", 0.0),
            CostKey.OUTPUT_COST: metrics.get("output_cost_usd", 0.0),
            CostKey.TOTAL_COST: metrics["total_cost_usd"],
        }
    for key, param in (
        (SpanAttributeKey.MODEL, "model"),
        (SpanAttributeKey.MODEL_PROVIDER, "provider"),
    ):
        if key not in span.attributes and record.params.get(param):
            extra[key] = record.params[param]
    return extra


def _span(
    span: SpanRecord,
    trace_id: str,
    request_id: str,
    index: int,
    extra_attributes: dict[str, Any],
) -> Span:
    attributes: dict[str, Any] = {**span.attributes, **extra_attributes}
    attributes[SpanAttributeKey.REQUEST_ID] = trace_id
    attributes[SpanAttributeKey.SPAN_TYPE] = span.span_type
    if span.inputs is not None:
        attributes[SpanAttributeKey.INPUTS] = span.inputs
    if span.outputs is not None:
        attributes[SpanAttributeKey.OUTPUTS] = span.outputs
    return Span.from_dict(
        {
            "trace_id": _b64(otel_trace_id(request_id), 16),
            "span_id": _b64(derived_id(request_id, f"span-{index}", 8), 8),
            "parent_span_id": None if index == 0 else _b64(derived_id(request_id, "span-0", 8), 8),
            "name": span.name,
            "start_time_unix_nano": span.start_ns,
            "end_time_unix_nano": span.end_ns,
            "status": {"code": f"STATUS_CODE_{span.status}", "message": ""},
            # MLflow stores every span attribute as a JSON string.
            "attributes": {k: dump_span_attribute_value(v) for k, v in attributes.items()},
            "events": [],
        }
    )


def trace_spans(record: RequestRecord, trace_id: str) -> list[Span]:
    """The root (index 0) and its children, with ids derived from the request_id."""
    children = list(record.spans)
    llm_index = next((i for i, s in enumerate(children) if s.span_type == "LLM"), None)
    spans = [_span(_root_of(record), trace_id, record.request_id, 0, {})]
    for index, child in enumerate(children):
        extra = _llm_attributes(record, child) if index == llm_index else {}
        spans.append(_span(child, trace_id, record.request_id, index + 1, extra))
    return spans


def _truncated(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    return value[: limit - len(TRUNCATION_SUFFIX)] + TRUNCATION_SUFFIX


def _aggregate(spans: list[Span], key: str) -> list[SpanAggregationNode]:
    return [SpanAggregationNode(s.span_id, s.parent_id, s.get_attribute(key)) for s in spans]


def trace_info(
    record: RequestRecord, trace_id: str, experiment_id: str, run_id: str, spans: list[Span]
) -> TraceInfo:
    root = spans[0]
    inputs = dump_span_attribute_value(root.inputs) if root.inputs is not None else ""
    outputs = dump_span_attribute_value(root.outputs) if root.outputs is not None else ""
    metadata = {
        TRACE_SCHEMA_VERSION_KEY: "3",
        TraceMetadataKey.SOURCE_RUN: run_id,
        TraceMetadataKey.TRACE_SESSION: record.session_id,
        TraceMetadataKey.INPUTS: _truncated(inputs, MAX_CHARS_IN_TRACE_INFO_METADATA),
        TraceMetadataKey.OUTPUTS: _truncated(outputs, MAX_CHARS_IN_TRACE_INFO_METADATA),
        REQUEST_ID_TAG: record.request_id,
        "session_id": record.session_id,
    }
    if usage := aggregate_usage_from_span_nodes(_aggregate(spans, SpanAttributeKey.CHAT_USAGE)):
        metadata[TraceMetadataKey.TOKEN_USAGE] = json.dumps(usage)
    if cost := aggregate_cost_from_span_nodes(_aggregate(spans, SpanAttributeKey.LLM_COST)):
        metadata[TraceMetadataKey.COST] = json.dumps(cost)
    info = TraceInfo(
        trace_id=trace_id,
        trace_location=TraceLocation.from_experiment_id(experiment_id),
        request_time=root.start_time_ns // 1_000_000,
        execution_duration=((root.end_time_ns or root.start_time_ns) - root.start_time_ns)
        // 1_000_000,
        state=TraceState.OK if record.status == "success" else TraceState.ERROR,
        request_preview=_truncated(inputs, _PREVIEW_CHARS),
        response_preview=_truncated(outputs, _PREVIEW_CHARS),
        client_request_id=record.request_id,
        trace_metadata=metadata,
        tags={
            TraceTagKey.TRACE_NAME: root.name,
            REQUEST_ID_TAG: record.request_id,
            "session_id": record.session_id,
            "endpoint": record.endpoint,
            "status": record.status,
        },
    )
    add_size_stats_to_trace_metadata(Trace(info=info, data=TraceData(spans=spans)))
    return info
