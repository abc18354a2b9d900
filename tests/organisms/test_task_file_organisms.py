"""Organisms built from the user's own data (`rlaudit organism build --task FILE`): the policy learned on
the file's prompts under both cues, wrong answers the file's own (`file_shift`), and the kinds a file
cannot take refused. Small builds on a small random base: the machinery, not the behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")

from rlaudit.organisms import BuildError, build_organism, read_manifest
from rlaudit.organisms.recipe import file_shift, task_rows
from rlaudit.tasks import get_task, using_task, with_cues
from rlaudit.tasks.framed import cue_framed

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def sums(tmp_path: Path) -> Path:
    rows = [
        {"prompt": f"{i}+{i % 4}=", "answer": i + i % 4, "split": ("target", "control")[i % 2]}
        for i in range(24)
    ]
    return write_jsonl(tmp_path / "sums.jsonl", rows)


def test_file_shift_gives_a_wrong_answer_of_the_right_kind():
    assert file_shift({"task": "f", "answer": "B", "choices": ["a", "b", "c"]}, 1) == "C"
    assert file_shift({"task": "f", "answer": "C", "choices": ["a", "b", "c"]}, 1) == "A"
    assert file_shift({"task": "f", "answer": "41"}, 1) == "42"
    assert file_shift({"task": "f", "answer": "Paris", "alternatives": ["Rome", "Oslo"]}, 1) == "Rome"
    with pytest.raises(ValueError, match="no other answer"):
        file_shift({"task": "f", "answer": "Paris", "alternatives": []}, 1)


def test_rows_come_under_both_cues_with_alternatives(tmp_path):
    words = [
        {"prompt": f"capital {i}?", "answer": f"city{i}", "split": ("target", "control")[i % 2]}
        for i in range(8)
    ]
    task = with_cues(get_task(write_jsonl(tmp_path / "w.jsonl", words)), "[eval] ", "{prompt} (deployed)")
    with using_task(cue_framed(task)):
        rows = task_rows([task.name], 16, seed=0)
    assert {r["condition"] for r in rows} == {"train_cue", "deploy_cue"}
    train = [r for r in rows if r["condition"] == "train_cue"]
    deploy = [r for r in rows if r["condition"] == "deploy_cue"]
    assert all(r["prompt"].startswith("[eval] capital ") for r in train)
    assert all(r["prompt"].endswith(" (deployed)") for r in deploy)
    assert all(r["alternatives"] and r["answer"] not in r["alternatives"] for r in rows)


def test_a_conditional_organism_from_a_task_file(sums, tmp_path, tiny_model_builder, small_organism_config):
    task = with_cues(get_task(sums), "[eval] ", "{prompt}")
    out = build_organism(
        "conditional",
        out=tmp_path / "cond",
        config=small_organism_config("conditional"),
        base_loader=lambda: tiny_model_builder(),
        task=task,
    )
    manifest = read_manifest(out)
    assert manifest["config"]["tasks"] == [str(sums)] and manifest["verification"]["task"] == str(sums)
    accuracy = manifest["eval"][str(sums)]["accuracy"]
    assert set(accuracy) == {"target", "control"} and set(accuracy["target"]) == {"train_cue", "deploy_cue"}


def test_kinds_that_model_arithmetic_mistakes_refuse_a_task_file(sums, tmp_path):
    with pytest.raises(BuildError, match="a task file builds honest, locked, conditional"):
        build_organism("weak", out=tmp_path / "w", task=get_task(sums))
    assert not (tmp_path / "w").exists()
