"""Generic JSONL rollouts: one JSON object per line, fields as in `rlaudit.records.FIELDS`.

Fast path: pyarrow's streaming JSON reader (C++, block by block, constant memory). If it rejects the
file (bad JSON, a value of the wrong type, a field that appears late), a line-by-line pass finds the
exact line and field for the error message, or ingests the file itself when the only trouble was
pyarrow's block-wise schema inference.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pj

from rlaudit.ingest.limits import MAX_DEPTH, MAX_RECORD_BYTES, check_line, depth_bound, opens_per_line
from rlaudit.records import FIELDS, REQUIRED, RecordError, RolloutStore, normalize
from rlaudit.records.ledger import StreamDigest

BLOCK_BYTES = 32 << 20  # ~100k-300k rollouts per block: big enough for throughput, small for memory
FALLBACK_ROWS = 50_000

# Known scalar fields with a fixed type, so every block parses to the same schema.
_EXPLICIT = pa.schema(
    [
        pa.field(name, typ)
        for name, (typ, _, kind) in FIELDS.items()
        if kind in ("str", "float", "bool") and name != "reward"
    ]
    + [pa.field("step", pa.int64()), pa.field("reward", pa.float64())]
)


class _Fallback(Exception):
    """The fast path cannot judge this file: read it line by line."""


def ingest_jsonl(path: Path, store: RolloutStore, *, run: str | None = None) -> tuple[int, bool]:
    """Append the new part of `path` to `store`; returns (rows added, whether it was already stored).

    The fast path streams block by block into the store's staging area (constant memory). If it
    rejects the file, the staged parts are discarded (the store's append is all-or-nothing) and the
    line-by-line pass reads the file again: it either names the bad line or ingests the file.
    """
    plan = store.plan(path)
    if plan is None:
        return 0, True
    offset, rows_before = plan
    end = path.stat().st_size  # pinned: a live log that grows meanwhile is read up to here only
    if end - offset <= 0:
        raise RecordError(f"{path}: empty file (no records)")
    run = run or path.stem
    kw: dict[str, Any] = {"run": run, "offset": offset, "rows_before": rows_before, "end": end}
    # The file is hashed for its ledger record as the fast path reads it (read once, not twice).
    digest = StreamDigest() if offset == 0 else None
    try:
        return store.append(
            _fast(path, **kw, digest=digest), path=path, fmt="jsonl", n_bytes=end, digest=digest
        ), False
    except (pa.ArrowInvalid, pa.ArrowTypeError, RecordError, UnicodeDecodeError, _Fallback):
        return store.append(_slow(path, **kw), path=path, fmt="jsonl", n_bytes=end), False


def read_jsonl(
    path: Path, *, run: str | None = None, offset: int = 0, rows_before: int = 0, end: int | None = None
) -> Iterator[pa.Table]:
    """Normalized tables from bytes `offset`..`end` of `path`, read line by line (for callers without
    a store; `ingest_jsonl` is the fast, streaming way)."""
    end = path.stat().st_size if end is None else end
    if end - offset <= 0:
        raise RecordError(f"{path}: empty file (no records)")
    yield from _slow(path, run=run or path.stem, offset=offset, rows_before=rows_before, end=end)


def _fast(
    path: Path, *, run: str, offset: int, rows_before: int, end: int, digest: StreamDigest | None = None
) -> Iterator[pa.Table]:
    row = rows_before + 1
    for chunk in _chunks(path, offset=offset, end=end, digest=digest):
        # Maybe too deep for pyarrow's parser: let the slow pass look. The cheap bound first (it
        # settles ~every block); the tighter one only where some line opens many brackets.
        if opens_per_line(chunk) > MAX_DEPTH and depth_bound(chunk) > MAX_DEPTH:
            raise _Fallback
        table = pj.read_json(
            pa.BufferReader(chunk),
            read_options=pj.ReadOptions(block_size=BLOCK_BYTES),
            parse_options=pj.ParseOptions(explicit_schema=_EXPLICIT, unexpected_field_behavior="infer"),
        )
        for batch in table.to_batches(max_chunksize=max(table.num_rows, 1)):
            # pyarrow's JSON parser does not check UTF-8, and cannot tell a missing `reward` from a
            # null one (the explicit schema fills both with null): let the line-by-line pass decide.
            batch.validate(full=True)
            if batch.column("reward").null_count:
                raise _Fallback
            yield normalize(batch, source=str(path), first_row=row, run=run)
            row += batch.num_rows
    if row == rows_before + 1:
        raise RecordError(f"{path}: no records")


def _chunks(path: Path, *, offset: int, end: int, digest: StreamDigest | None = None) -> Iterator[bytes]:
    """Bytes offset..end of `path` in pieces of about BLOCK_BYTES that end at a line break; every byte
    read is fed to `digest` too.

    Parsing piece by piece keeps memory flat; pyarrow's own streaming JSON reader reads ahead and
    held about 1.3x the file in memory when we measured it on a 1.2 GB log.
    """
    with open(path, "rb") as raw:
        raw.seek(offset)
        left, carry = end - offset, b""
        while left > 0:
            data = raw.read(min(BLOCK_BYTES, left))
            if not data:  # the file shrank under us: stop at what is there
                break
            left -= len(data)
            if digest is not None:
                digest.update(data)
            buf = carry + data if carry else data
            cut = len(buf) if left <= 0 else buf.rfind(b"\n") + 1
            if cut == 0:  # no line break yet (a line longer than a block): keep reading
                if len(buf) > MAX_RECORD_BYTES:  # the line-by-line pass names it
                    raise _Fallback
                carry = buf
                continue
            buf, carry = buf[:cut], buf[cut:]
            if not buf.isspace():  # (`strip()` copied the whole block to ask the same)
                yield buf
        if carry and not carry.isspace():
            yield carry


def _lines(path: Path, *, offset: int, end: int) -> Iterator[bytes]:
    """The lines in bytes offset..end of `path` (the last one may lack its newline)."""
    with open(path, "rb") as raw:
        raw.seek(offset)
        pos = offset
        while pos < end:
            # At most one byte over the record limit in memory: `check_line` refuses such a line.
            bline = raw.readline(min(end - pos, MAX_RECORD_BYTES + 1))
            if not bline:
                break
            pos += len(bline)
            yield bline


def json_objects(
    path: Path, *, offset: int, end: int, rows_before: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line in bytes offset..end of `path`, line numbers
    counted from the start of the file (also when resuming a file that grew: `rows_before` lines
    precede `offset`); a `RecordError` naming the line for one that is not a JSON object."""
    for line_no, bline in enumerate(_lines(path, offset=offset, end=end), start=rows_before + 1):
        try:
            line = bline.decode("utf-8")
        except UnicodeDecodeError as e:
            raise RecordError(f"{path}: line {line_no}: invalid UTF-8 ({e.reason})") from None
        if not line.strip():
            continue
        check_line(line, bline, f"{path}: line {line_no}")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            what = "truncated line" if not line.endswith("\n") else "invalid JSON"
            raise RecordError(f"{path}: line {line_no}: {what} ({e.msg})") from None
        if not isinstance(obj, dict):
            raise RecordError(f"{path}: line {line_no}: expected a JSON object, got {type(obj).__name__}")
        if _SURROGATE.search(line):
            _check_text(obj, f"{path}: line {line_no}")
        yield line_no, obj


_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate: valid in pairs, but a lone one is no character at all."""


def _check_text(obj: dict[str, Any], where: str) -> None:
    """A `RecordError` for a record holding a lone surrogate (it cannot be stored as UTF-8)."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise RecordError(
            f"{where}: a string holds a lone UTF-16 surrogate escape (not a character)"
        ) from None


