"""Checks on an input before any reader (pyarrow, DuckDB, Python's `json`) sees it.

Each one turns input that would otherwise hang, crash or overflow a reader into a `RecordError`
(one line, exit 2 in the CLI):

- **regular files only** (`check_file`): a FIFO, a device such as ``/dev/zero`` or a socket never
  ends, and hashing or reading it hangs; a symlink loop is refused by name.
- **nesting depth** (`MAX_DEPTH`): pyarrow's JSON reader recurses per level and segfaulted at
  100,000 levels; Python's `json` raises `RecursionError` near 1,000. No rollout record needs more
  than a few levels, so anything deeper than `MAX_DEPTH` is refused before parsing.
- **record size** (`MAX_RECORD_BYTES`): one JSON line larger than this is refused instead of being
  buffered whole in memory.

The limits are stated in the README ("Input limits").
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np

from rlaudit.records import RecordError

MAX_DEPTH = 64
"""Deepest JSON nesting (objects and arrays) accepted in one record."""
MAX_RECORD_BYTES = 256 << 20
"""Longest JSON line (one record) accepted, in bytes."""


def check_file(path: Path) -> int:
    """The size of `path` if it is a regular file (following symlinks); else a `RecordError`.

    Called before a file is opened, hashed or format-sniffed, so nothing blocks on it.
    """
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RecordError(f"{path}: symbolic link loop") from None
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise RecordError(f"{path}: no such file or directory") from None
        raise RecordError(f"{path}: cannot read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise RecordError(f"{path}: not a regular file ({_kind(st.st_mode)}); rlaudit reads log files only")
    return st.st_size


def check_tree(path: Path) -> None:
    """`check_file` for `path`, or, for a folder, for every entry of it and of its direct subfolders
    (where the formats look: ``completions/``, ``checkpoint-N/``) that is not itself a folder."""
    try:
        st = os.stat(path)
    except OSError:
        check_file(path)  # raises with the reason
        return
    if not stat.S_ISDIR(st.st_mode):
        check_file(path)
        return
    for entry in _entries(path):
        if entry.is_dir():
            for sub in _entries(entry):
                if not sub.is_dir() and not sub.name.startswith("."):
                    check_file(sub)
        elif not entry.name.startswith("."):
            check_file(entry)


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        raise RecordError(f"{folder}: cannot list ({e.strerror})") from None


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a plain file"


def opens_per_line(data: bytes) -> int:
    """The most opening brackets (`[` or `{`, in strings or not) on any one line of `data`: a coarser
    upper bound on its nesting depth than `depth_bound`, at a fraction of its cost. A rollout record
    opens a few brackets, so this settles almost every block and `depth_bound` runs only on a block
    where some line opens more than the limit. `bytes.translate` drops every other byte in one C pass
    (a few bytes per record are left), half the CPU of numpy's three byte compares over the block."""
    brackets = data.translate(None, _NOT_OPEN_OR_BREAK)
    return max(map(len, brackets.split(b"\n")))


_NOT_OPEN_OR_BREAK = bytes(sorted(set(range(256)) - set(b"[{\n")))


def depth_bound(data: bytes) -> int:
    """An upper bound on the JSON nesting depth of any line of `data`, in a few numpy passes.

    Brackets inside strings are left out (a `"]"` in a string must not hide real nesting): a quote
    counts unless an odd run of backslashes precedes it, and a string ends at a line break at the
    latest (JSON has none raw inside strings), so a broken line cannot hide the lines after it. What
    is left can only overcount (callers confirm a high bound with `exact_depth`). Only the bracket and
    quote bytes are summed, a few per record.
    """
    b = np.frombuffer(data, dtype=np.uint8)
    opens = (b == ord("[")) | (b == ord("{"))
    at = np.flatnonzero(opens | (b == ord("]")) | (b == ord("}")))
    if at.size == 0:
        return 0
    quotes = np.flatnonzero(b == ord('"'))
    if quotes.size:
        quotes = quotes[_unescaped(b, quotes)]
        breaks = np.concatenate([[-1], np.flatnonzero(b == ord("\n"))])  # -1: the first line's "break"
        line_begin = breaks[np.searchsorted(breaks, at) - 1]  # the break before each bracket
        before_line = np.searchsorted(quotes, line_begin)
        in_string = (np.searchsorted(quotes, at) - before_line) % 2 == 1
        at = at[~in_string]
        if at.size == 0:
            return 0
    levels = np.cumsum(np.where(opens[at], 1, -1), dtype=np.int64)
    lows = np.minimum.accumulate(np.minimum(levels, 0))  # a line can start deeper than it ends
    return int((levels - lows).max())


def _unescaped(b: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    """Which of the `quotes` positions are not escaped (an even run of backslashes before them)."""
    run = np.zeros(quotes.size, dtype=np.int64)
    live = np.ones(quotes.size, dtype=bool)
    k = 1
    while live.any():  # as many rounds as the longest backslash run before a quote
        pos = quotes - k
        live &= pos >= 0
        live[live] = b[pos[live]] == ord("\\")
        run += live
        k += 1
    return run % 2 == 0


def exact_depth(text: str) -> int:
    """The deepest nesting of a JSON text, brackets inside strings not counted (a plain scan, for the
    rare line whose `depth_bound` is over the limit)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def check_line(line: str, raw: bytes, where: str) -> None:
    """A `RecordError` naming `where` (file and line) for a record too long or too deeply nested."""
    if len(raw) > MAX_RECORD_BYTES:
        raise RecordError(f"{where}: record of {len(raw)} bytes is over the limit of {MAX_RECORD_BYTES}")
    if depth_bound(raw) > MAX_DEPTH and exact_depth(line) > MAX_DEPTH:
        raise RecordError(f"{where}: nested more than {MAX_DEPTH} levels deep (the limit)")
