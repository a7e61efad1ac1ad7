"""What a request leaves behind: one self-contained, JSON-serialisable record.

The server writes it to the outbox in one transaction; the shipper turns it into an MLflow
run and trace later. Everything the run and trace need is in here, so shipping never has to
ask the server anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

RequestStatus = Literal["success", "error", "client_disconnected"]
# What happens to an answer's quality evaluation, as the API reports it.
QualityEvaluation = Literal["evaluating_in_background", "not_sampled", "disabled"]
# The run tag that starts as the request's QualityEvaluation and ends as an EvaluationOutcome.
QUALITY_EVALUATION_TAG = "quality_evaluation"
# How a run's evaluation ended: scores logged; attempts ran out (a dead letter); or a failure
# no retry can fix, such as a refused key (a dead letter at once).
EvaluationOutcome = Literal["evaluated", "dead_letter", "failed"]


@dataclass(frozen=True)
class SpanRecord:
    """One step of a request, with its real wall-clock start and end (epoch nanoseconds)."""

    name: str
    span_type: str  # MLflow span types: RETRIEVER, LLM, CHAIN, ...
    start_ns: int
    end_ns: int
    inputs: Any = None
    outputs: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)
    status: Literal["OK", "ERROR"] = "OK"


@dataclass(frozen=True)
class RequestRecord:
    request_id: str
    session_id: str
    created_at: float  # epoch seconds, request start
    status: RequestStatus
    endpoint: str
    http_status: int
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    question: str = ""
    response: str = ""
    # The request's root span; `spans` are its children, in order.
    root: SpanRecord | None = None
    spans: list[SpanRecord] = field(default_factory=list)
    error_type: str = ""

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: dataclasses.asdict deep-copies every retrieved document and
        # took 3 ms of a 4 ms record; json.dumps reads the nested values as they are.
        values = dict(vars(self))
        values["root"] = dict(vars(self.root)) if self.root else None
        values["spans"] = [dict(vars(span)) for span in self.spans]
        return values

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RequestRecord:
        values = dict(raw)
        root = values.pop("root", None)
        spans = values.pop("spans", [])
        return cls(
            **values,
            root=SpanRecord(**root) if root else None,
            spans=[SpanRecord(**s) for s in spans],
        )


@dataclass(frozen=True)
class EvaluationJob:
    """What the evaluation worker needs to judge one answer, queued with its request record."""

    request_id: str
    question: str
    answer: str
    context: list[str]  # the retrieved passages, one item each


class SpanClock:
    """Maps perf_counter readings (precise, monotonic) to epoch nanoseconds for traces."""

    def __init__(self) -> None:
        self._epoch_ns = time.time_ns()
        self._perf = time.perf_counter()

    def to_ns(self, perf_counter_value: float) -> int:
        return self._epoch_ns + int((perf_counter_value - self._perf) * 1e9)
