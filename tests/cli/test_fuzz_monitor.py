"""Property test of `rlaudit monitor` over hostile JSONL (issue 15): whatever the bytes, the CLI gives
a verdict (exit 0/1, one JSON object on stdout) or bad input (exit 2, exactly one stderr line, the
store untouched); never an internal error (exit 3), a traceback or a hang.

The run here is small and derandomized (same examples every time, a few seconds); the long run over
every format is in test_fuzz_formats.py (slow).
"""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings

from tests.fuzzing import LOGS, check_format

_FAST = settings(max_examples=50, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))


def check_monitor(data: bytes) -> None:
    check_format("jsonl", data)


@_FAST
@given(LOGS)
def test_monitor_on_fuzzed_jsonl_keeps_the_cli_contract(data: bytes) -> None:
    check_monitor(data)


def test_the_fuzz_reaches_both_outcomes() -> None:
    """The strategies are not vacuous: a plain record judges, a hostile one is bad input."""
    good = b'{"step": 1, "prompt": "p", "completion": "c", "reward": 1.0}\n'
    check_monitor(good)
    check_monitor(good.replace(b"1.0", b"Infinity"))
    assert math.isinf(json.loads(good.replace(b"1.0", b"Infinity"))["reward"])
