"""The shipper process's metrics, served on a port of its own (`worker_metrics.serve_metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from twinself.pipeline.shipper import ShipErrorKind


class ShipperMetrics:
    """What the shipper tells: implements its `ShipperObserver`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.runs_shipped_total = Counter(
            "twinself_mlflow_runs_shipped",
            "Requests shipped to MLflow as a run and a trace.",
            registry=registry,
        )
        self.ship_errors = Counter(
            "twinself_mlflow_ship_errors",
            "Shipping failures: unavailable (a pass cut short, MLflow unreachable or failing) "
            "or rejected (MLflow refused one row; retried, then given up).",
            ["kind"],
            registry=registry,
        )
        for kind in ("unavailable", "rejected"):
            self.ship_errors.labels(kind)  # both series exist from the start, at 0
        self.reachable = Gauge(
            "twinself_mlflow_reachable",
            "1 when the last pass that called MLflow reached it, 0 after an outage.",
            registry=registry,
        )

    def runs_shipped(self, count: int) -> None:
        self.runs_shipped_total.inc(count)

    def ship_failed(self, kind: ShipErrorKind) -> None:
        self.ship_errors.labels(kind).inc()

    def mlflow_reached(self, reachable: bool) -> None:
        self.reachable.set(1 if reachable else 0)
