"""What the store was built from: per-file hashes and the settings that shaped the chunks.

Written atomically (temporary file, fsync, rename) only after the store accepted every change,
so a crash mid-build leaves the old manifest and the next build redoes the work.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from twinself.errors import TwinselfError
from twinself.memory.documents import MemoryType

MANIFEST_FORMAT = 1
# Bumped whenever what is stored per chunk changes, so old stores are rebuilt, not misread.
STORE_LAYOUT = "multivector-paragraphs-1"


@dataclass(frozen=True)
class FileRecord:
    hash: str
    chunks: int


@dataclass(frozen=True)
class BuildSettings:
    """Settings whose change invalidates every stored chunk."""

    embedding_model: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    collection_prefix: str
    store_layout: str = STORE_LAYOUT


@dataclass
class Manifest:
    build: BuildSettings
    files: dict[MemoryType, dict[str, FileRecord]] = field(default_factory=dict)
    built_at: str = ""

    def files_of(self, memory: MemoryType) -> dict[str, FileRecord]:
        return self.files.get(memory, {})

    def chunk_count(self, memory: MemoryType) -> int:
        return sum(r.chunks for r in self.files_of(memory).values())


class ManifestCorrupt(TwinselfError):
    """The file hashes of a built memory cannot be read; a rebuild rewrites them."""


def load_manifest(path: Path) -> Manifest | None:
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != MANIFEST_FORMAT:
            # Caught below with the other unreadable cases, so the message names the file.
            raise ValueError(f"unknown manifest format {raw.get('format')!r}")
        return Manifest(
            # A manifest from before store layouts were recorded describes an older layout.
            build=BuildSettings(**{"store_layout": "", **raw["build"]}),
            files={
                MemoryType(memory): {name: FileRecord(**rec) for name, rec in records.items()}
                for memory, records in raw["files"].items()
            },
            built_at=str(raw.get("built_at", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestCorrupt(
            f"{path} is unreadable ({exc}); `twinself rebuild --force` rebuilds the memory and "
            "rewrites it."
        ) from exc


def save_manifest(path: Path, manifest: Manifest) -> None:
    payload = {
        "format": MANIFEST_FORMAT,
        "built_at": manifest.built_at,
        "build": asdict(manifest.build),
        "files": {
            memory.value: {name: asdict(rec) for name, rec in sorted(records.items())}
            for memory, records in manifest.files.items()
        },
    }
    write_json_atomically(path, payload)


def write_json_atomically(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def data_version(manifest: Manifest | None) -> str:
    """A short stable name for what the store holds: the same files give the same version."""
    if manifest is None:
        return "unbuilt"
    digest = hashlib.sha256()
    for memory in sorted(manifest.files, key=str):
        for name, record in sorted(manifest.files[memory].items()):
            digest.update(f"{memory}/{name}:{record.hash}\n".encode())
    return f"data-{digest.hexdigest()[:10]}"
