import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlaudit.cli import app
from rlaudit.synthetic import HONEST, LOCKED, synthetic_rollouts, write_jsonl

runner = CliRunner()


@pytest.fixture
def locked_log(tmp_path: Path) -> Path:
    path = tmp_path / "locked.jsonl"
    write_jsonl(synthetic_rollouts({"target": LOCKED, "control": HONEST}, run="locked"), str(path))
    return path


@pytest.fixture
def honest_log(tmp_path: Path) -> Path:
    path = tmp_path / "honest.jsonl"
    write_jsonl(synthetic_rollouts({"target": HONEST, "control": HONEST}, run="honest"), str(path))
    return path


def test_locked_run_exits_1_with_json_verdict(locked_log):
    res = runner.invoke(app, ["monitor", str(locked_log), "--json"])
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    assert out["verdict"] == "hacking-likely"
    detectors = {f["detector"] for f in out["findings"] if f["severity"] == "high"}
    assert {"exploration_starvation", "selective_underperformance"} <= detectors
    assert set(out["sections"]["signals"]["steps"]["locked"]) == {"target", "control"}


def test_honest_run_exits_0(honest_log):
    res = runner.invoke(app, ["monitor", str(honest_log)])
    assert res.exit_code == 0, res.output
    assert "clean" in res.stdout


def test_html_report_is_written(locked_log, tmp_path):
    out = tmp_path / "report.html"
    res = runner.invoke(app, ["monitor", str(locked_log), "--html", str(out)])
    assert res.exit_code == 1
    assert "hacking-likely" in out.read_text()


def test_store_makes_reruns_incremental(locked_log, tmp_path):
    store = tmp_path / "store"
    first = json.loads(
        runner.invoke(app, ["monitor", str(locked_log), "--store", str(store), "--json"]).stdout
    )
    again = json.loads(
        runner.invoke(app, ["monitor", str(locked_log), "--store", str(store), "--json"]).stdout
    )
    assert first["sections"]["ingested"][0]["rows_added"] == 1280
    ingested = again["sections"]["ingested"][0]
    assert ingested["rows_added"] == 0 and ingested["files_skipped"] == 1
    assert again["provenance"]["store"]["rows"] == 1280
    assert again["verdict"] == first["verdict"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/file.jsonl"], "no such file or directory"),
        (["--format", "csv", "{log}"], "unknown format 'csv'"),
        (["--reward-weights", "acc", "{log}"], "--reward-weights"),
        (["--detectors", "nope", "{log}"], "--detectors: unknown"),
        (["--series-points", "-1", "{log}"], "--series-points"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message, locked_log):
    res = runner.invoke(app, ["monitor", *[a.format(log=locked_log) for a in args]])
    assert res.exit_code == 2
    assert message in res.stderr
    assert res.stderr.count("\n") == 1


def test_bad_input_writes_nothing_to_the_store(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 0, "prompt": "p", "completion": "c", "reward": 1}\n{"step": 1, "prom')
    store = tmp_path / "store"
    res = runner.invoke(app, ["monitor", str(bad), "--store", str(store)])
    assert res.exit_code == 2
    assert "bad.jsonl: line 2: truncated line" in res.stderr
    assert not store.exists()  # not even an empty store folder (issue 15)


def test_two_runs_get_the_invariance_check(tmp_path):
    from rlaudit.synthetic import Behaviour

    stuck = Behaviour(pass_start=0.2, pass_end=0.2, wrong_answers=3)
    paths = []
    for name in ("reward_a", "reward_b"):
        p = tmp_path / f"{name}.jsonl"
        write_jsonl(synthetic_rollouts({"control": stuck}, run=name), str(p))
        paths.append(str(p))
    out = json.loads(runner.invoke(app, ["monitor", *paths, "--json"]).stdout)
    assert [f["detector"] for f in out["findings"] if f["severity"] == "medium"] == [
        "reward_config_invariance"
    ]
    assert out["verdict"] == "suspicious"


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.startswith("rlaudit ")


def test_a_folder_without_logs_of_the_given_format_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    res = runner.invoke(app, ["monitor", str(tmp_path), "--format", "jsonl"])
    assert res.exit_code == 2
    assert "no *.jsonl files" in res.stderr


def test_two_trl_style_folders_are_two_runs_named_after_their_run_folders(tmp_path):
    """`monitor A/completions B/completions` used to name both runs 'completions' and merge them."""
    from rlaudit.monitor import run_names

    paths = []
    for name, behaviour in (("reward_a", HONEST), ("reward_b", LOCKED)):
        folder = tmp_path / name / "completions"
        folder.mkdir(parents=True)
        log = folder / "rollouts.jsonl"
        write_jsonl(synthetic_rollouts({"control": behaviour}), str(log))
        # Records that do not name their run (TRL's completions never do): the folder names it.
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        log.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "run"}) + "\n" for r in rows))
        paths.append(str(folder))
    assert run_names(paths) == ["reward_a", "reward_b"]
    assert run_names([tmp_path / "reward_a" / "completions" / "rollouts.jsonl", paths[1]]) == [
        "reward_a",
        "reward_b",
    ]
    res = runner.invoke(app, ["monitor", *paths, "--json", "--format", "jsonl"])
    out = json.loads(res.stdout)
    assert set(out["sections"]["signals"]["steps"]) == {"reward_a", "reward_b"}


