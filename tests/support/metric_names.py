"""Every series name twinself exports, read from the real metric objects, not written down:
a dashboard panel or an alert that names anything else would never see data."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from twinself.monitoring.metrics import TwinMetrics
from twinself.monitoring.outbox_metrics import OutboxCollector
from twinself.monitoring.shipper_metrics import ShipperMetrics
from twinself.monitoring.worker_metrics import EvaluatorMetrics
from twinself.pipeline.evaluation_queue import EvaluationQueue
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.outbox import build_outbox
from twinself.pipeline.request_queue import RequestQueue

# How Prometheus names the series of each kind of metric family.
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
}


def exported_series(home: Path) -> set[str]:
    """The series of the API (with its outbox gauges, on an outbox in `home`), the shipper
    and the evaluator."""
    api = TwinMetrics(CollectorRegistry())
    outbox = build_outbox(home)
    try:
        queues = RequestQueue(outbox), FeedbackQueue(outbox), EvaluationQueue(outbox)
        api.registry.register(OutboxCollector(*queues))
        registries = [
            api.registry,
            ShipperMetrics(CollectorRegistry()).registry,
            EvaluatorMetrics(CollectorRegistry()).registry,
        ]
        return {
            family.name + suffix
            for registry in registries
            for family in registry.collect()
            for suffix in _SUFFIXES[family.type]
        }
    finally:
        outbox.close()


_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
_NOT_NAMES = (
    re.compile(r'"(?:[^"\\]|\\.)*"' r"|'(?:[^'\\]|\\.)*'"),  # strings
    re.compile(r"\{[^}]*\}"),  # label matchers
    re.compile(r"\[[^\]]*\]"),  # ranges
    re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"),
    re.compile(r"\boffset\s+\d+[smhdwy]"),
)
_IDENTIFIER = re.compile(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """The series an expression selects: identifiers that are not functions, keywords,
    label names or numbers."""
    for pattern in _NOT_NAMES:
        expr = pattern.sub(" ", expr)
    return {name for name in _IDENTIFIER.findall(expr) if name.lower() not in _KEYWORDS}
