import csv
import json
from pathlib import Path

import pytest

from rlaudit.tasks import get_task
from rlaudit.tasks.files import AS_GIVEN, balanced_rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def numeric_rows(n: int = 8) -> list[dict]:
    return [
        {"id": f"q{i}", "prompt": f"{i}+1=", "answer": i + 1, "split": "target" if i % 2 else "control"}
        for i in range(n)
    ]


def test_a_numeric_jsonl_task(tmp_path):
    task = get_task(write_jsonl(tmp_path / "sums.jsonl", numeric_rows()))
    assert task.checker == "numeric"  # every answer is a number
    assert task.conditions == (AS_GIVEN,) and task.cells == (("target", AS_GIVEN), ("control", AS_GIVEN))
    assert task.default_difficulty is None and task.chance == 0.0
    rows = task.make_dataset(100, seed=1)
    assert len(rows) == 8 and sorted(r["id"] for r in rows) == [f"q{i}" for i in range(8)]
    row = next(r for r in rows if r["id"] == "q3")
    assert row["prompt"] == "3+1=" and row["answer"] == "4" and row["split"] == "target"
    assert task.correct([row, row], ["4 apples", "5"]) == [True, False]
    assert task.parse_answer("it is 4.0") == task.parse_answer("4")
    with pytest.raises(ValueError, match="has no difficulty"):
        task.make_dataset(4, difficulty=9)


def test_balanced_draw_covers_every_cell_and_is_deterministic(tmp_path):
    rows = [{"split": "target" if i < 6 else "control", "condition": "c", "id": i} for i in range(8)]
    drawn = balanced_rows(rows, 4, seed=0, conditions=["c"])
    assert sorted(r["split"] for r in drawn) == ["control", "control", "target", "target"]
    assert drawn == balanced_rows(rows, 4, seed=0, conditions=["c"])
    assert len({r["id"] for r in balanced_rows(rows, 7, seed=0, conditions=["c"])}) == 7


def test_a_multiple_choice_csv_task(tmp_path):
    path = tmp_path / "mcq.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["question", "choices", "label", "split", "condition"])
        w.writerow(["Capital of France?", "Paris|Lyon|Nice", "Paris", "target", "train_cue"])
        w.writerow(["2+2?", json.dumps(["3", "4", "5", "6"]), "B", "control", "deploy_cue"])
        w.writerow(["Sky colour?", "red|blue", "blue", "target", "deploy_cue"])
        w.writerow(["1+1?", "2|3", "A", "control", "train_cue"])
    task = get_task(path, columns="prompt=question,answer=label")
    assert task.checker == "choice" and task.conditions == ("train_cue", "deploy_cue")
    assert task.chance == pytest.approx((1 / 3 + 1 / 4 + 1 / 2 + 1 / 2) / 4)
    rows = {r["id"]: r for r in task.make_dataset(10)}
    assert rows["2"]["prompt"] == "Capital of France?\nA) Paris\nB) Lyon\nC) Nice\nAnswer:"
    assert rows["2"]["answer"] == "A" and rows["4"]["answer"] == "B"  # the text of a choice -> its letter
    assert task.correct([rows["2"], rows["3"]], ["A) Paris", "I think A"]) == [True, False]


def test_a_task_scored_by_a_user_function(tmp_path):
    (tmp_path / "reward.py").write_text(
        "def passes(prompts, completions, answer, tests, **kw):\n"
        "    return [1.0 if c.strip() == t else 0.0 for c, t in zip(completions, tests)]\n"
    )
    rows = [
        {"prompt": "say hi", "answer": "x", "split": "target", "tests": "hi"},
        {"prompt": "say yo", "answer": "x", "split": "control", "tests": "yo"},
    ]
    task = get_task(write_jsonl(tmp_path / "t.jsonl", rows), checker=f"{tmp_path}/reward.py:passes")
    drawn = sorted(task.make_dataset(2), key=lambda r: r["tests"])
    assert task.correct(drawn, ["hi", "hi"]) == [True, False]
    assert task.reward(["hi"], ["x"], prompts=["say hi"], tests=["hi"], trainer_state=None) == [1.0]


