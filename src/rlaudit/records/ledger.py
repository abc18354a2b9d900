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
    if n_bytes is None:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()  # no Python loop over the chunks
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


class StreamDigest:
    """SHA-256 of a file fed by the reader that parses it, from its first byte: a new file is read once
    for both its rows and its ledger record (hashing it on its own read it a second time; issue 13).
    The store uses it only if exactly the bytes it records were fed (`n_bytes`)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.n_bytes = 0

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)
        self.n_bytes += len(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@dataclass(frozen=True)
class Ledger:
    """`sources.json` as read, with lookups by content and by path (a folder's files are each looked up)."""

    key: tuple[int, int, int] | None
    sources: tuple[SourceRecord, ...]
    contents: frozenset[tuple[str, int]]
    by_path: dict[str, list[SourceRecord]]
    sizes: frozenset[int]
    """Byte lengths recorded: a file of another length cannot be stored already (no need to hash it)."""

    @classmethod
    def of(cls, sources: list[SourceRecord], key: tuple[int, int, int] | None) -> Ledger:
        by_path: dict[str, list[SourceRecord]] = {}
        for s in sources:
            by_path.setdefault(s.path, []).append(s)
        contents = frozenset((s.sha256, s.bytes) for s in sources)
        return cls(key, tuple(sources), contents, by_path, frozenset(s.bytes for s in sources))
