"""How many requests per second reach MLflow, each as one run with its trace? Side by side in
one run: MLflow on SQLite and on PostgreSQL (1 and 2 server workers), each with the shipper as
it was (one record at a time: five calls each) and as it is (a batch's spans in one call,
several worker threads with leased batches), and the shipper writing to PostgreSQL itself.

For each row: runs/s, MLflow REST calls per record, and CPU per record of the MLflow server,
of PostgreSQL and of this process (the shipper); the load average beside it. Every row also
checks that each record became exactly one run. Target: >= 30 runs/s on PostgreSQL.

The last row runs `--workers 2` with TCP_NODELAY set on the server's sockets: uvicorn's
multi-worker mode leaves Nagle on (Kludex/uvicorn#3149), so every response of a keep-alive
connection waits ~40 ms for the client's delayed ACK; that row shows what the fix buys.

    .venv/bin/python benchmarks/tracking_throughput.py [RECORDS_PER_ROW]
"""

from __future__ import annotations

import collections
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support

from tests.support.mlflow_process import MlflowServer, runs_of
from tests.support.postgres_process import PostgresServer, postgres_server
from tests.support.records import make_record
from twinself.mlflow_server.local_server import use_wal_journal
from twinself.pipeline.mlflow_sink import MlflowRunSink
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.shipper import Shipper

BATCH = 50
# Loaded by every Python process that has this directory on PYTHONPATH: the uvicorn workers.
_NODELAY_SITECUSTOMIZE = """
import asyncio.base_events, asyncio.selector_events, socket
def _set_nodelay(sock):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
asyncio.base_events._set_nodelay = asyncio.selector_events._set_nodelay = _set_nodelay
"""


class CallCounter:
    """MLflow REST calls this process makes, by path (MLflow's client uses requests)."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        original = requests.Session.request

        def counted(session: requests.Session, method: str, url: str, *a: Any, **k: Any) -> Any:
            with self._lock:
                self.calls[url.split("/", 3)[-1].split("?")[0]] += 1
            return original(session, method, url, *a, **k)

        requests.Session.request = counted  # type: ignore[method-assign]

    def total(self) -> int:
        return sum(n for path, n in self.calls.items() if "mlflow" in path or "traces" in path)


def cpu_seconds(processes: list[psutil.Process], children: bool = True) -> float:
    total = 0.0
    for process in processes:
        try:
            for p in (process, *(process.children(recursive=True) if children else ())):
                times = p.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """Our PostgreSQL's postmaster (its backends are its children); not another one's."""
    return [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if "postgres" in (p.info["name"] or "")
        and str(data_dir) in " ".join(p.info["cmdline"] or [])
    ]


@dataclass(frozen=True)
class Row:
    store: str
    server_workers: int
    shipper: str
    runs_per_second: float
    calls_per_record: float
    server_ms: float
    postgres_ms: float
    client_ms: float
    load: float


def ship_one_by_one(outbox: Outbox, sink: MlflowRunSink) -> None:
    """The shipper before batching: every record's run and trace in five calls, in turn."""
    queue = RequestQueue(outbox)
    while pending := queue.due(BATCH):
        existing = sink.find_runs([p.record for p in pending])
        for p in pending:
            known = p.run_id or existing.get(p.record.request_id)
            result = sink.ship(p.record, known, lambda run_id: None, look_up_run=False)
            queue.mark_shipped(p.record.request_id, result.run_id, result.trace_id)


def ship_batched(workers: int) -> Callable[[Outbox, MlflowRunSink], None]:
    def ship(outbox: Outbox, sink: MlflowRunSink) -> None:
        shipper = Shipper(outbox, sink, batch_size=BATCH, poll_seconds=1, workers=workers)
        shipper.drain(threading.Event())

    return ship


def measure(
    label: tuple[str, int, str],
    server: MlflowServer | str,
    ship: Callable[[Outbox, MlflowRunSink], None],
    records: int,
    counter: CallCounter,
    root: Path,
) -> Row:
    """`server` is a running MLflow server, or a database URI the shipper writes to itself."""
    store, server_workers, shipper = label
    name = f"{store}-{server_workers}-{shipper}".replace(" ", "_").replace(",", "")
    outbox = Outbox(root / f"{name}.sqlite3")
    queue = RequestQueue(outbox)
    for i in range(records):
        queue.append(make_record(i))
    uri = server if isinstance(server, str) else server.uri
    sink = MlflowRunSink(uri, name, str(root / "artifacts"))
    sink.check_connection()
    server_process = []
    if isinstance(server, MlflowServer):
        assert server._process is not None
        server_process = [psutil.Process(server._process.pid)]
    me = psutil.Process()
    counter.calls.clear()
    before = (
        cpu_seconds(server_process),
        cpu_seconds(postgres_processes(root / "postgres")),
        cpu_seconds([me], children=False),
    )
    started = time.perf_counter()
    ship(outbox, sink)
    seconds = time.perf_counter() - started
    after = (
        cpu_seconds(server_process),
        cpu_seconds(postgres_processes(root / "postgres")),
        cpu_seconds([me], children=False),
    )
    load = os.getloadavg()[0]
    calls = counter.total()
    outbox.close()
    shipped = collections.Counter(r.data.tags["request_id"] for r in runs_of(uri, name))
    assert len(shipped) == records and set(shipped.values()) == {1}, "not exactly once"
    server_ms, postgres_ms, client_ms = (
        (b - a) / records * 1000 for a, b in zip(before, after, strict=True)
    )
    return Row(
        store,
        server_workers,
        shipper,
        records / seconds,
        calls / records,
        server_ms,
        postgres_ms,
        client_ms,
        load,
    )


