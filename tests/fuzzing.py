"""Hostile inputs for every ingest format, and the CLI contract they are checked against (issue 15).

Each format has a hypothesis strategy of values and a writer that lays a value out on disk the way
that trainer would; `check_monitor_on` runs `rlaudit monitor PATH --json --store STORE` and checks the
contract: a verdict (exit 0/1, one JSON object on stdout) or bad input (exit 2, exactly one stderr
line, the store untouched); never an internal error (exit 3), a traceback or a hang.

`FORMATS` is the registry the long fuzz walks; `fuzz_examples()` is its size per format (800 by
default, what CI's time allows; `RLAUDIT_FUZZ_EXAMPLES=10000` for the issue's full run, see
docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st
from typer.testing import CliRunner

from rlaudit.cli import app

runner = CliRunner()

# Names a user may log: empty, SQL and JSON metacharacters, the record's own field names, unicode.
KEYS = st.one_of(
    st.sampled_from(["", '"', "'", ";", "--", "a b", "x.y", "SELECT", "rewards", "group", "row", "\0", "é"]),
    st.text(max_size=8),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**400, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=12))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=12,
)
NESTED = st.integers(min_value=1, max_value=300).map(lambda n: "[" * n + "]" * n)


# --- rlaudit's own JSONL -------------------------------------------------------------------------


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A rollout record, each field either plausible or hostile."""
    rec: dict[str, Any] = {
        "step": draw(st.one_of(st.integers(0, 5), NUMBERS, SCALARS)),
        "prompt": draw(st.one_of(st.sampled_from(["p1", "p2"]), SCALARS)),
        "completion": draw(st.one_of(st.text(max_size=10), SCALARS)),
        "reward": draw(st.one_of(st.sampled_from([0.0, 1.0]), NUMBERS, SCALARS)),
    }
    for key in draw(
        st.lists(st.sampled_from(["rewards", "n_tokens", "split", "correct", "entropy"]), max_size=3)
    ):
        rec[key] = draw(st.dictionaries(KEYS, NUMBERS, max_size=3) if key == "rewards" else VALUES)
    for key, value in draw(st.dictionaries(KEYS, VALUES, max_size=2)).items():
        rec.setdefault(key, value)
    if draw(st.booleans()):
        for name in ("step", "prompt", "completion", "reward"):
            if draw(st.integers(0, 7)) == 0:
                rec.pop(name, None)
    return rec


def _line(rec: dict[str, Any], nested: str | None) -> bytes:
    text = json.dumps(rec, allow_nan=True)  # NaN/Infinity literals, lone surrogates as \\udXXX
    if nested is not None:
        text = text[:-1] + (", " if len(rec) else "") + '"deep":' + nested + "}"
    return text.encode()


LOGS = st.one_of(
    st.binary(max_size=200),
    st.lists(st.tuples(records(), st.none() | NESTED), min_size=1, max_size=6).map(
        lambda rows: b"\n".join(_line(r, n) for r, n in rows) + b"\n"
    ),
    st.lists(records(), min_size=1, max_size=4).map(
        lambda rows: b"\n".join(_line(r, None) for r in rows)  # last line without its newline
    ),
)


def _write_jsonl(data: bytes, tmp: Path) -> Path:
    log = tmp / "log.jsonl"
    log.write_bytes(data)
    return log


# --- verl's rollout dumps ------------------------------------------------------------------------


@st.composite
def verl_lines(draw: st.DrawFn) -> bytes:
    rows = []
    for _ in range(draw(st.integers(1, 5))):
        rec: dict[str, Any] = {
            "input": draw(st.one_of(st.sampled_from(["q1", "q2"]), SCALARS)),
            "output": draw(st.one_of(st.text(max_size=8), SCALARS)),
            "score": draw(st.one_of(st.sampled_from([0.0, 1.0]), NUMBERS, SCALARS)),
            "step": draw(st.one_of(st.integers(0, 3), NUMBERS)),
        }
        rec.update(draw(st.dictionaries(KEYS, VALUES, max_size=2)))
        rows.append(json.dumps(rec, allow_nan=True))
    return ("\n".join(rows) + "\n").encode()


def _write_verl(data: bytes, tmp: Path) -> Path:
    folder = tmp / "rollout_data"
    folder.mkdir()
    (folder / "1.jsonl").write_bytes(data)
    return folder


# --- TRL completions parquet and trainer_state.json ----------------------------------------------

