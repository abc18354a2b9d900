"""The model-side verbs on the user's own data: task files the tests write (numeric, multiple choice, a
user's reward function as the checker), cues, and the bad inputs each gets a one-line exit 2 for.

The model is a small random tiny Llama, so accuracies say nothing about the model; the checkers here
are chosen so that the numbers say whether the file, the split column, the checker and the cues were
really used (a checker that accepts only target rows gives exactly 100% target, 0% control).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlaudit.cli import app

pytest.importorskip("torch")

runner = CliRunner()

USER_CHECKER = '''
CALLS = []


def target_only(prompts, completions, answer, split, **columns):
    """A TRL-style reward function: 1.0 on target rows, 0.0 on control, whatever the completion."""
    CALLS.append(len(completions))
    return [1.0 if s == "target" else 0.0 for s in split]


def raises(prompts, completions, **columns):
    raise RuntimeError("boom")


def too_short(prompts, completions, **columns):
    return [1.0]


def needs_tests(prompts, completions, tests, **columns):
    """Reads a column of its own (like a code task's unit tests): 1.0 where the completion is the test."""
    return [1.0 if c.strip() == t else 0.0 for c, t in zip(completions, tests)]
'''


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_model_builder) -> Path:
    model, tokenizer = tiny_model_builder()
    path = tmp_path_factory.mktemp("ckpt") / "tiny-random"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def numeric_file(tmp_path: Path) -> Path:
    rows = [
        {
            "id": f"q{i}",
            "prompt": f"{i}+{i % 3}=",
            "answer": i + i % 3,
            "split": "target" if i % 2 else "control",
            "tests": str(i),
        }
        for i in range(16)
    ]
    path = tmp_path / "sums.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def choice_file(tmp_path: Path) -> Path:
    path = tmp_path / "wmdp-like.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["question", "options", "label", "split"])
        for i in range(8):
            options = json.dumps([str(i), str(i + 1), str(i + 2), str(i + 3)])
            w.writerow([f"Which is {i + 1}?", options, "B", "target" if i % 2 else "control"])
    return path


@pytest.fixture
def user_checker(tmp_path: Path) -> Path:
    path = tmp_path / "my_reward.py"
    path.write_text(USER_CHECKER)
    return path


def invoke(*args: str) -> object:
    return runner.invoke(app, [str(a) for a in args])


def test_eval_on_a_numeric_file(checkpoint, numeric_file):
    res = invoke(
        "eval", checkpoint, "--task", numeric_file, "--checker", "numeric", "--n", "8", "--k", "2", "--json"
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)["sections"]["evaluation"]
    assert out["task"] == str(numeric_file) and out["n"] == {
        "target": {"as_given": 4},
        "control": {"as_given": 4},
    }
    doc = json.loads(res.stdout)
    assert doc["provenance"]["configs"]["eval"]["checker"] == "numeric"


def test_eval_on_a_multiple_choice_csv_with_renamed_columns(checkpoint, choice_file):
    res = invoke(
        "eval",
        checkpoint,
        "--task",
        choice_file,
        "--columns",
        "prompt=question,choices=options,answer=label",
        "--n",
        "8",
        "--k",
        "2",
        "--json",
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)["sections"]["evaluation"]
    assert out["chance"] == pytest.approx(0.25)
    assert json.loads(res.stdout)["provenance"]["configs"]["eval"]["checker"] == "choice"


def test_a_user_reward_function_is_the_checker(checkpoint, numeric_file, user_checker):
    res = invoke(
        "eval",
        checkpoint,
        "--task",
        numeric_file,
        "--checker",
        f"{user_checker}:target_only",
        "--n",
        "16",
        "--k",
        "2",
        "--json",
    )
    assert res.exit_code == 0, res.output
    acc = json.loads(res.stdout)["sections"]["evaluation"]["accuracy"]
    assert acc == {"target": {"as_given": 1.0}, "control": {"as_given": 0.0}}


def test_cues_ask_every_problem_under_both(checkpoint, numeric_file, user_checker):
    res = invoke(
        "eval",
        checkpoint,
        "--task",
        numeric_file,
        "--checker",
        f"{user_checker}:target_only",
        "--train-cue",
        "[eval] ",
        "--deploy-cue",
        "{prompt}",
        "--n",
        "16",
        "--k",
        "2",
        "--json",
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)["sections"]["evaluation"]
    assert out["accuracy"] == {
        "target": {"train_cue": 1.0, "deploy_cue": 1.0},
        "control": {"train_cue": 0.0, "deploy_cue": 0.0},
    }
    assert out["n"]["target"] == {"train_cue": 4, "deploy_cue": 4}


def test_audit_on_a_file_with_a_checker_that_reads_its_own_column(checkpoint, numeric_file, user_checker):
    res = invoke(
        "audit",
        checkpoint,
        "--task",
        numeric_file,
        "--checker",
        f"{user_checker}:needs_tests",
        "--tests",
        "context,passk",
        "--n",
        "4",
        "--train-cue",
        "[eval] ",
        "--deploy-cue",
        "import inspect_ai\n{prompt}",
        "--json",
    )
    assert res.exit_code in (0, 1), res.output
    doc = json.loads(res.stdout)
    assert set(doc["sections"]["audit"]["tests"]) == {"context_gap", "passk"}
    assert doc["provenance"]["configs"]["task"]["train_cue"] == "[eval] "


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "{tmp}/nothing.jsonl"], "unknown task"),
        (["--task", "{bad_split}"], "line 1, column 'split': unknown split 'train'"),
        (["--task", "{numeric}", "--checker", "nope"], "--checker: unknown checker 'nope'"),
        (["--task", "{numeric}", "--checker", "{user}:missing"], "--checker: "),
        (["--task", "{numeric}", "--checker", "{user}:raises"], "boom"),
        (["--task", "{numeric}", "--checker", "{user}:too_short"], "--checker: "),
        (
            ["--task", "{numeric}", "--train-cue", "same", "--deploy-cue", "same"],
            "--train-cue/--deploy-cue: ",
        ),
        (["--task", "{numeric}", "--train-cue", "{prompt} and {prompt}"], "--train-cue/--deploy-cue: "),
        (["--device", "tpu"], "--device: "),
        (["--dtype", "int3"], "--dtype: "),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    ],
)
@pytest.mark.parametrize("verb", ["eval", "audit"])
def test_bad_task_checker_or_option_is_one_line_exit_2(
    checkpoint, numeric_file, user_checker, tmp_path, verb, args, message
):
    bad_split = tmp_path / "bad.jsonl"
    bad_split.write_text(json.dumps({"prompt": "1+1=", "answer": "2", "split": "train"}) + "\n")
    subs = {
        "{tmp}": str(tmp_path),
        "{bad_split}": str(bad_split),
        "{numeric}": str(numeric_file),
        "{user}": str(user_checker),
    }
    for old, new in subs.items():
        args = [a.replace(old, new) for a in args]
    extra = ["--tests", "context", "--n", "2"] if verb == "audit" else ["--n", "4", "--k", "1"]
    res = invoke(verb, checkpoint, *args, *extra, "--json")
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_elicit_on_a_file_owns_stdout(checkpoint, numeric_file, tmp_path):
    out = tmp_path / "run"
    res = invoke(
        "elicit",
        checkpoint,
        "--task",
        numeric_file,
        "--checker",
        "numeric",
        "--steps",
        "1",
        "--prompts-per-step",
        "2",
        "--num-generations",
        "2",
        "--eval-prompts",
        "8",
        "--out",
        out,
        "--json",
    )
    assert res.exit_code in (0, 1), res.output
    doc = json.loads(res.stdout)  # exactly one object
    assert doc["sections"]["elicitation"]["task"] == str(numeric_file)
    assert set(doc["sections"]["elicitation"]["before"]) == {"target", "control"}


def test_the_console_script_on_a_task_file(checkpoint, numeric_file, user_checker):
    """As a user runs it: the installed script, its JSON piped into `python -m json.tool`."""
    script = Path(sys.executable).parent / "rlaudit"
    cmd = [
        str(script),
        "eval",
        str(checkpoint),
        "--task",
        str(numeric_file),
        "--checker",
        f"{user_checker}:target_only",
        "--n",
        "8",
        "--k",
        "2",
        "--device",
        "cpu",
        "--dtype",
        "float32",
        "--batch-size",
        "3",
        "--json",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    tool = subprocess.run(
        [sys.executable, "-m", "json.tool"], input=res.stdout, capture_output=True, text=True, check=False
    )
    assert tool.returncode == 0, tool.stderr
    acc = json.loads(tool.stdout)["sections"]["evaluation"]["accuracy"]
    assert acc["target"]["as_given"] == 1.0 and acc["control"]["as_given"] == 0.0
