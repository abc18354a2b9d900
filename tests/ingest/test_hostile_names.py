"""Names and values the user gives (JSONL field names, reward keys, TRL column names, run names, file and
store paths) are stored exactly and never reach DuckDB as SQL text: the standard "user-given names never
go into SQL text". Escaping them would store them right too; the `sql_texts` spy tells the two apart.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from rlaudit.ingest import ingest
from rlaudit.records import RolloutStore
from rlaudit.signals import compute_signals

from ._helpers import stored_rows, write_lines

HOSTILE = [
    'say "hi"',
    "it's",
    "a;b",
    "x -- y",
    ") AS x; DROP TABLE batch; --",
    "ünï 🚀 名前",
]


def _leaked(name: str, texts: list[str]) -> list[str]:
    assert texts, "the spy saw no SQL: the test would prove nothing"
    return [t for t in texts if name in t]


def _rollouts(name: str, *, unscored_line: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {
            "step": i // 2,
            "prompt": f"q{i % 2}",
            "completion": f"c{i}",
            "reward": float(i % 2),
            name: f"v-{i}",
            "rewards": {name: 0.5 * i, "plain": 1.0},
        }
        for i in range(4)
    ]
    if unscored_line:  # a null reward sends the file down the line-by-line path (map rewards)
        rows[1]["reward"] = None
    return rows


@pytest.mark.parametrize("path", ["fast", "slow"])
@pytest.mark.parametrize("name", HOSTILE)
def test_jsonl_names_are_stored_exactly(tmp_path: Path, name: str, path: str, sql_texts: list[str]) -> None:
    folder = tmp_path / name
    folder.mkdir()
    f = write_lines(folder / "log.jsonl", _rollouts(name, unscored_line=path == "slow"))
    store = RolloutStore(folder / "store")
    assert ingest(f, store, run=name).rows_added == 4
    rows = stored_rows(store)
    assert [r["run"] for r in rows] == [name] * 4
    assert {r["source"] for r in rows} == {str(f)}
    assert [json.loads(r["extra"]) for r in rows] == [{name: f"v-{i}"} for i in range(4)]
    assert [r["rewards"] for r in rows] == [{name: 0.5 * i, "plain": 1.0} for i in range(4)]
    assert _leaked(name, sql_texts) == []


@pytest.mark.parametrize("name", HOSTILE)
def test_signals_see_hostile_runs_components_and_store_paths_as_data(
    tmp_path: Path, name: str, sql_texts: list[str]
) -> None:
    folder = tmp_path / name
    folder.mkdir()
    f = write_lines(folder / "log.jsonl", _rollouts(name, unscored_line=False))
    store = RolloutStore(folder / "store")
    ingest(f, store, run=name)
    signals = compute_signals(store)
    assert signals.runs == [name]
    assert set(signals.components.column("component").to_pylist()) == {name, "plain"}
    assert _leaked(name, sql_texts) == []


def _completions(output_dir: Path, reward_fn: str, extra: str) -> None:
    """One TRL completions file with a reward function and a `log_extra` column named by the user."""
    folder = output_dir / "completions"
    folder.mkdir(parents=True)
    cols = {
        "step": [1, 1, 1, 1],
        "prompt": ["2+2?", "2+2?", "3+3?", "3+3?"],
        "completion": ["4", "5", "6", "6"],
        reward_fn: [1.0, 0.0, 1.0, math.nan],
        extra: ["ok", "wrong", "ok", None],
    }
    pd.DataFrame(cols).to_parquet(folder / "completions_00001.parquet")


@pytest.mark.parametrize("name", HOSTILE)
def test_trl_column_names_are_stored_exactly(tmp_path: Path, name: str, sql_texts: list[str]) -> None:
    out = tmp_path / name
    _completions(out, reward_fn=name, extra=f"{name} note")
    store = RolloutStore(tmp_path / "store")
    assert ingest(out, store, run=name).rows_added == 4
    rows = stored_rows(store)
    assert {r["run"] for r in rows} == {name}
    assert [json.loads(r["extra"]) for r in rows] == [
        {f"{name} note": v} for v in ["ok", "wrong", "ok", None]
    ]
    assert [list(r["rewards"]) for r in rows] == [[name]] * 4
    assert [r["rewards"][name] for r in rows[:3]] == [1.0, 0.0, 1.0]
    assert _leaked(name, sql_texts) == []
