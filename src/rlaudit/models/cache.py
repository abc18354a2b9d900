"""rlaudit's model cache: where it is (`user_cache_dir`), and how a directory gets into it
(`publish_directory`): whole or not at all, even with two processes racing to build the same one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def user_cache_dir() -> Path:
    """rlaudit's cache root: ``$RLAUDIT_CACHE`` if set, else ``$XDG_CACHE_HOME/rlaudit`` (``~/.cache/rlaudit``)."""
    if env := os.environ.get("RLAUDIT_CACHE"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser() / "rlaudit"


def publish_directory(
    final: Path, write: Callable[[Path], None], *, marker: str, what: str, redo: str
) -> Path:
    """Make `final` by `write(tmp)` into a temporary sibling directory renamed into place; returns `final`.

    The rename is one step, so a crash never leaves a half-written directory where a complete one is
    expected (the temporary one is removed on any error). `marker` is the file that `write` writes last
    and that tells a complete directory: when another process renamed its copy into place first (the
    rename onto a non-empty directory fails), that copy is used if it has one; if it has none, a
    RuntimeError says that `final`, which is not `what`, should be deleted to `redo`.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        write(tmp)
        try:
            tmp.rename(final)
        except OSError:
            if not (final / marker).is_file():
                raise RuntimeError(
                    f"{final} exists but is not {what} (no {marker}); delete it and call again to {redo}"
                ) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
