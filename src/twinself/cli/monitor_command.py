"""`twinself monitor`: a local Prometheus scraping this machine's twin, with the shipped alerts.

The Docker-free path of `monitoring-templates/`; Grafana stays in its docker compose.
"""

from __future__ import annotations

import os
import shutil
import sys

import typer

from twinself.cli.common import err_console, handle_errors, load_settings
from twinself.errors import ConfigurationError

INSTALL_HINT = (
    "`prometheus` is not on PATH. Install it (Debian/Ubuntu: `sudo apt install prometheus`; "
    "elsewhere the release tarball from https://prometheus.io/download/, with `prometheus` "
    "put on PATH), or run Prometheus and Grafana with docker compose: "
    "`cd monitoring-templates && docker compose up -d`."
)


def monitor(
    port: int = typer.Option(9090, min=1, max=65535, help="Port of Prometheus (127.0.0.1)."),
    print_config: bool = typer.Option(
        False, "--print-config", help="Print the generated prometheus.yml and exit."
    ),
) -> None:
    """Run Prometheus on 127.0.0.1 scraping the API, the shipper and the evaluator on this
    machine (ports from TWINSELF_PORT and the workers' metrics ports), with the alert rules
    of monitoring-templates/alerts.yml. Data stays in TWINSELF_HOME/prometheus. Ctrl-C stops it.

    Example:
        twinself serve &          # the twin and its workers
        twinself monitor          # then open http://127.0.0.1:9090/alerts
        twinself monitor --print-config > prometheus.yml
    """
    # Loads PyYAML: imported here to keep `twinself --help` fast.
    from twinself.monitoring.prometheus_config import render_native_config

    settings = load_settings()
    config = render_native_config(settings, port)
    if print_config:
        typer.echo(config, nl=False)
        return
    binary = shutil.which("prometheus")
    if binary is None:
        raise ConfigurationError(INSTALL_HINT)
    folder = settings.home / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    config_file = folder / "prometheus.yml"
    config_file.write_text(config, encoding="utf-8")
    url = f"http://127.0.0.1:{port}"
    err_console.print(
        f"Prometheus UI {url} (targets {url}/targets, alerts {url}/alerts); config {config_file}",
        highlight=False,
        soft_wrap=True,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # Prometheus takes this process's place: Ctrl-C and SIGTERM reach it directly, and its
    # exit status is the command's.
    os.execv(
        binary,
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={folder / 'data'}",
            # The dashboard's "Spend this month" needs a month; Prometheus keeps 15 days.
            "--storage.tsdb.retention.time=45d",
            f"--web.listen-address=127.0.0.1:{port}",
            # Keeps the trace ids the API attaches to its GenAI durations (OpenMetrics exemplars).
            "--enable-feature=exemplar-storage",
        ],
    )


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(monitor))
