"""One writer per store: an OS-level lock (`filelock`, ``fcntl.flock`` on POSIX) on ``store/.lock``.

Two ``rlaudit monitor --store SAME`` processes used to read-modify-write ``sources.json`` at once and
lose each other's entries (issue 15). The lock is held for a whole ingest; the OS drops it when the
holder dies, even by SIGKILL, so a killed run never leaves the store locked. The holder's PID is
written beside the lock (``.lock.pid``) only to name it in the error the next writer gets.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from rlaudit.records.schema import RecordError

LOCK_TIMEOUT_S = 60.0
"""How long a second writer waits for the first before giving up (bad input: exit 2)."""


class StoreBusy(RecordError):
    """Another process is writing to the store (the CLI reports it as bad input, exit 2)."""


@contextlib.contextmanager
def store_lock(folder: Path, *, timeout: float | None = None) -> Iterator[None]:
    """Hold the store's write lock; `StoreBusy` naming the holder's PID after `timeout` seconds
    (default `LOCK_TIMEOUT_S`, read at each call so tests and embedders can change it)."""
    lock = FileLock(folder / ".lock", timeout=LOCK_TIMEOUT_S if timeout is None else timeout)
    pid_file = folder / ".lock.pid"
    try:
        lock.acquire()
    except Timeout:
        raise StoreBusy(
            f"store {folder} is in use by PID {_holder(pid_file)} (another rlaudit writing to it); "
            "wait for it to finish or use another --store"
        ) from None
    try:
        pid_file.write_text(str(os.getpid()))
        yield
    finally:
        with contextlib.suppress(OSError):
            pid_file.unlink()
        lock.release()


def try_store_lock(folder: Path) -> FileLock | None:
    """The store's lock if no one holds it now (for housekeeping that must not race a writer), else None."""
    lock = FileLock(folder / ".lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return None
    return lock


def _holder(pid_file: Path) -> str:
    try:
        return pid_file.read_text().strip() or "?"
    except OSError:
        return "?"