_ARROW = {
    "int": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "uint": (pa.uint64(), st.integers(0, 2**64 - 1)),
    "float": (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    "str": (pa.string(), st.text(max_size=6)),
    "bool": (pa.bool_(), st.booleans()),
    "list": (pa.list_(pa.int64()), st.lists(st.integers(-5, 5), max_size=3)),
    "struct": (pa.struct([("a", pa.float64())]), st.fixed_dictionaries({"a": st.floats()})),
}


@st.composite
def parquet_tables(draw: st.DrawFn) -> pa.Table:
    """A table with some of TRL's columns and some others, each of any of a few Arrow types."""
    n = draw(st.integers(1, 6))
    names = draw(
        st.lists(
            st.sampled_from(["step", "prompt", "completion", "advantage", "correctness", "format", "x"])
            | KEYS,
            min_size=1,
            max_size=6,
            unique=True,
        )
    )
    cols = {}
    for name in names:
        if "\0" in name:
            continue
        typ, values = _ARROW[draw(st.sampled_from(sorted(_ARROW)))]
        cols[name] = pa.array(draw(st.lists(st.none() | values, min_size=n, max_size=n)), typ)
    return pa.table(cols) if cols else pa.table({"step": pa.array([1] * n)})


def _write_trl(table: pa.Table, tmp: Path) -> Path:
    folder = tmp / "completions"
    folder.mkdir()
    pq.write_table(table, folder / "completions_00001.parquet")
    return folder


STATES = st.one_of(
    VALUES,
    st.fixed_dictionaries(
        {
            "log_history": st.lists(
                st.dictionaries(
                    st.sampled_from(["step", "reward", "reward_std", "rewards/f/mean", "entropy"]) | KEYS,
                    st.one_of(NUMBERS, SCALARS),
                    max_size=5,
                ),
                max_size=4,
            )
        }
    ),
)


def _write_state(state: Any, tmp: Path) -> Path:
    folder = tmp / "run"
    folder.mkdir()
    (folder / "trainer_state.json").write_text(json.dumps(state, allow_nan=True))
    return folder


# --- ms-swift's completions.jsonl ----------------------------------------------------------------


@st.composite
def swift_lines(draw: st.DrawFn) -> bytes:
    """Lines shaped like ms-swift's (columns as lists), with any values, lengths and extra columns."""
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, 3))

        def column(values: st.SearchStrategy[Any], n: int = n) -> list[Any]:
            return draw(st.lists(values, min_size=n, max_size=n + draw(st.integers(0, 1))))

        table: dict[str, Any] = {
            "step": column(st.one_of(st.sampled_from(["1", "2"]), SCALARS)),
            "prompt": column(st.one_of(st.sampled_from(["p", "q"]), SCALARS)),
            "completion": column(st.one_of(st.text(max_size=4), SCALARS)),
        }
        for name in draw(st.lists(KEYS, max_size=2, unique=True)):
            table.setdefault(name, column(st.one_of(st.sampled_from([0.0, 1.0]), NUMBERS, SCALARS)))
        table["advantages"] = column(st.one_of(NUMBERS, SCALARS))
        table.update(draw(st.dictionaries(KEYS, VALUES, max_size=2)))
        lines.append(json.dumps(table, allow_nan=True))
    return ("\n".join(lines) + "\n").encode()


def _write_swift(data: bytes, tmp: Path) -> Path:
    folder = tmp / "run"
    folder.mkdir()
    (folder / "completions.jsonl").write_bytes(data)
    return folder


# --- the registry and the contract ---------------------------------------------------------------

FORMATS: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any, Path], Path]]] = {
    "jsonl": (LOGS, _write_jsonl),
    "verl": (verl_lines(), _write_verl),
    "trl": (parquet_tables(), _write_trl),
    "trl-state": (STATES, _write_state),
    "swift": (swift_lines(), _write_swift),
}
"""Each ingest format: a strategy of hostile values, and how one is laid out on disk for `monitor`.
(Inspect AI's `.eval` logs are zip archives written by Inspect's own code; they are fuzzed through
that writer in tests/ingest/test_inspect.py, not here.)"""


def fuzz_examples(default: int = 800) -> int:
    """Examples per format in the long (slow) fuzz: `RLAUDIT_FUZZ_EXAMPLES`, else `default`."""
    return int(os.environ.get("RLAUDIT_FUZZ_EXAMPLES", default))


def check_monitor_on(path: Path, store: Path) -> None:
    """Run `monitor PATH --json --store STORE` and check the CLI contract."""
    res = runner.invoke(app, ["monitor", str(path), "--json", "--store", str(store)])
    if res.exit_code in (0, 1):
        doc = json.loads(res.stdout)
        assert doc["kind"] == "monitor" and doc["exit_code"] == res.exit_code
    else:
        assert res.exit_code == 2, (res.exit_code, res.stderr, res.exception)
        assert res.stdout == ""
        lines = res.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("rlaudit: error: "), res.stderr
        assert not store.exists(), "bad input created or changed the store"


def check_format(fmt: str, value: Any) -> None:
    """Lay `value` out as format `fmt` in a fresh temporary folder and `check_monitor_on` it."""
    tmp = Path(tempfile.mkdtemp(prefix=f"rlaudit-fuzz-{fmt}-"))
    try:
        check_monitor_on(FORMATS[fmt][1](value, tmp), tmp / "store")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
