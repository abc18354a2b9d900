"""The judge's reply cache: one sqlite file, keyed by (judge model, rubric version, prompt hash).

Re-running the monitor over the same rollouts with the same judge asks nothing twice: every reply the
judge gave (scored or not: with a deterministic judge a malformed reply would come back malformed) is
stored; a request that failed (timeout, server error, dead server) is not, so a re-run tries it again.
Keys and replies go into SQL only as bound parameters. Several processes may share a file: sqlite
serialises the writers (WAL journal, a busy timeout).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

CACHE_FILE = "judge_cache.sqlite"
"""The cache's file name inside a store directory (`rlaudit monitor --store DIR --judge-...`)."""
BUSY_TIMEOUT_S = 30.0
"""How long a writer waits for another process's write to finish."""


class ReplyCache:
    """`get_many(model, rubric, hashes) -> {hash: reply}` and `put_many(model, rubric, {hash: reply})`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
        with self._con:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS replies (model TEXT NOT NULL, rubric TEXT NOT NULL, "
                "prompt_hash TEXT NOT NULL, reply TEXT NOT NULL, created REAL NOT NULL, "
                "PRIMARY KEY (model, rubric, prompt_hash))"
            )

    def get_many(self, model: str, rubric: str, hashes: Iterable[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for h in set(hashes):
            row = self._con.execute(
                "SELECT reply FROM replies WHERE model = ? AND rubric = ? AND prompt_hash = ?",
                (model, rubric, h),
            ).fetchone()
            if row is not None:
                out[h] = str(row[0])
        return out

    def put_many(self, model: str, rubric: str, replies: dict[str, str]) -> None:
        now = time.time()
        with self._con:
            self._con.executemany(
                "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?)",
                [(model, rubric, h, reply, now) for h, reply in replies.items()],
            )

    def close(self) -> None:
        self._con.close()
