"""monitoring-templates/: docker-compose.yml and Grafana's provisioning, checked without Docker.

Docker cannot run here, so what the files promise is checked as data: every file a service
mounts is in the repository, the ports are the documented ones, the services find each other
by name, and Grafana loads the dashboard from where compose puts it.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.paths import REPO
from tests.support.setting_names import setting_names

TEMPLATES = REPO / "monitoring-templates"
PROVISIONING = TEMPLATES / "grafana" / "provisioning"
PUBLISHED = {"app": 8000, "mlflow": 5000, "prometheus": 9090, "grafana": 3000}
# Named in issue 11's metric contract; not a Settings field on this branch yet.
CONTRACT_SETTINGS: set[str] = set()


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(TEMPLATES / "docker-compose.yml")


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def binds(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of each bind mount; named volumes left out."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def test_the_four_services_publish_their_ports(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == set(PUBLISHED)
    for name, port in PUBLISHED.items():
        # Loopback only: MLflow and Prometheus have no login.
        assert f"127.0.0.1:{port}:{port}" in services(compose)[name]["ports"], name


def test_every_mounted_file_is_in_the_repository(compose: dict[str, Any]) -> None:
    missing = []
    for name, service in services(compose).items():
        for source, _ in binds(service):
            path = (TEMPLATES / source).resolve()
            if not path.exists():
                missing.append(f"{name}: {source}")
    assert missing == []


def test_every_named_volume_is_declared(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, service in services(compose).items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"


def test_prometheus_reads_its_config_and_rules_where_compose_puts_them(
    compose: dict[str, Any],
) -> None:
    prometheus = services(compose)["prometheus"]
    mounted = {source: target for source, target in binds(prometheus)}
    assert mounted["./prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    # Beside the config: prometheus.yml names it as `rule_files: [alerts.yml]`.
    assert mounted["./alerts.yml"] == "/etc/prometheus/alerts.yml"
    command = prometheus["command"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in command
    assert "--storage.tsdb.path=/prometheus" in command
    assert "prometheus-data:/prometheus" in prometheus["volumes"]


def test_the_app_listens_for_the_other_containers(compose: dict[str, Any]) -> None:
    app = services(compose)["app"]
    environment = app["environment"]
    assert environment["TWINSELF_HOST"] == "0.0.0.0"
    assert environment["TWINSELF_METRICS_HOST"] == "0.0.0.0"
    assert int(environment["TWINSELF_PORT"]) == PUBLISHED["app"]
    # The shipper's and the evaluator's metric ports, reachable by Prometheus.
    assert {"9101", "9102"} <= set(app["expose"])
    tracking = urlsplit(environment["MLFLOW_TRACKING_URI"])
    assert (tracking.hostname, tracking.port) == ("mlflow", PUBLISHED["mlflow"])
    assert "--port=5000" in services(compose)["mlflow"]["command"]


def test_the_app_is_configured_only_through_real_settings(compose: dict[str, Any]) -> None:
    environment = services(compose)["app"]["environment"]
    ours = {name for name in environment if name.startswith(("TWINSELF_", "MLFLOW_"))}
    assert ours - setting_names() - CONTRACT_SETTINGS == set()


def test_mlflow_keeps_its_store_and_artifacts_in_its_volume(compose: dict[str, Any]) -> None:
    mlflow = services(compose)["mlflow"]
    volume_target = next(v.split(":")[1] for v in mlflow["volumes"] if v.startswith("mlflow-"))
    paths = {
        option.split("=", 1)[0]: option.split("=", 1)[1]
        for option in mlflow["command"]
        if option.startswith("--") and "=" in option
    }
    store = paths["--backend-store-uri"].removeprefix("sqlite:///")
    assert PurePosixPath(store).is_relative_to(volume_target)
    assert PurePosixPath(paths["--artifacts-destination"]).is_relative_to(volume_target)
    # The app calls it by its service name; MLflow 3 refuses Host headers it was not told of.
    assert "mlflow:5000" in mlflow["environment"]["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")


def test_grafana_is_provisioned_from_the_repository(compose: dict[str, Any]) -> None:
    grafana = services(compose)["grafana"]
    mounted = dict(binds(grafana))
    for kind in ("datasources", "dashboards"):
        assert mounted[f"./grafana/provisioning/{kind}"] == f"/etc/grafana/provisioning/{kind}"
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].endswith(":-change-me}")


def test_the_dashboard_provider_reads_the_folder_the_json_is_mounted_in(
    compose: dict[str, Any],
) -> None:
    (provider,) = load(PROVISIONING / "dashboards" / "twinself.yml")["providers"]
    assert provider["type"] == "file"
    mounted = dict(binds(services(compose)["grafana"]))
    target = PurePosixPath(mounted["./twinself_dashboard.json"])
    assert target.suffix == ".json"  # the file provider loads *.json
    assert PurePosixPath(provider["options"]["path"]) == target.parent


def test_the_datasource_is_the_compose_prometheus_and_the_default(
    compose: dict[str, Any],
) -> None:
    (datasource,) = load(PROVISIONING / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["isDefault"] is True
    url = urlsplit(datasource["url"])
    assert url.hostname in services(compose)
    assert url.port == PUBLISHED[url.hostname]
    # The dashboard picks a data source by this type through its variable, not by a uid.
    dashboard = (TEMPLATES / "twinself_dashboard.json").read_text(encoding="utf-8")
    assert '"query": "prometheus"' in dashboard


def test_prometheus_scrapes_the_apps_ports_by_service_name(compose: dict[str, Any]) -> None:
    config_file = TEMPLATES / "prometheus.yml"
    app = services(compose)["app"]
    reachable = {f"app:{port}" for port in (PUBLISHED["app"], *map(int, app["expose"]))}
    targets = {
        target
        for job in load(config_file)["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert reachable - targets == set(), f"{targets} miss the app's ports inside compose"
