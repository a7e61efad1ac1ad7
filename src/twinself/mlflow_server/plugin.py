"""`mlflow server --app-name twinself`: MLflow's own server plus the legacy endpoint that
TwinSelf's troubleshooting docs use (`GET /api/2.0/mlflow/experiments/list`, removed in
MLflow 2), so `curl http://localhost:5000/api/2.0/mlflow/experiments/list` still answers.

Loaded by MLflow through the `mlflow.app` entry point; runs only inside the MLflow server.
"""

from __future__ import annotations

import json
from typing import Any

LEGACY_LIST_ROUTE = "/api/2.0/mlflow/experiments/list"


def _list_experiments() -> Any:
    from flask import Response
    from google.protobuf.json_format import MessageToDict
    from mlflow.server.handlers import _get_tracking_store

    store = _get_tracking_store()
    experiments = store.search_experiments(max_results=1000)  # type: ignore[no-untyped-call]
    payload = {
        "experiments": [
            MessageToDict(e.to_proto(), preserving_proto_field_name=True) for e in experiments
        ]
    }
    return Response(json.dumps(payload), mimetype="application/json")


def create_app() -> Any:
    from mlflow.server import app as flask_app

    if LEGACY_LIST_ROUTE not in {rule.rule for rule in flask_app.url_map.iter_rules()}:
        flask_app.add_url_rule(
            LEGACY_LIST_ROUTE, "twinself_list_experiments", _list_experiments, methods=["GET"]
        )
    from mlflow.server.fastapi_app import create_fastapi_app

    return create_fastapi_app(flask_app)