def test_chat_prompts_and_a_datasets_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    ds = datasets.Dataset.from_list(
        [
            {"prompt": chat, "answer": "4", "split": "target"},
            {"prompt": chat, "answer": "4", "split": "control"},
        ]
    )
    ds.save_to_disk(str(tmp_path / "ds"))
    task = get_task(tmp_path / "ds", checker="exact")
    assert task.chat and task.make_dataset(1)[0]["prompt"] == chat


def test_a_parquet_task(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(numeric_rows(4)), tmp_path / "t.parquet")
    assert len(get_task(tmp_path / "t.parquet").make_dataset(10)) == 4


def _bad(tmp_path: Path, rows: list[dict], **kwargs) -> str:
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(ValueError) as e:
        get_task(path, **kwargs)
    return str(e.value).replace(str(path), "FILE")


def test_bad_task_files_name_the_file_row_and_column(tmp_path):
    ok = {"prompt": "p", "answer": "1", "split": "control"}
    target = {**ok, "split": "target"}
    assert _bad(tmp_path, [ok, {"prompt": "p", "split": "target"}]) == (
        "FILE: line 2, column 'answer': missing; map another with --columns answer=NAME"
    )
    assert _bad(tmp_path, [ok, {**ok, "split": "train"}]) == (
        "FILE: line 2, column 'split': unknown split 'train'; use target or control"
    )
    assert _bad(tmp_path, [ok, {**ok, "id": 7}]) == (
        "FILE: column 'split': no 'target' rows; a task needs both target and control rows"
    )
    assert _bad(tmp_path, [{**ok, "id": "a"}, {**target, "id": "a"}]) == (
        "FILE: line 2, column 'id': duplicate id 'a' (first at line 1)"
    )
    assert _bad(tmp_path, [ok, {**target, "prompt": "  "}]) == "FILE: line 2, column 'prompt': empty prompt"
    assert _bad(tmp_path, [ok, {**target, "question": "q"}], columns="prompt=question") == (
        "FILE: line 1, column 'question': missing; map another with --columns prompt=NAME"
    )
    assert _bad(tmp_path, [ok, target], columns="promt=question") == (
        "--columns: unknown column 'promt'; map one of prompt, answer, split, id, choices, condition"
    )
    assert _bad(tmp_path, [ok, {**target, "answer": "abc"}], checker="numeric") == (
        "FILE: line 2, column 'answer': answer 'abc' is not a number (checker numeric)"
    )
    assert _bad(
        tmp_path, [{**ok, "choices": ["1", "2"]}, {**target, "choices": ["1", "2"], "answer": "3"}]
    ) == ("FILE: line 2, column 'answer': answer '3' is neither a letter A-B nor one of the choices")


def test_blank_lines_count_as_lines(tmp_path):
    path = tmp_path / "gaps.jsonl"
    ok = json.dumps({"prompt": "p", "answer": "1", "split": "control"})
    path.write_text(f"{ok}\n\n{json.dumps({'prompt': 'p', 'answer': '1', 'split': 'x'})}\n")
    with pytest.raises(ValueError, match=r"line 3, column 'split'"):
        get_task(path)


