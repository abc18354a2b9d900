import json

import pytest
from typer.testing import CliRunner

from rlaudit.cli import app

pytest.importorskip("torch")

runner = CliRunner()


@pytest.fixture
def checkpoint(tmp_path, tiny_model_builder):
    model, tokenizer = tiny_model_builder()
    path = tmp_path / "ckpt"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_json_maps_split_to_condition_to_accuracy(checkpoint):
    res = runner.invoke(app, ["eval", str(checkpoint), "--task", "arith", "--n", "8", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)  # one JSON object on stdout; progress bars go to stderr
    assert doc["kind"] == "eval" and doc["verdict"] is None
    out = doc["sections"]["evaluation"]
    assert out["task"] == "arith" and out["model"] == str(checkpoint)
    for s in ("target", "control"):
        for c in ("train_cue", "deploy_cue"):
            assert 0.0 <= out["accuracy"][s][c] <= 1.0
            assert out["n"][s][c] == 2
            low, high = out["ci"][s][c]
            assert 0.0 <= low <= out["accuracy"][s][c] <= high <= 1.0
            assert 0.0 <= out["pass_at_k"][s][c] <= 1.0
    assert out["k"] == 8 and out["temperature"] == 1.0 and out["seed"] == 0


def test_organism_directory_with_manifest_and_table_output(checkpoint):
    (checkpoint / "manifest.json").write_text(json.dumps({"kind": "honest"}))
    res = runner.invoke(app, ["eval", str(checkpoint), "--task", "mcq", "--n", "4", "--k", "2"])
    assert res.exit_code == 0, res.output
    assert "target" in res.stdout and "deploy_cue" in res.stdout and "pass@2" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "nope"], "unknown task 'nope'; known tasks: arith, mcq"),
        (["--k", "0"], "--k must be >= 1"),
        (["--n", "0"], "--n must be >= 1"),
        (["--temperature", "-1"], "--temperature must be >= 0"),
        (["--threads", "0"], "--threads must be >= 1"),
    ],
)
def test_bad_arguments_exit_2(checkpoint, args, message):
    res = runner.invoke(app, ["eval", str(checkpoint), *args])
    assert res.exit_code == 2
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_missing_model_exits_2_with_one_line(tmp_path):
    res = runner.invoke(app, ["eval", str(tmp_path / "nope"), "--n", "4"])
    assert res.exit_code == 2
    assert res.stderr.startswith("rlaudit: error: cannot load model")
    assert len(res.stderr.strip().splitlines()) == 1
    res = runner.invoke(app, ["eval", str(tmp_path), "--n", "4"])  # a directory, but no checkpoint
    assert res.exit_code == 2
    assert "config.json" in res.stderr


def test_threads_are_restored(checkpoint):
    import torch

    before = torch.get_num_threads()
    res = runner.invoke(app, ["eval", str(checkpoint), "--n", "4", "--k", "1", "--threads", "1", "--json"])
    assert res.exit_code == 0, res.output
    assert torch.get_num_threads() == before
