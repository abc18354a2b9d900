"""Property tests of `rlaudit monitor` over the other ingest formats (issue 15): a verl dump folder,
a TRL completions parquet of any schema, a trainer_state.json of any JSON. Same contract as
`test_fuzz_monitor`: a verdict (exit 0/1, one JSON object) or one-line bad input (exit 2) with the
store untouched; never exit 3.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli.test_fuzz_monitor import KEYS, NUMBERS, SCALARS, VALUES, check_monitor_on

FAST = settings(max_examples=30, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))


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


def _write_state(state: Any, tmp: Path) -> Path:
    folder = tmp / "run"
    folder.mkdir()
    (folder / "trainer_state.json").write_text(json.dumps(state, allow_nan=True))
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

CASES: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any, Path], Path]]] = {
    "verl": (verl_lines(), _write_verl),
    "trl": (parquet_tables(), _write_trl),
    "trl-state": (STATES, _write_state),
}


def _run(fmt: str, value: Any) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="rlaudit-fuzz-"))
    try:
        check_monitor_on(CASES[fmt][1](value, tmp), tmp / "store")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@FAST
@given(verl_lines())
def test_verl(data: bytes) -> None:
    _run("verl", data)


@FAST
@given(parquet_tables())
def test_trl_parquet(table: pa.Table) -> None:
    _run("trl", table)


@FAST
@given(STATES)
def test_trainer_state(state: Any) -> None:
    _run("trl-state", state)


@pytest.mark.slow
@SLOW
@given(st.sampled_from(sorted(CASES)).flatmap(lambda f: st.tuples(st.just(f), CASES[f][0])))
def test_all_formats_long(case: tuple[str, Any]) -> None:
    _run(*case)
