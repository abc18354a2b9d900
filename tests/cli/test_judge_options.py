"""`rlaudit monitor --judge-*`: bad judge options are bad input (one line, exit 2, nothing written),
checked before any log is read or any judge is asked."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rlaudit.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--judge-url", "http://127.0.0.1:9/v1"], "name the judge model"),
        (
            ["--judge-model", "m", "--judge-url", "http://x/v1", "--judge-view", "thoughts"],
            "not one of cot, action",
        ),
        (["--judge-model", "m", "--judge-url", "ftp://x"], "must start with http"),
        (
            ["--judge-model", "m", "--judge-url", "http://x/v1", "--judge-key-env", "RLAUDIT_NO_SUCH_VAR"],
            "is not set",
        ),
        (
            ["--judge-model", "tiny", "--judge-view", "action", "--judge-answer", "regex:("],
            "does not compile",
        ),
        (["--judge-model", "m", "--judge-url", "http://x/v1", "--judge-budget", "0"], "budget"),
        (["--judge-model", "no/such/checkpoint"], "no directory no/such/checkpoint"),
    ],
)
def test_bad_judge_options_exit_2_with_one_line_and_write_nothing(tmp_path, monkeypatch, args, message):
    monkeypatch.delenv("RLAUDIT_NO_SUCH_VAR", raising=False)
    store = tmp_path / "store"
    res = runner.invoke(app, ["monitor", "--json", "--store", str(store), *args])
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not store.exists()


def test_monitor_without_a_judge_does_not_import_torch(tmp_path):
    """The judge's imports (torch, transformers: ~5 CPU-s) are paid only when a judge is asked for."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from rlaudit.cli.judge_options import judge_config\n"
        "assert judge_config(model=None, url=None, key_env=None, view='cot', budget=32, answer='last-line',"
        " cache=None, store=None, concurrency=4, timeout_s=60.0) is None\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"], out.stderr