def _slow(path: Path, *, run: str, offset: int, rows_before: int, end: int) -> Iterator[pa.Table]:
    rows: list[dict[str, Any]] = []
    first_row = rows_before + 1
    n = 0
    for line_no, obj in json_objects(path, offset=offset, end=end, rows_before=rows_before):
        _check(obj, path, line_no)
        rows.append(obj)
        n += 1
        if len(rows) >= FALLBACK_ROWS:
            yield normalize(_table(rows), source=str(path), first_row=first_row, run=run)
            first_row += len(rows)
            rows = []
    if n == 0:
        raise RecordError(f"{path}: no records")
    if rows:
        yield normalize(_table(rows), source=str(path), first_row=first_row, run=run)


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    cols: dict[str, list[Any]] = {}
    for i, r in enumerate(rows):
        for k, v in r.items():
            cols.setdefault(k, [None] * i).append(v)
        for vals in cols.values():
            if len(vals) < i + 1:
                vals.append(None)
    arrays = {}
    for k, vals in cols.items():
        if k in FIELDS and FIELDS[k][2] != "rewards":
            arrays[k] = pa.array(vals, type=_EXPLICIT.field(k).type if k in _EXPLICIT.names else None)
        elif k == "rewards":
            arrays[k] = pa.array(
                [None if v is None else list(v.items()) for v in vals],
                type=pa.map_(pa.string(), pa.float64()),
            )
        else:
            # Unknown fields are kept as-is; mixed types become JSON text so nothing is lost.
            try:
                arrays[k] = pa.array(vals)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                arrays[k] = pa.array([None if v is None else json.dumps(v) for v in vals])
    return pa.table(arrays)


_PY_KIND = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
}


def _check(obj: dict[str, Any], path: Path, line_no: int) -> None:
    for name in REQUIRED:
        if name not in obj:
            raise RecordError(f"{path}: line {line_no}: missing required field '{name}'")
    for name, (_, required, kind) in FIELDS.items():
        v = obj.get(name)
        if v is None:
            if required and name != "reward" and name in obj:
                raise RecordError(f"{path}: line {line_no}: required field '{name}' is null")
            continue
        if kind == "rewards":
            if not isinstance(v, dict) or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in v.values()
            ):
                raise RecordError(
                    f"{path}: line {line_no}: field 'rewards' must be an object of name -> number"
                )
            for key, x in v.items():
                if not _fits_float(x):
                    raise RecordError(f"{path}: line {line_no}: reward {key!r} is out of the float64 range")
            continue
        ok = isinstance(v, _PY_KIND[kind]) and (kind == "bool" or not isinstance(v, bool))
        if kind == "int" and isinstance(v, float) and v.is_integer():
            ok = True
        if not ok:
            raise RecordError(
                f"{path}: line {line_no}: field '{name}' must be {_KIND_NAME[kind]}, got {json.dumps(v)[:40]}"
            )
        if kind == "float" and not _fits_float(v):
            raise RecordError(f"{path}: line {line_no}: field '{name}' is out of the float64 range")
        if kind == "float" and isinstance(v, float) and math.isinf(v):
            raise RecordError(f"{path}: line {line_no}: field '{name}' is infinite")
        if kind == "int" and not -(2**63) <= v < 2**63:
            raise RecordError(f"{path}: line {line_no}: field '{name}' is out of the 64-bit integer range")


def _fits_float(v: float) -> bool:
    """Whether a JSON number converts to a float64 (a 401-digit integer does not)."""
    try:
        float(v)
    except OverflowError:
        return False
    return True


_KIND_NAME = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true/false"}
