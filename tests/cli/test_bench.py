from typer.testing import CliRunner

from rlaudit.cli import app

runner = CliRunner()


def test_overlapping_seeds_are_bad_input_and_nothing_is_written(tmp_path):
    out = tmp_path / "bench"
    res = runner.invoke(
        app, ["bench", "--out", str(out), "--calibration-seeds", "0,1", "--test-seeds", "1", "--json"]
    )
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "disjoint" in res.stderr
    assert not out.exists()


def test_bad_seed_lists_and_kinds_are_bad_input(tmp_path):
    res = runner.invoke(app, ["bench", "--out", str(tmp_path), "--test-seeds", "one"])
    assert res.exit_code == 2 and "--test-seeds: comma-separated integers" in res.stderr
    res = runner.invoke(app, ["bench", "--out", str(tmp_path), "--kinds", "honest,sneaky"])
    assert res.exit_code == 2 and "unknown organism kind(s) sneaky" in res.stderr
    res = runner.invoke(app, ["bench", "--out", str(tmp_path), "--jobs", "0"])
    assert res.exit_code == 2 and "--jobs must be >= 1" in res.stderr
