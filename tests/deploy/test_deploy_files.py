"""deploy/: the replicated topology's files, checked as far as this machine can without Docker.

The real tools check their own files (`haproxy -c`, `promtool check config` on the layout the
compose file mounts, `mlflow server --help` for the flags it is given); the compose file is
checked as data: what it mounts exists, every replica has its own home and the one shared
version registry, monitoring-templates/ is mounted rather than copied, and every value it
requires is in the example env file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.responses import JSONResponse

from tests.support.paths import REPO
from tests.support.setting_names import setting_names
from tests.support.system_tools import require_tool
from twinself.config.settings import Settings

DEPLOY = REPO / "deploy"
TEMPLATES = REPO / "monitoring-templates"
HOME = "/data"  # TWINSELF_HOME in deploy/Dockerfile
_VARIABLE = re.compile(r"\$\{(\w+)(:?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def replicas(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services the load balancer and Prometheus find as `app`."""
    found = {}
    for name, service in services(compose).items():
        networks = service.get("networks")
        if isinstance(networks, dict) and "app" in networks["twinself"].get("aliases", []):
            found[name] = service
    return found


def with_defaults(text: str) -> str:
    """`${NAME:-default}` as docker compose reads it when NAME is unset."""

    def value(match: re.Match[str]) -> str:
        rest = match.group(2) or ""
        return rest[2:] if rest.startswith(":-") else ""

    return _VARIABLE.sub(value, text)


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for volume in service.get("volumes", []):
        source, target = with_defaults(volume).split(":")[:2]
        found.append((source, target))
    return found


def env_file_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip().removeprefix("# ")
        if re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", line):
            names.add(line.split("=", 1)[0])
    return names


def test_every_mounted_file_is_in_the_repository(compose: dict[str, Any]) -> None:
    missing = [
        f"{name}: {source}"
        for name, service in services(compose).items()
        for source, _ in mounts(service)
        if source.startswith(".") and not (DEPLOY / source).exists()
    ]
    assert missing == []
    for name in ("builder", "mlflow", "mlflow-init", *replicas(compose)):
        build = services(compose)[name]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).is_file(), name


def test_each_replica_has_its_own_home_and_the_one_shared_version_registry(
    compose: dict[str, Any],
) -> None:
    found = replicas(compose)
    assert len(found) >= 2, found
    homes = []
    for name, service in {**found, "builder": services(compose)["builder"]}.items():
        volumes = dict((target, source) for source, target in mounts(service))
        homes.append(volumes[HOME])
        assert volumes[f"{HOME}/versions"] == "versions", name
        env = service["environment"]
        assert env["QDRANT_URL"] == "http://qdrant:6333" and "qdrant" in services(compose)
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert len(set(homes)) == len(homes), homes  # an outbox is never shared
    declared = set(compose["volumes"])
    assert {"versions", *homes} <= declared
    for service in found.values():
        env = service["environment"]
        assert env["TWINSELF_METRICS_HOST"] == "0.0.0.0"  # Prometheus scrapes the workers
        balancer = services(compose)["loadbalancer"]["networks"]["twinself"]["ipv4_address"]
        assert env["TWINSELF_TRUSTED_PROXIES"] == balancer


def test_the_twin_settings_named_are_twinselfs(compose: dict[str, Any]) -> None:
    known = setting_names()
    named = set(env_file_names(DEPLOY / "twinself.env.example"))
    for service in replicas(compose).values():
        named |= set(service["environment"])
    assert named - known == set()


def test_every_required_value_is_in_the_env_example(compose: dict[str, Any]) -> None:
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    used = {m.group(1) for m in _VARIABLE.finditer(text)}
    required = {m.group(1) for m in _VARIABLE.finditer(text) if (m.group(2) or "")[:2] == ":?"}
    example = env_file_names(DEPLOY / ".env.example")
    assert required <= example, required - example
    assert example <= used, example - used  # nothing documented that nothing reads


def test_monitoring_templates_are_mounted_not_copied(compose: dict[str, Any]) -> None:
    grafana = {source for source, _ in mounts(services(compose)["grafana"])}
    prometheus = {source for source, _ in mounts(services(compose)["prometheus"])}
    assert "../monitoring-templates/alerts.yml" in prometheus
    assert "../monitoring-templates/twinself_dashboard.json" in grafana
    templates = {p.read_bytes() for p in TEMPLATES.rglob("*") if p.is_file()}
    copies = [p for p in DEPLOY.rglob("*") if p.is_file() and p.read_bytes() in templates]
    assert copies == []
    # One Prometheus and one Grafana version for both layouts.
    single = yaml.safe_load((TEMPLATES / "docker-compose.yml").read_text(encoding="utf-8"))
    for name in ("prometheus", "grafana"):
        assert services(compose)[name]["image"] == single["services"][name]["image"]