@contextmanager
def mlflow_server(
    root: Path, postgres: PostgresServer | None, workers: int, nodelay: bool = False
) -> Iterator[MlflowServer]:
    root.mkdir(parents=True)
    if postgres is None:
        use_wal_journal(root / "mlflow.db")  # as `twinself serve --mlflow-ui` does
    server = MlflowServer(
        root, postgres.database() if postgres is not None else None, workers=workers
    )
    saved = os.environ.get("PYTHONPATH")
    if nodelay:
        (root / "nodelay").mkdir()
        (root / "nodelay" / "sitecustomize.py").write_text(_NODELAY_SITECUSTOMIZE)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "nodelay"), saved]))
    try:
        server.start()
    finally:
        if nodelay:
            if saved is None:
                os.environ.pop("PYTHONPATH")
            else:
                os.environ["PYTHONPATH"] = saved
    try:
        yield server
    finally:
        server.stop()


def main(records: int) -> None:
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    root = Path(tempfile.mkdtemp(prefix="twinself-throughput-"))
    counter = CallCounter()
    before, after = "one by one", "batched, 2 threads"
    plan: list[tuple[str, int, bool, list[tuple[str, Callable[[Outbox, MlflowRunSink], None]]]]]
    plan = [
        ("SQLite", 1, False, [(before, ship_one_by_one), (after, ship_batched(2))]),
        ("PostgreSQL", 1, False, [(before, ship_one_by_one), (after, ship_batched(2))]),
        (
            "PostgreSQL",
            2,
            False,
            [
                (before, ship_one_by_one),
                (after, ship_batched(2)),
                ("batched, 4 threads", ship_batched(4)),
            ],
        ),
        ("PostgreSQL+nodelay", 2, True, [(before, ship_one_by_one), (after, ship_batched(2))]),
    ]
    rows: list[Row] = []
    with postgres_server() as postgres:
        for n, (store, workers, nodelay, shippers) in enumerate(plan):
            pg = None if store == "SQLite" else postgres
            with mlflow_server(root / f"mlflow-{n}", pg, workers, nodelay) as server:
                for shipper, ship in shippers:
                    row = measure((store, workers, shipper), server, ship, records, counter, root)
                    rows.append(row)
                    print_row(row, header=len(rows) == 1)
        # No REST server: the shipper writes to PostgreSQL with MLflow's own SQLAlchemy store
        # (MLFLOW_TRACKING_URI=postgresql://...); the UI's server reads the same database.
        direct = postgres.database()
        for shipper, ship in ((before, ship_one_by_one), (after, ship_batched(2))):
            row = measure(
                ("PostgreSQL, no server", 0, shipper), direct, ship, records, counter, root
            )
            rows.append(row)
            print_row(row, header=False)
    print(
        f"\n{records} records per row, {os.cpu_count()} cores; CPU per record of the MLflow "
        "server (srv), PostgreSQL (pg) and the shipper; 'ceiling' = runs/s that CPU allows on "
        "idle cores (one core at most per Python process). Target >= 30 runs/s on PostgreSQL."
    )
    best = max(r.runs_per_second for r in rows if r.store.startswith("PostgreSQL"))
    sys.exit(0 if best >= 30 else 1)


def print_row(row: Row, header: bool) -> None:
    # What the CPU allows on idle cores: all of it shared, and no Python process (a server
    # worker, the shipper) past one core, its GIL's limit.
    cores = os.cpu_count() or 1
    limits = [
        cores * 1000 / max(row.server_ms + row.postgres_ms + row.client_ms, 1e-9),
        1000 / max(row.client_ms, 1e-9),
    ]
    if row.server_workers:
        limits.append(row.server_workers * 1000 / max(row.server_ms, 1e-9))
    ceiling = min(limits)
    if header:
        print(
            f"{'store':20s} {'srv wk':>6s} {'shipper':20s} {'runs/s':>7s} {'calls/rec':>9s} "
            f"{'srv ms':>6s} {'pg ms':>6s} {'ship ms':>7s} {'ceiling':>7s} {'load':>5s}"
        )
    print(
        f"{row.store:20s} {row.server_workers:6d} {row.shipper:20s} {row.runs_per_second:7.1f} "
        f"{row.calls_per_record:9.2f} {row.server_ms:6.1f} {row.postgres_ms:6.1f} "
        f"{row.client_ms:7.1f} {ceiling:7.1f} {row.load:5.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
