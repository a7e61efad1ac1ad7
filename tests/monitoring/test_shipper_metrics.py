"""The shipper's metrics on a port of their own (what feeds them: pipeline/test_shipper.py)."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry

from tests.support.network import free_port
from twinself.monitoring.shipper_metrics import ShipperMetrics
from twinself.monitoring.worker_metrics import serve_metrics


def test_the_shipper_serves_its_metrics_on_its_own_port_and_host() -> None:
    metrics = ShipperMetrics(CollectorRegistry())
    metrics.runs_shipped(3)
    metrics.ship_failed("rejected")
    metrics.mlflow_reached(True)
    port = free_port()
    assert serve_metrics(port, metrics.registry, host="127.0.0.1")

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text

    assert "twinself_mlflow_runs_shipped_total 3.0" in text
    assert 'twinself_mlflow_ship_errors_total{kind="rejected"} 1.0' in text
    # An alert on outages has a series to read before the first one.
    assert 'twinself_mlflow_ship_errors_total{kind="unavailable"} 0.0' in text
    assert "twinself_mlflow_reachable 1.0" in text


def test_reachable_follows_the_last_pass_that_called_mlflow() -> None:
    metrics = ShipperMetrics(CollectorRegistry())
    sample = metrics.registry.get_sample_value
    metrics.mlflow_reached(True)
    metrics.mlflow_reached(False)
    assert sample("twinself_mlflow_reachable") == 0
    metrics.mlflow_reached(True)
    assert sample("twinself_mlflow_reachable") == 1
