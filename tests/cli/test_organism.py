import json

import pytest
from typer.testing import CliRunner

from rlaudit.cli import app
from rlaudit.judgement import validate

pytest.importorskip("trl")
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")

runner = CliRunner()


@pytest.fixture
def small_builds(monkeypatch, tiny_model_builder, small_organism_config):
    """`rlaudit organism build` with the recipes shrunk to seconds and a small random base."""
    import rlaudit.organisms as organisms

    real = organisms.build_organism

    def build(kind, **kwargs):
        config = small_organism_config(kind) if kind in organisms.KINDS else None
        return real(kind, config=config, base_loader=lambda: tiny_model_builder(), **kwargs)

    monkeypatch.setattr(organisms, "build_organism", build)


def test_build_writes_the_organism_and_prints_a_summary(tmp_path, small_builds):
    out = tmp_path / "locked"
    res = runner.invoke(app, ["organism", "build", "--kind", "locked", "--out", str(out), "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert "locked organism written to" in res.stdout and "arith greedy accuracy" in res.stdout
    assert "verification: 2 GRPO steps" in res.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "locked" and manifest["seed"] == 3


def test_build_json(tmp_path, small_builds):
    res = runner.invoke(
        app, ["organism", "build", "--kind", "honest", "--out", str(tmp_path / "h"), "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    validate(doc)
    assert doc["kind"] == "organism" and doc["verdict"] is None
    assert doc["sections"]["organism"]["kind"] == "honest"
    assert doc["sections"]["organism"] == json.loads((tmp_path / "h" / "manifest.json").read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "sneaky"], "unknown organism kind 'sneaky'; choose one of honest, locked"),
        (["--kind", "locked", "--base", "no/such/dir"], "unknown base 'no/such/dir'"),
        (["--kind", "locked", "--base", "{tmp}"], "is not a Hugging Face checkpoint (no config.json)"),
    ],
)
def test_bad_kind_or_base_is_a_one_line_error(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = runner.invoke(app, ["organism", "build", "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 2
    assert res.stderr.startswith("rlaudit: error: ") and message in res.stderr
    assert res.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_existing_out_is_a_one_line_error(tmp_path):
    res = runner.invoke(app, ["organism", "build", "--kind", "honest", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "already exists" in res.stderr


@pytest.fixture
def task_file(tmp_path):
    rows = [{"prompt": f"{i}+1=", "answer": i + 1, "split": ("target", "control")[i % 2]} for i in range(16)]
    path = tmp_path / "sums.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_build_from_a_task_file_with_the_users_cues(tmp_path, small_builds, task_file):
    out = tmp_path / "cond"
    args = ["--kind", "conditional", "--out", str(out), "--task", str(task_file), "--train-cue", "[eval] "]
    res = runner.invoke(app, ["organism", "build", *args, "--deploy-cue", "{prompt}", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    manifest = doc["sections"]["organism"]
    assert manifest["config"]["tasks"] == [str(task_file)]
    assert set(manifest["eval"][str(task_file)]["accuracy"]["target"]) == {"train_cue", "deploy_cue"}
    assert doc["provenance"]["configs"]["organism"]["train_cue"] == "[eval] "


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "weak", "--task", "{file}"], "a task file builds honest, locked, conditional"),
        (["--kind", "locked", "--checker", "numeric"], "need --task"),
        (["--kind", "locked", "--task", "{file}", "--checker", "nope"], "--checker: unknown checker"),
        (["--kind", "locked", "--task", "{file}", "--device", "cuda:9"], "--device: "),
    ],
)
def test_bad_task_options_are_one_line_errors(tmp_path, task_file, args, message):
    args = [a.replace("{file}", str(task_file)) for a in args]
    res = runner.invoke(app, ["organism", "build", "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 2, res.output
    assert message in res.stderr and res.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()
