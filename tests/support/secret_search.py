"""Search what a twin left behind for secrets: files as raw bytes, every row of every SQLite
table, HTTP responses and logs. A leak is a whole secret or any long enough piece of one.

Secrets and markers are searched the same way, so a test can prove the search reaches a place
(a marker it planted there is found) before it trusts "no secret was found there".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# A piece of a secret this long is a leak: long enough never to occur by chance, short enough
# to catch a key that was cut ("sk-...last12") or partly masked.
FRAGMENT_CHARS = 12


@dataclass(frozen=True)
class Haystack:
    where: str  # says what to open to see the leak: a file, a table row, a response
    data: bytes


@dataclass
class Searched:
    """What was searched, for the report: a search that read nothing proves nothing."""

    files: int = 0
    file_bytes: int = 0
    tables: int = 0
    rows: int = 0
    texts: int = 0  # responses and log streams
    text_bytes: int = 0
    databases: list[str] = field(default_factory=list)


def needles(secrets: Mapping[str, str]) -> dict[bytes, str]:
    """Each secret and every FRAGMENT_CHARS-long piece of it, lower-cased, named after its
    secret. Secrets must be long and random enough that their pieces occur nowhere else."""
    found: dict[bytes, str] = {}
    for name, value in secrets.items():
        assert len(value) >= 2 * FRAGMENT_CHARS, f"{name} is too short to search in pieces"
        lowered = value.lower().encode()
        found[lowered] = name
        for start in range(len(lowered) - FRAGMENT_CHARS + 1):
            found.setdefault(lowered[start : start + FRAGMENT_CHARS], f"{name} (a piece)")
    return found


def matches(haystacks: Iterable[Haystack], secrets: Mapping[str, str]) -> list[str]:
    """'where: which secret' for every haystack holding a secret or a piece of one
    (case-insensitive: a key upper-cased in a header or an error is still a leak)."""
    pieces = needles(secrets)
    found = []
    for haystack in haystacks:
        data = haystack.data.lower()
        names = {name for piece, name in pieces.items() if piece in data}
        # A whole secret is reported once, not again for each of its pieces.
        names -= {f"{name} (a piece)" for name in names}
        found += [f"{haystack.where}: {name}" for name in sorted(names)]
    return found


def file_haystacks(root: Path, searched: Searched) -> Iterator[Haystack]:
    """Every regular file under `root`, as bytes (databases, WAL files, mmapped metrics too)."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            searched.files += 1
            searched.file_bytes += len(data)
            yield Haystack(f"file {path.relative_to(root)}", data)


def sqlite_haystacks(database: Path, searched: Searched) -> Iterator[Haystack]:
    """Every row of every table, each column as text or bytes (read-only, WAL included)."""
    searched.databases.append(database.name)
    uri = f"{database.as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as db:
        tables = [
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for table in tables:
            searched.tables += 1
            cursor = db.execute(f'SELECT * FROM "{table}"')  # names read from the db itself
            columns = [d[0] for d in cursor.description]
            for number, row in enumerate(cursor):
                searched.rows += 1
                for column, value in zip(columns, row, strict=True):
                    data = value.encode() if isinstance(value, str) else value
                    if isinstance(data, bytes):
                        where = f"row {database.name}:{table}#{number}.{column}"
                        yield Haystack(where, data)


def text_haystack(where: str, text: str | bytes, searched: Searched) -> Haystack:
    data = text.encode() if isinstance(text, str) else text
    searched.texts += 1
    searched.text_bytes += len(data)
    return Haystack(where, data)


def response_haystack(response: httpx.Response, searched: Searched) -> Haystack:
    """A response's status line, every header and the whole body."""
    request = response.request
    head = "\n".join(f"{name}: {value}" for name, value in response.headers.multi_items())
    where = f"response {request.method} {request.url.path} {response.status_code}"
    return text_haystack(where, f"{head}\n\n".encode() + response.content, searched)
