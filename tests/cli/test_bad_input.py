"""Issue 15: every malformed input the fuzzing found is one line on stderr and exit 2, never a
traceback (exit 1 reads as a verdict), a segfault or a hang, and nothing reaches the store.

The cases that used to hang or crash the interpreter (a FIFO, /dev/zero, 100,000-deep nesting) run
`rlaudit` in a subprocess with a timeout, so a regression fails the test instead of blocking it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlaudit.cli import app

runner = CliRunner()
BASE = '"step":1,"prompt":"p","completion":"c","reward":1.0'


def _monitor(path: Path | str, store: Path) -> tuple[int, str, str]:
    res = runner.invoke(app, ["monitor", str(path), "--json", "--store", str(store)])
    return res.exit_code, res.stdout, res.stderr


def _monitor_subprocess(path: Path | str, store: Path, timeout: float = 60) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-m", "rlaudit", "monitor", str(path), "--json", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=timeout,  # a hang fails the test (TimeoutExpired) instead of blocking the run
        env=env,
    )
    return proc.returncode, proc.stdout, proc.stderr


def assert_bad_input(result: tuple[int, str, str], store: Path, *words: str) -> None:
    """Exit 2, nothing on stdout, one stderr line naming the problem, no rows in the store."""
    code, out, err = result
    assert code == 2, (code, out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlaudit: error: "), err
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not list(store.glob("rollouts/*/*.parquet")), "bad input reached the store"


def _line(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ('"n_tokens":Infinity', ["line 1", "n_tokens"]),
        ('"n_tokens":18446744073709551616', ["line 1", "n_tokens", "64-bit"]),
        ('"n_tokens":1e308', ["line 1", "n_tokens", "64-bit"]),
        ('"x":"\\ud800"', ["line 1", "surrogate"]),
        ('"x":' + "[" * 1500 + "]" * 1500, ["line 1", "nested"]),
        ('"x":' + "[" * 5000 + "]" * 5000, ["line 1", "nested"]),
        ('"x":' + '["]]",' * 5000 + "0" + "]" * 5000, ["line 1", "nested"]),  # "]]" hides a level
        ('"n_tokens":-3', ["row 1", "n_tokens", "negative"]),
    ],
    ids=[
        "inf-int",
        "2**64",
        "1e308",
        "lone-surrogate",
        "nest-1500",
        "nest-5000",
        "nest-hidden",
        "negative-tokens",
    ],
)
def test_bad_jsonl_field_is_one_line_exit_2(tmp_path, extra, words):
    path = _line(tmp_path, "bad.jsonl", "{" + BASE + "," + extra + "}")
    store = tmp_path / "store"
    assert_bad_input(_monitor(path, store), store, "bad.jsonl", *words)


def test_a_negative_step_is_bad_input(tmp_path):
    path = _line(
        tmp_path, "neg.jsonl", "{" + BASE + "}\n" + "{" + BASE.replace('"step":1', '"step":-1') + "}"
    )
    store = tmp_path / "store"
    assert_bad_input(_monitor(path, store), store, "neg.jsonl", "row 2", "'step'", "negative")


def test_a_401_digit_reward_is_bad_input(tmp_path):
    path = _line(tmp_path, "big.jsonl", '{"step":1,"prompt":"p","completion":"c","reward":' + "9" * 401 + "}")
    store = tmp_path / "store"
    assert_bad_input(_monitor(path, store), store, "line 1", "'reward'", "float64")


@pytest.mark.parametrize("value", ["9" * 401, "Infinity", "-1e999"])
def test_an_out_of_range_reward_component_is_bad_input(tmp_path, value):
    path = _line(tmp_path, "big.jsonl", "{" + BASE + ',"rewards":{"a":' + value + "}}")
    store = tmp_path / "store"
    assert_bad_input(_monitor(path, store), store, "big.jsonl", "'a'")


@pytest.mark.parametrize("key", ["", 'a"; DROP TABLE rollouts; --', "x'y", "a.b", "SELECT"])
def test_reward_keys_are_data_not_sql(tmp_path, key):
    """A reward component's name is never spliced into SQL: any name is stored as given."""
    lines = [
        json.dumps({"step": s, "prompt": f"p{i}", "completion": "c", "reward": 1.0, "rewards": {key: 0.5}})
        for s in range(3)
        for i in range(2)
    ]
    path = tmp_path / "keys.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = _monitor(path, tmp_path / "store")
    assert code in (0, 1), err
    assert json.loads(out)["kind"] == "monitor"


@pytest.mark.parametrize(
    "deep",
    ["[" * 100_000 + "]" * 100_000, '["]]",' * 100_000 + "0" + "]" * 100_000],
    ids=["plain", "closers-in-strings"],
)
def test_a_hundred_thousand_deep_field_is_refused_not_a_segfault(tmp_path, deep):
    path = _line(tmp_path, "deep.jsonl", "{" + BASE + ',"x":' + deep + "}")
    store = tmp_path / "store"
    assert_bad_input(_monitor_subprocess(path, store), store, "deep.jsonl", "nested")