def test_a_csv_counts_its_header_as_line_1(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("prompt,answer,split\np,1,control\n,1,target\n")
    with pytest.raises(ValueError) as e:
        get_task(path)
    assert str(e.value) == f"{path}: line 3, column 'prompt': empty prompt"


def test_unknown_names_and_builtins_with_options():
    with pytest.raises(ValueError, match=r"unknown task 'nope'; known tasks: arith, mcq, or a task file"):
        get_task("nope")
    with pytest.raises(ValueError, match="apply to task files"):
        get_task("arith", checker="exact")


# --- through evaluate and the CLI ------------------------------------------------------------------


def test_evaluate_a_task_file_gives_a_valid_judgement(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from rlaudit.evaluation import evaluate
    from rlaudit.judgement import Judgement, Provenance, validate
    from rlaudit.models.sampling import Sample

    def sample(model, tokenizer, prompts, *, n=1, **kwargs):  # right on control, wrong on target
        answer = {f"{i}+1=": str(i + 1 if i % 2 == 0 else i + 2) for i in range(8)}
        return [Sample(p, answer[q], 1, 0.1, -0.1, True) for p, q in enumerate(prompts) for _ in range(n)]

    monkeypatch.setattr("rlaudit.models.sampling.sample", sample)
    task = get_task(write_jsonl(tmp_path / "sums.jsonl", numeric_rows()))
    result = evaluate(None, None, task, n_prompts=200, k=2)
    out = result.to_json()
    assert out["accuracy"] == {"target": {AS_GIVEN: 0.0}, "control": {AS_GIVEN: 1.0}}
    assert out["n"] == {"target": {AS_GIVEN: 4}, "control": {AS_GIVEN: 4}}
    assert out["n_prompts"] == 8 and out["difficulty"] is None
    doc = Judgement("eval", None, [], {"evaluation": out}, Provenance.begin().finish()).to_json()
    validate(doc)
    with pytest.raises(ValueError, match="has no difficulty"):
        evaluate(None, None, task, n_prompts=8, difficulty=3)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_model_builder) -> Path:
    pytest.importorskip("torch")
    model, tokenizer = tiny_model_builder()
    path = tmp_path_factory.mktemp("ckpt") / "tiny-random"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_cli_eval_of_a_task_file_in_process(tmp_path, checkpoint):
    from typer.testing import CliRunner

    from rlaudit.cli import app

    runner = CliRunner()
    path = write_jsonl(tmp_path / "sums.jsonl", numeric_rows())
    res = runner.invoke(app, ["eval", str(checkpoint), "--task", str(path), "--n", "8", "--k", "2", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)["sections"]["evaluation"]
    assert out["task"] == str(path) and set(out["accuracy"]["target"]) == {AS_GIVEN}

    table = runner.invoke(app, ["eval", str(checkpoint), "--task", str(path), "--n", "4", "--k", "1"])
    assert table.exit_code == 0 and AS_GIVEN in table.stdout

    (tmp_path / "boom.py").write_text("def f(prompts, completions, **kw):\n    raise RuntimeError('no')\n")
    spec = f"{tmp_path}/boom.py:f"
    cases = {
        ("--checker", spec): f"rlaudit: error: --checker: checker '{spec}' raised RuntimeError: no",
        ("--checker", "regex:("): "rlaudit: error: --checker: checker 'regex:(': bad regular expression: "
        "missing ), unterminated subpattern at position 0",
        ("--columns", "answer=label"): f"rlaudit: error: --task: {path}: line 1, column 'label': missing; "
        "map another with --columns answer=NAME",
        ("--difficulty", "3"): f"rlaudit: error: --difficulty: task file {path} has no difficulty; "
        "leave --difficulty out",
    }
    for args, message in cases.items():
        res = runner.invoke(
            app, ["eval", str(checkpoint), "--task", str(path), "--n", "2", "--k", "1", *args]
        )
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.strip().splitlines()[-1] == message  # after the loader's progress bar


def test_console_script_eval_of_a_task_file(tmp_path, checkpoint):
    import os
    import shutil
    import subprocess
    import sys

    from rlaudit.judgement import validate

    exe = shutil.which("rlaudit", path=str(Path(sys.executable).parent)) or "rlaudit"
    path = write_jsonl(tmp_path / "sums.jsonl", numeric_rows())
    res = subprocess.run(
        [exe, "eval", str(checkpoint), "--task", str(path), "--checker", "numeric", "--n", "8", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    validate(doc)
    assert doc["kind"] == "eval" and doc["provenance"]["configs"]["eval"]["checker"] == "numeric"
    assert doc["sections"]["evaluation"]["n"] == {"target": {AS_GIVEN: 4}, "control": {AS_GIVEN: 4}}
