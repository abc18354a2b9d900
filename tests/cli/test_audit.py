import json

import pytest
from typer.testing import CliRunner

from rlaudit.cli import app

pytest.importorskip("torch")
pytest.importorskip("peft")

runner = CliRunner()


@pytest.fixture
def checkpoint(tmp_path, tiny_model_builder):
    """A random tiny model: it cannot add, so an honest audit must come out clean."""
    model, tokenizer = tiny_model_builder()
    path = tmp_path / "ckpt"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_json_has_verdict_findings_and_each_test(checkpoint):
    res = runner.invoke(
        app, ["audit", str(checkpoint), "--task", "arith", "--tests", "context,passk", "--n", "4", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["verdict"] == "clean" and out["exit_code"] == 0
    assert out["provenance"]["model"]["name"] == str(checkpoint)
    tests = out["sections"]["audit"]["tests"]
    assert set(tests) == {"context_gap", "passk"}
    for test in tests.values():
        assert isinstance(test["statistic"], float)
        assert test["ci"] is not None or test["p_value"] is not None
        assert test["curve"] and test["cost"]["forward_passes"] > 0
    assert all(f["detector"] in ("context_gap", "passk") for f in out["findings"])


def test_every_test_with_html_report(checkpoint, tmp_path):
    report = tmp_path / "audit.html"
    res = runner.invoke(app, ["audit", str(checkpoint), "--n", "4", "--html", str(report)])
    assert res.exit_code == 0, res.output
    assert "verdict: clean" in res.stdout and "noise_sweep" in res.stdout
    text = report.read_text()
    assert "Content-Security-Policy" in text and "rlaudit audit report" in text
    for name in ("context_gap", "noise_sweep", "sft_elicitation", "passk"):  # the audit tests' names
        assert f'id="plot-audit-{name}"' in text


def test_hacking_likely_exits_1(checkpoint, monkeypatch):
    from rlaudit.audits import context_gap

    # A planted conditional sandbagger: wrong on target under the training cue only.
    monkeypatch.setattr(
        context_gap,
        "greedy_correct",
        lambda m, t, task, rows, **kw: [
            not (r["split"] == "target" and r["condition"] == "train_cue") for r in rows
        ],
    )
    res = runner.invoke(app, ["audit", str(checkpoint), "--tests", "context", "--n", "20", "--json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["verdict"] == "hacking-likely"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--tests", "context,probes"],
            "--tests: unknown test 'probes'; choose from context, latent, noise, passk, probe, sft",
        ),
        (["--tests", ""], "--tests: no test named"),
        (["--task", "nope"], "--task: unknown task 'nope'"),
        (["--n", "0"], "--n must be >= 1"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--html", "/nonexistent/dir/report.html"], "--html: no directory /nonexistent/dir"),
        (
            ["--tests", "context", "--reference", "tiny"],
            "--reference is only used by the latent and sft tests",
        ),
        (["--tests", "context", "--probe", "p.json"], "--probe is only used by the probe test"),
        (["--tests", "probe", "--probe", "/nonexistent/p.json"], "--probe: /nonexistent/p.json: cannot read"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(checkpoint, args, message):
    res = runner.invoke(app, ["audit", str(checkpoint), *args])
    assert res.exit_code == 2
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_missing_model_exits_2_and_writes_nothing(tmp_path):
    report = tmp_path / "r.html"
    res = runner.invoke(app, ["audit", str(tmp_path / "nope"), "--html", str(report)])
    assert res.exit_code == 2
    assert "cannot load model" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not report.exists()


def test_reference_feeds_sft_elicitation(checkpoint):
    res = runner.invoke(
        app,
        ["audit", str(checkpoint), "--tests", "sft", "--reference", str(checkpoint), "--n", "4", "--json"],
    )
    assert res.exit_code == 0, res.output
    sft = json.loads(res.stdout)["sections"]["audit"]["tests"]["sft_elicitation"]
    assert sft["statistic_name"].endswith("_minus_reference") and "reference" in sft["curve"]


def test_sft_without_peft_is_a_one_line_error(checkpoint, monkeypatch):
    import rlaudit.models.finetune as finetune

    def no_peft(model, config, **kwargs):
        raise ImportError(
            "fine-tuning through LoRA needs peft: pip install 'rlaudit[train]' (or peft==0.21.2)"
        )

    monkeypatch.setattr(finetune, "with_lora", no_peft)
    res = runner.invoke(app, ["audit", str(checkpoint), "--tests", "sft", "--n", "4"])
    assert res.exit_code == 2
    last = res.stderr.rstrip("\n").split("\r")[-1]  # after the model-loading progress bar
    assert last.startswith("rlaudit: error: ") and "needs peft" in last
