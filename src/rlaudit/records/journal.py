"""The store's commit journal: an ingest's data and its ledger entries commit together.

Publishing a batch takes several steps: rename each staged part out of ``.staging/``, then replace
``sources.json`` with one that lists the batch. A process killed between the two (SIGKILL,
pre-emption, the OOM killer) used to leave rows that no ledger entry claimed, and re-running the same
ingest stored the whole input again (issue 15: 200,000 rows for 100,000).

So a publish first writes its intent, ``store/commit.json``, in one atomic step (temp file + rename):
every (staged path, final path) with the ledger records that the move carries. Then it makes the
moves, rewrites the ledger, and removes the journal. Whoever next takes the store's lock
(`RolloutStore` on open, or the next writer) finds a journal left behind and rolls it forward: the
moves not yet made are made, the records not yet listed are listed. Every step of that is idempotent,
so a kill during recovery is recovered the same way. A kill before the journal exists leaves only
staging debris, which nothing lists and the next open removes.

What this covers is the death of the writing process; the files are not fsync'ed, so a power cut or a
kernel crash can still lose the last ingest (the operating system keeps written data when a process
dies, however it dies).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JOURNAL_NAME = "commit.json"
"""The journal's file name inside the store folder."""
JOURNAL_VERSION = 1


@dataclass(frozen=True)
class Move:
    """One staged file or folder to rename into place, and the ledger records whose rows it holds."""

    staged: Path
    final: Path
    records: tuple[dict[str, Any], ...] = ()


def journal_path(store: Path) -> Path:
    return store / JOURNAL_NAME


def begin(store: Path, moves: list[Move]) -> None:
    """Write the intent to publish `moves`, atomically: after this, the publish happens even if the
    process dies (recovery rolls it forward)."""
    doc = {
        "version": JOURNAL_VERSION,
        "moves": [
            {
                # Relative to the store, so a store moved or mounted elsewhere still recovers.
                "staged": str(m.staged.relative_to(store)),
                "final": str(m.final.relative_to(store)),
                "records": list(m.records),
            }
            for m in moves
        ],
    }
    tmp = store / f"{JOURNAL_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, journal_path(store))


def pending(store: Path) -> list[Move] | None:
    """The moves of a publish that a killed process left unfinished, or None when there is none.

    A journal is only ever written whole (temp file + rename), so one that does not parse was not
    written by rlaudit: that is an error for the user to look at, not something to guess around.
    """
    path = journal_path(store)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(text)
        return [Move(store / m["staged"], store / m["final"], tuple(m["records"])) for m in doc["moves"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: unreadable commit journal ({e}); move it away to open the store") from None


def apply_moves(moves: list[Move]) -> list[dict[str, Any]]:
    """Make every move not made yet; returns the records of the moves whose data is in place.

    Idempotent: a move already made (its staged path gone, its final path there) is skipped. A move
    whose data is in neither place cannot be published, and its records are left out, so the ledger
    never claims rows the store does not hold (re-running that ingest then stores them).
    """
    landed: list[dict[str, Any]] = []
    for m in moves:
        if m.staged.exists():
            m.final.parent.mkdir(exist_ok=True)
            os.replace(m.staged, m.final)
        if m.final.exists():
            landed.extend(m.records)
    return landed


def end(store: Path) -> None:
    """The publish is complete: drop the journal."""
    journal_path(store).unlink(missing_ok=True)


def leftover_temp_files(store: Path) -> list[Path]:
    """Temp files of a journal or ledger write that a kill interrupted (never read; safe to remove)."""
    return [*store.glob(f"{JOURNAL_NAME}.*.tmp"), *store.glob("sources.json.*.tmp")]
