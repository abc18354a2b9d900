"""`rlaudit probe fit` / `probe score` and `rlaudit audit --tests probe,latent`: the CLI contract
(exit codes, one JSON object on stdout, one line on stderr for bad input)."""

import json

import pytest
from typer.testing import CliRunner

from rlaudit.cli import app

pytest.importorskip("torch")
pytest.importorskip("sklearn")

runner = CliRunner()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_model_builder):
    model, tokenizer = tiny_model_builder()
    path = tmp_path_factory.mktemp("ckpt") / "ckpt"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def probe_file(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("probe") / "probe.json"
    res = runner.invoke(app, ["probe", "fit", str(checkpoint), "--out", str(out), "--n", "8", "--json"])
    assert res.exit_code == 0, res.output
    return out, res


def test_fit_prints_one_json_object_and_writes_the_probe(probe_file):
    out, res = probe_file
    doc = json.loads(res.stdout)
    assert doc["kind"] == "probe" and doc["verdict"] is None and doc["exit_code"] == 0
    section = doc["sections"]["probe"]
    assert section["path"] == str(out) and section["layer"] == "0.5" and section["source"] == "contrast"
    assert 0 <= section["metrics"]["auroc"] <= 1 and section["width"] == 32
    saved = json.loads(out.read_text())
    assert saved["data_hash"] == section["data_hash"] and len(saved["coef"]) == 32


def test_score_is_the_probe_audit(checkpoint, probe_file):
    out, _ = probe_file
    res = runner.invoke(app, ["probe", "score", str(checkpoint), "--probe", str(out), "--n", "8", "--json"])
    assert res.exit_code in (0, 1), res.output
    doc = json.loads(res.stdout)
    assert doc["kind"] == "audit" and doc["exit_code"] == res.exit_code
    test = doc["sections"]["audit"]["tests"]["probe"]
    assert test["config"]["probe"] == str(out) and len(test["curve"]["probabilities"]["target"]) == 16
    assert doc["provenance"]["configs"]["probe_file"]["path"] == str(out)


def test_audit_probe_and_latent(checkpoint):
    res = runner.invoke(app, ["audit", str(checkpoint), "--tests", "probe,latent", "--n", "8", "--json"])
    assert res.exit_code in (0, 1), res.output
    doc = json.loads(res.stdout)
    assert set(doc["sections"]["audit"]["tests"]) == {"probe", "latent"}
    assert {f["detector"] for f in doc["findings"]} == {"probe", "latent"}


def test_audit_with_a_saved_probe(checkpoint, probe_file):
    out, _ = probe_file
    res = runner.invoke(
        app, ["audit", str(checkpoint), "--tests", "probe", "--probe", str(out), "--n", "8", "--json"]
    )
    assert res.exit_code in (0, 1), res.output
    assert json.loads(res.stdout)["sections"]["audit"]["tests"]["probe"]["config"]["probe"] == str(out)


def one_line_error(res, *needles):
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlaudit: error: "), res.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("{not json", "not JSON"),
        ('{"format": "rlaudit-probe", "version": 1}', "field 'coef'"),
        ('{"format": "other"}', "field 'format'"),
    ],
)
def test_bad_probe_file_exits_2_with_one_line(checkpoint, tmp_path, content, field):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    res = runner.invoke(app, ["probe", "score", str(checkpoint), "--probe", str(bad), "--json"])
    one_line_error(res, "--probe", str(bad), field)


@pytest.mark.parametrize(
    ("name", "needles"),
    [
        ("builtin:nope", ("no built-in probe 'builtin:nope'", "builtin:tiny-organisms")),
        # the built-in probe reads tiny-base models only; this checkpoint is 32 wide, 1 layer
        ("builtin:tiny-organisms", ("another base", "hidden_size 64 (this model: 32)")),
    ],
)
def test_audit_with_a_builtin_probe_of_another_base_or_name_exits_2(checkpoint, name, needles):
    res = runner.invoke(app, ["audit", str(checkpoint), "--tests", "probe", "--probe", name, "--json"])
    one_line_error(res, "--probe", *needles)


def test_probe_of_another_width_exits_2(tmp_path, probe_file, tiny_model_builder):
    model, tokenizer = tiny_model_builder(hidden_size=16)
    other = tmp_path / "other"
    model.save_pretrained(other)
    tokenizer.save_pretrained(other)
    res = runner.invoke(app, ["probe", "score", str(other), "--probe", str(probe_file[0]), "--json"])
    one_line_error(res, "--probe", "32-wide", "16 wide")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pooling", "completion_mean"], "--pooling"),
        (["--n", "1"], "--n must be >= 2"),
        (["--layer", "residual:9"], "--layer"),
    ],
)
def test_fit_bad_arguments_exit_2(checkpoint, tmp_path, args, message):
    res = runner.invoke(app, ["probe", "fit", str(checkpoint), "--out", str(tmp_path / "p.json"), *args])
    one_line_error(res, message)
    assert not (tmp_path / "p.json").exists()


def test_fit_into_a_missing_directory_exits_2(checkpoint):
    res = runner.invoke(app, ["probe", "fit", str(checkpoint), "--out", "/nonexistent/dir/p.json"])
    one_line_error(res, "--out")