def test_the_image_installs_the_torch_the_makefile_does() -> None:
    makefile = re.search(r"^TORCH_SPEC \?= (\S+)$", (REPO / "Makefile").read_text(), re.M)
    dockerfile = re.search(r"^ARG TORCH_SPEC=(\S+)$", (DEPLOY / "Dockerfile").read_text(), re.M)
    assert makefile and dockerfile and makefile.group(1) == dockerfile.group(1)


def test_haproxy_accepts_its_config_and_takes_out_a_replica_without_memory() -> None:
    config = DEPLOY / "haproxy" / "haproxy.cfg"
    done = subprocess.run(
        [require_tool("haproxy", "haproxy"), "-c", "-f", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The health check's pattern, against /health's body as the API renders it.
    [pattern] = re.findall(r"http-check expect ! rstring (\S+)", config.read_text())
    regex = re.compile(pattern.replace('\\"', '"'))
    for memory, down in (("missing", True), ("ok", False)):
        body = JSONResponse({"status": "healthy", "memory": memory, "bot_name": "x"}).body
        assert bool(regex.search(bytes(body).decode())) is down


def test_promtool_accepts_the_scrape_config_as_the_compose_file_mounts_it(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    # The container's /etc/prometheus, rebuilt from the compose file's mounts.
    for source, target in mounts(services(compose)["prometheus"]):
        if source.startswith(".") and target.startswith("/etc/prometheus/"):
            shutil.copy(DEPLOY / source, tmp_path / Path(target).name)
    done = subprocess.run(
        [require_tool("promtool"), "check", "config", "prometheus.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "alerts.yml" in done.stdout  # the rules were found and checked too


def options(*command: str) -> set[str]:
    """The options MLflow's own CLI defines for `mlflow COMMAND...` (click, read in-process)."""
    from mlflow.cli import cli

    group: Any = cli
    for name in command:
        group = group.commands[name]
    return {option for param in group.params for option in param.opts}


def test_mlflow_takes_every_flag_the_compose_file_gives_it(compose: dict[str, Any]) -> None:
    script = " ".join(services(compose)["mlflow"]["command"][2:])
    flags = set(re.findall(r"\s(--[a-z-]+)", script))
    assert {"--backend-store-uri", "--artifacts-destination", "--workers"} <= flags
    assert flags - options("server") == set()
    assert "postgresql+psycopg://" in script  # psycopg 3, what the postgres extra installs
    init = "\n".join(services(compose)["mlflow-init"]["command"])
    for command in ("get", "create"):
        assert f"mlflow experiments {command} --experiment-name" in init
        assert "--experiment-name" in options("experiments", command)


def test_systemd_accepts_the_replica_unit(tmp_path: Path) -> None:
    unit = (DEPLOY / "systemd" / "twinself-replica.service").read_text(encoding="utf-8")
    # verify also wants the program to exist; twinself is not installed under /opt here.
    program = re.search(r"^ExecStart=(\S+)", unit, re.M)
    assert program and program.group(1) == "/opt/twinself/bin/twinself"
    copy = tmp_path / "twinself-replica.service"
    copy.write_text(unit.replace(program.group(1), shutil.which("true") or "/bin/true"))
    done = subprocess.run(
        [require_tool("systemd-analyze", "systemd"), "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # A directive it cannot parse is only a warning on stderr: that fails here too.
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_the_ports_agree_across_the_files(compose: dict[str, Any]) -> None:
    haproxy = (DEPLOY / "haproxy" / "haproxy.cfg").read_text(encoding="utf-8")
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    balancer = services(compose)["loadbalancer"]
    [published] = balancer["ports"]
    binds = re.findall(r"^\s+bind :(\d+)$", haproxy, re.M)
    assert published.rsplit(":", 1)[1] == binds[0]  # the visitors' frontend comes first
    api_port = {s["environment"]["TWINSELF_PORT"] for s in replicas(compose).values()}
    assert re.findall(r"server-template app \d+ app:(\d+)", haproxy) == list(api_port)
    fields = Settings.model_fields  # the replicas keep the workers' default ports
    scraped = {
        job["job_name"]: sd["port"]
        for job in prometheus["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        if sd["names"] == ["app"]
    }
    assert scraped == {
        "twinself-api": int(api_port.pop()),
        "twinself-shipper": fields["shipper_metrics_port"].default,
        "twinself-evaluator": fields["evaluator_metrics_port"].default,
    }
    [stats] = [j for j in prometheus["scrape_configs"] if j["job_name"] == "haproxy"]
    assert stats["static_configs"][0]["targets"] == [f"loadbalancer:{binds[1]}"]
