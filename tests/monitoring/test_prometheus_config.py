"""The native scrape config: the template's jobs moved to this machine, nothing else changed."""

from __future__ import annotations

from pathlib import Path

from tests.support.paths import REPO
from twinself.monitoring.prometheus_config import native_config, templates_folder

TEMPLATE = {
    "global": {"scrape_interval": "15s"},
    "rule_files": ["alerts.yml"],
    "scrape_configs": [
        {"job_name": "twinself-api", "metrics_path": "/metrics", "static_configs": [
            {"targets": ["app:8000"]}
        ]},
        {"job_name": "twinself-shipper", "static_configs": [{"targets": ["app:9101"]}]},
        {"job_name": "node", "static_configs": [{"targets": ["host:9100"]}]},
    ],
}  # fmt: skip


def test_known_jobs_move_to_loopback_and_others_stay(tmp_path: Path) -> None:
    config = native_config(TEMPLATE, {"twinself-api": 8001, "twinself-shipper": 0}, tmp_path, "::")
    assert config["global"] == {"scrape_interval": "15s"}
    assert config["scrape_configs"] == [
        {"job_name": "twinself-api", "metrics_path": "/metrics", "static_configs": [
            {"targets": ["127.0.0.1:8001"]}
        ]},
        {"job_name": "node", "static_configs": [{"targets": ["host:9100"]}]},
    ]  # fmt: skip
    assert config["rule_files"] == [str(tmp_path.resolve() / "alerts.yml")]
    assert TEMPLATE["rule_files"] == ["alerts.yml"], "the template was changed in place"


def test_an_api_bound_to_one_address_is_scraped_there(tmp_path: Path) -> None:
    ipv6 = native_config(TEMPLATE, {"twinself-api": 8000}, tmp_path, "::1")
    assert ipv6["scrape_configs"][0]["static_configs"] == [{"targets": ["[::1]:8000"]}]
    lan = native_config(TEMPLATE, {"twinself-api": 8000}, tmp_path, "192.168.1.5")
    assert lan["scrape_configs"][0]["static_configs"] == [{"targets": ["192.168.1.5:8000"]}]


def test_a_source_checkout_uses_its_own_templates() -> None:
    assert templates_folder() == REPO / "monitoring-templates"


def test_workers_are_scraped_where_they_listen(tmp_path: Path) -> None:
    ports = {"twinself-api": 8000, "twinself-shipper": 9101}
    config = native_config(TEMPLATE, ports, tmp_path, "0.0.0.0", workers_host="10.0.0.7")
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    assert targets["twinself-api"] == ["127.0.0.1:8000"]
    assert targets["twinself-shipper"] == ["10.0.0.7:9101"]