def test_a_fifo_is_refused_without_reading_it(tmp_path):
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    store = tmp_path / "store"
    assert_bad_input(_monitor_subprocess(fifo, store, timeout=30), store, "fifo.jsonl", "FIFO")


def test_a_verl_folder_holding_a_fifo_is_refused(tmp_path):
    (tmp_path / "dump").mkdir()
    os.mkfifo(tmp_path / "dump" / "1.jsonl")
    store = tmp_path / "store"
    assert_bad_input(_monitor_subprocess(tmp_path / "dump", store, timeout=30), store, "1.jsonl", "FIFO")


def test_dev_zero_is_refused(tmp_path):
    store = tmp_path / "store"
    for fmt_args in ([], ["--format", "jsonl"]):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "rlaudit",
                "monitor",
                "/dev/zero",
                "--json",
                "--store",
                str(store),
                *fmt_args,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
        )
        assert_bad_input((proc.returncode, proc.stdout, proc.stderr), store, "/dev/zero", "device")


def test_a_symlink_loop_is_named(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.symlink_to(b)
    b.symlink_to(a)
    store = tmp_path / "store"
    assert_bad_input(_monitor(a, store), store, "a.jsonl", "symbolic link loop")


def test_a_trainer_state_step_past_int64_is_bad_input(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    state = '{"log_history":[{"step":' + str(2**70) + ',"reward":1.0}],"global_step":1}'
    (run / "trainer_state.json").write_text(state)
    store = tmp_path / "store"
    assert_bad_input(_monitor(run, store), store, "trainer_state.json", "step", "64-bit")
    assert not list(store.glob("metrics/*.parquet"))


def test_a_deeply_nested_trainer_state_is_bad_input(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "trainer_state.json").write_text('{"log_history":[' + "[" * 100_000 + "]" * 100_000 + "]}")
    store = tmp_path / "store"
    assert_bad_input(_monitor(run, store), store, "trainer_state.json", "nested")


def test_nesting_within_the_limit_is_kept(tmp_path):
    from rlaudit.ingest.limits import MAX_DEPTH

    inner = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)  # the record's own object is one level
    brackets_in_text = '"t":"' + "[" * 500 + '"'  # brackets inside a string are not nesting
    path = _line(tmp_path, "ok.jsonl", "{" + BASE + ',"x":' + inner + "," + brackets_in_text + "}")
    code, _, err = _monitor(path, tmp_path / "store")
    assert code in (0, 1), err


def test_a_log_with_nothing_scored_is_not_clean(tmp_path):
    rows = [
        {"step": s, "prompt": f"p{i}", "completion": f"c{j}", "reward": None if j else float("nan")}
        for s in range(3)
        for i in range(2)
        for j in range(2)
    ]
    path = tmp_path / "unscored.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")  # NaN as JSON's NaN literal
    code, out, err = _monitor(path, tmp_path / "store")
    assert code == 1, err
    doc = json.loads(out)
    assert doc["verdict"] != "clean"
    unscored = [f for f in doc["findings"] if f["detector"] == "unscored"]
    assert unscored and "Nothing was scored" in unscored[0]["summary"]
    assert unscored[0]["evidence"] == {"rollouts": 12, "scored": 0}


def test_one_scored_reward_is_enough_for_no_unscored_finding(tmp_path):
    rows = [{"step": s, "prompt": "p", "completion": "c", "reward": None} for s in range(3)]
    rows[0]["reward"] = 1.0
    path = tmp_path / "some.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code, out, err = _monitor(path, tmp_path / "store")
    assert code in (0, 1), err
    assert not [f for f in json.loads(out)["findings"] if f["detector"] == "unscored"]


def test_a_name_with_a_line_break_stays_one_line(tmp_path):
    """Found by the format fuzz: a TRL parquet whose only column is named "\\n" named it raw."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "completions"
    folder.mkdir()
    pq.write_table(pa.table({"a\nb": [1]}), folder / "completions_00001.parquet")
    store = tmp_path / "store"
    assert_bad_input(_monitor(folder, store), store, "missing column 'step'", "a\\nb")
    assert not store.exists()


def test_a_401_digit_verl_score_is_bad_input(tmp_path):
    """Found by the slow format fuzz: verl's `score` went through float() unchecked."""
    folder = tmp_path / "rollout_data"
    folder.mkdir()
    (folder / "1.jsonl").write_text('{"input": "q", "output": "", "score": 1' + "0" * 400 + ', "step": 0}\n')
    store = tmp_path / "store"
    assert_bad_input(_monitor(folder, store), store, "1.jsonl", "'score'", "float64")