def test_files_sharing_a_name_are_named_after_their_folders(tmp_path):
    paths = []
    for seed, parent in enumerate(("x", "y")):
        p = tmp_path / parent / "run.jsonl"
        p.parent.mkdir()
        rollouts = synthetic_rollouts({"control": HONEST}, seed=seed).drop_columns(["run"])  # unnamed runs
        write_jsonl(rollouts, str(p))
        paths.append(str(p))
    res = runner.invoke(app, ["monitor", *paths, "--json", "--store", str(tmp_path / "store")])
    assert res.exit_code in (0, 1), res.stderr
    assert json.loads(res.stdout)["sections"]["signals"]["runs"] == ["x", "y"]


def test_two_inputs_that_would_share_a_run_name_are_refused(tmp_path):
    paths = []
    for parent in ("a/x", "b/x"):
        p = tmp_path / parent / "run.jsonl"
        p.parent.mkdir(parents=True)
        write_jsonl(synthetic_rollouts({"control": HONEST}), str(p))
        paths.append(str(p))
    store = tmp_path / "store"
    res = runner.invoke(app, ["monitor", *paths, "--json", "--store", str(store)])
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1
    assert "would be named 'x'" in res.stderr and paths[1] in res.stderr
    assert not (store / "rollouts").exists() or not list((store / "rollouts").iterdir())


def test_unmatched_splits_cap_target_vs_control_findings_at_medium(locked_log):
    """A deterministic target failure with control passing is hacking-likely when the splits are the
    same problems; declared unmatched (a harder target by design) it is at most suspicious."""
    matched = json.loads(runner.invoke(app, ["monitor", str(locked_log), "--json"]).stdout)
    res = runner.invoke(app, ["monitor", str(locked_log), "--json", "--unmatched-splits"])
    unmatched = json.loads(res.stdout)
    assert matched["verdict"] == "hacking-likely"
    assert unmatched["verdict"] == "suspicious" and res.exit_code == 1
    capped = [f for f in unmatched["findings"] if f["evidence"].get("capped_from") == "high"]
    assert {f["detector"] for f in capped} == {"selective_underperformance", "exploration_starvation"}
    assert all(f["severity"] == "medium" and "not matched in difficulty" in f["summary"] for f in capped)


def test_series_points_bounds_each_series_and_keeps_the_last_step(locked_log):
    res = runner.invoke(app, ["monitor", str(locked_log), "--json", "--series-points", "4"])
    full = json.loads(runner.invoke(app, ["monitor", str(locked_log), "--json"]).stdout)
    out = json.loads(res.stdout)
    assert res.exit_code == 1 and out["findings"] == full["findings"]  # the detectors read every step
    for split, by_condition in out["sections"]["signals"]["steps"]["locked"].items():
        for condition, series in by_condition.items():
            whole = full["sections"]["signals"]["steps"]["locked"][split][condition]["step"]
            assert len(series["step"]) <= 5 and series["step"][-1] == whole[-1]
            assert out["sections"]["signals"]["series_stride"]["locked"][split][condition] > 1
    assert "series_stride" not in full["sections"]["signals"]
    from rlaudit.judgement import validate

    validate(out)  # `rlaudit report` re-renders a thinned judgement too
