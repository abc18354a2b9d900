"""verl's `gts` as a numpy array's text: read back as the list numpy shows, never evaluated (issue 15)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from typer.testing import CliRunner

from rlaudit.cli import app
from rlaudit.ingest import ingest
from rlaudit.ingest.verl_gts import ArrayTextError, looks_like_array, parse_array_text
from rlaudit.records import RecordError, RolloutStore

from ._helpers import assert_record_error, assert_store_empty, stored_rows
from .test_verl import dump, entry


def _plain(value: Any) -> Any:
    """`ndarray.tolist()` as the parser gives it: bytes decoded, NaN as None."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# Elements as ground truths hold them: text (any printable unicode, quotes and backslashes included),
# integers, finite floats, booleans; one or two dimensions.
_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=8)
_shapes = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4)
arrays = st.one_of(
    hnp.arrays(np.dtype("<U8"), _shapes, elements=_text.filter(lambda s: s[-1] != "\0")),
    hnp.arrays(np.int64, _shapes),
    hnp.arrays(np.float64, _shapes, elements=st.floats(allow_infinity=False, width=64)),
    hnp.arrays(np.bool_, _shapes),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays)
def test_str_and_repr_read_back(a: np.ndarray) -> None:
    expected = _plain(a.tolist())
    for text in (repr(a), str(a)):
        if "..." in text:  # numpy summarised it (over 1,000 elements): not readable, and says so
            continue
        assert looks_like_array(text), text
        got = parse_array_text(text)
        if a.dtype.kind == "f":  # str() rounds floats to 8 significant digits
            assert np.allclose(np.array(got, dtype=float), a, equal_nan=True, rtol=1e-7), (text, got)
        else:
            assert got == expected, (text, got)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("[]()'\"\\ ,.-+e0123456789abnfTrueFalsNonearyd=<U\n"), max_size=60))
def test_any_text_is_a_list_or_one_error(text: str) -> None:
    """Arbitrary text made of the tokenizer's own characters: a list, or `ArrayTextError`; nothing
    else escapes, and nothing is evaluated."""
    try:
        assert isinstance(parse_array_text(text), list)
    except ArrayTextError as e:
        assert "\n" not in str(e)


@pytest.mark.parametrize(
    "text",
    [
        "array([__import__('os').system('touch /tmp/rlaudit-pwned')])",
        "['a' + 'b']",
        "['a' 'b'",
        "array(['1', '2' ... '9'])",
        "[" * 40 + "'x'" + "]" * 40,
        "['\\x']",
        "[1" + "0" * 5000 + "]",
        "[1e999]",
    ],
)
def test_refused(text: str) -> None:
    with pytest.raises(ArrayTextError):
        parse_array_text(text)
    assert not Path("/tmp/rlaudit-pwned").exists()


def test_long_texts_take_linear_time() -> None:
    """A gts of 100,000 digits (or elements) is refused or read in well under a second, not hung on:
    the number pattern once backtracked quadratically (10,000 digits took 5.6 CPU-s)."""
    import time

    for text in ("[" + "1" * 100_000 + "x]", "[" + "1 " * 100_000 + "x]", "array([" + "1," * 100_000 + "])"):
        start = time.process_time()
        looks_like_array(text)
        with pytest.raises(ArrayTextError):
            parse_array_text(text + "]")
        assert time.process_time() - start < 2.0


@pytest.mark.parametrize("text", ["4", "[1, 2]", "[a]", "x = [1 2", "array", "[]"])
def test_plain_answers_are_left_alone(text: str) -> None:
    assert not looks_like_array(text)


def test_ingest_reads_gts_reprs(tmp_path: Path, store: RolloutStore) -> None:
    d = tmp_path / "rollouts"
    dump(
        d,
        1,
        [
            entry(gts=str(np.array(["14", "3"]))),
            entry(gts=repr(np.array(["14", "3"]))),
            entry(gts=str(np.array([14, 3]))),
            entry(gts="[1, 2]"),  # a plain answer with commas stays as written
        ],
    )
    ingest(d, store)
    answers = [r["answer"] for r in stored_rows(store)]
    assert [json.loads(a) for a in answers[:3]] == [["14", "3"], ["14", "3"], [14, 3]]
    assert answers[3] == "[1, 2]"


def test_bad_gts_repr_commits_nothing(tmp_path: Path, store: RolloutStore) -> None:
    d = tmp_path / "rollouts"
    dump(d, 1, [entry()])
    bad = dump(d, 2, [entry(), entry(gts="array(['14', '3' ... ])")])
    with pytest.raises(RecordError) as exc:
        ingest(d, store)
    assert_record_error(exc, bad, "line 2", "'gts'", "summarised")
    assert_store_empty(store)


def test_bad_gts_repr_cli_exit_2(tmp_path: Path) -> None:
    d = tmp_path / "rollouts"
    dump(d, 1, [entry(gts="['14' '3'")])
    res = CliRunner().invoke(app, ["monitor", str(d), "--json", "--store", str(tmp_path / "s")])
    assert res.exit_code == 2, res.stderr
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "1.jsonl: line 1" in lines[0] and "'gts'" in lines[0], res.stderr
    assert not (tmp_path / "s").exists()
