"""Property test of `rlaudit monitor` over hostile JSONL (issue 15): whatever the bytes, the CLI gives
a verdict (exit 0/1, one JSON object on stdout) or bad input (exit 2, exactly one stderr line, the
store untouched); never an internal error (exit 3), a traceback or a hang.

The default run is small and derandomized (same examples every time, a few seconds); the `slow` run
draws thousands.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
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


def check_monitor(data: bytes) -> None:
    """`check_monitor_on` for `data` written as a .jsonl file."""
    tmp = Path(tempfile.mkdtemp(prefix="rlaudit-fuzz-"))
    try:
        log = tmp / "log.jsonl"
        log.write_bytes(data)
        check_monitor_on(log, tmp / "store")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_FAST = settings(max_examples=50, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))


@_FAST
@given(LOGS)
def test_monitor_on_fuzzed_jsonl_keeps_the_cli_contract(data: bytes) -> None:
    check_monitor(data)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(LOGS)
def test_monitor_on_fuzzed_jsonl_keeps_the_cli_contract_long(data: bytes) -> None:
    check_monitor(data)


def test_the_fuzz_reaches_both_outcomes() -> None:
    """The strategies are not vacuous: a plain record judges, a hostile one is bad input."""
    good = b'{"step": 1, "prompt": "p", "completion": "c", "reward": 1.0}\n'
    check_monitor(good)
    check_monitor(good.replace(b"1.0", b"Infinity"))
    assert math.isinf(json.loads(good.replace(b"1.0", b"Infinity"))["reward"])
