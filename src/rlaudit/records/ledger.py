"""What a store has ingested: `sources.json`, one `SourceRecord` per input, identified by content so
re-ingesting the same bytes is a no-op (`RolloutStore.plan`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1
"""Version of ``sources.json``."""


@dataclass
class SourceRecord:
    """One ingested input: identified by content so re-ingesting it is a no-op."""

    id: str  # the directory under rollouts/ (or the metrics file) its rows are in
    path: str
    format: str
    bytes: int
    sha256: str  # of the first `bytes` bytes of the file
    rows: int


def file_sha256(path: Path, n_bytes: int | None = None) -> str:
    """SHA-256 of the file, or of its first `n_bytes` bytes."""
    h = hashlib.sha256()
    left = n_bytes if n_bytes is not None else -1
    with open(path, "rb") as f:
        while left != 0:
            chunk = f.read(1 << 20 if left < 0 else min(1 << 20, left))
            if not chunk:
                break
            h.update(chunk)
            if left > 0:
                left -= len(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Ledger:
    """`sources.json` as read, with lookups by content and by path (a folder's files are each looked up)."""

    key: tuple[int, int, int] | None
    sources: tuple[SourceRecord, ...]
    contents: frozenset[tuple[str, int]]
    by_path: dict[str, list[SourceRecord]]

    @classmethod
    def of(cls, sources: list[SourceRecord], key: tuple[int, int, int] | None) -> Ledger:
        by_path: dict[str, list[SourceRecord]] = {}
        for s in sources:
            by_path.setdefault(s.path, []).append(s)
        return cls(key, tuple(sources), frozenset((s.sha256, s.bytes) for s in sources), by_path)
