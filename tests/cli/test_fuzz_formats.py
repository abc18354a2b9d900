"""Property tests of `rlaudit monitor` over every ingest format (issue 15): a verl dump folder, a TRL
completions parquet of any schema, a trainer_state.json of any JSON, ms-swift's completions.jsonl,
rlaudit's JSONL. Same contract as `test_fuzz_monitor`: a verdict (exit 0/1, one JSON object) or
one-line bad input (exit 2) with the store untouched; never exit 3.

The default run is small and derandomized; the slow run draws `fuzz_examples()` per format
(`RLAUDIT_FUZZ_EXAMPLES=10000` for the issue's full run).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing import FORMATS, STATES, check_format, fuzz_examples, parquet_tables, verl_lines

FAST = settings(max_examples=30, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))


@FAST
@given(verl_lines())
def test_verl(data: bytes) -> None:
    check_format("verl", data)


@FAST
@given(parquet_tables())
def test_trl_parquet(table: pa.Table) -> None:
    check_format("trl", table)


@FAST
@given(STATES)
def test_trainer_state(state: Any) -> None:
    check_format("trl-state", state)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_long(fmt: str) -> None:
    checked = []

    @settings(max_examples=fuzz_examples(), deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data: st.DataObject) -> None:
        check_format(fmt, data.draw(FORMATS[fmt][0]))
        checked.append(1)

    run()
    print(f"{fmt}: {len(checked)} inputs checked")  # for -s
