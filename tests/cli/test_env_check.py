"""`rlaudit env-check` as a user runs it: the console script as a subprocess, on a venv pip installed
a wheel into (the `demo_venv` fixture), clean and then tampered with; and bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rlaudit.judgement import validate

RLAUDIT = shutil.which("rlaudit", path=str(Path(sys.executable).parent)) or "rlaudit"


def env_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RLAUDIT, "env-check", *args], capture_output=True, text=True, timeout=300, check=False
    )


def one_object(stdout: str) -> dict:
    doc, end = json.JSONDecoder().raw_decode(stdout)
    assert stdout[end:].strip() == ""
    validate(doc)
    return doc


def test_clean_venv_exits_0_with_one_json_object(demo_venv):
    done = env_check(str(demo_venv()), "--json")
    assert done.returncode == 0, done.stderr
    doc = one_object(done.stdout)
    assert doc["kind"] == "env-check" and doc["verdict"] == "clean"
    assert doc["provenance"]["inputs"][0]["files"] >= 7
    assert done.stderr == ""  # no progress bar under --json


def test_tampered_venv_exits_1_and_names_the_files(demo_venv):
    venv = demo_venv()
    site = next(venv.glob("lib/python3*/site-packages"))
    (site / "demo_pkg" / "core.py").write_text("ANSWER = 43\n")
    (site / "demo_pkg" / "backdoor.py").write_text("import os\n")
    done = env_check(str(venv), "--json")
    assert done.returncode == 1, done.stderr
    doc = one_object(done.stdout)
    env = doc["sections"]["environment"]
    assert [r["path"] for r in env["changed"]] == ["demo_pkg/core.py"]
    assert [r["path"] for r in env["added"]] == ["demo_pkg/backdoor.py"]
    assert {f["detector"] for f in doc["findings"]} == {"env-check:changed", "env-check:added"}
    # The terminal summary names them too.
    text = env_check(str(venv))
    assert (
        text.returncode == 1 and "demo_pkg/core.py" in text.stdout and "demo_pkg/backdoor.py" in text.stdout
    )


@pytest.mark.parametrize("arg", ["/no/such/dir", "."])
def test_a_folder_that_is_no_environment_is_bad_input(arg, tmp_path):
    done = subprocess.run(
        [RLAUDIT, "env-check", arg, "--json"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("rlaudit: error: ")


@pytest.mark.slow
def test_the_running_environment_is_clean():
    """This interpreter's own site-packages (a fresh `pip install -e .[test]` in CI: some 80
    distributions, about 2 GB with torch; ~5 CPU-seconds of hashing) match their RECORDs."""
    done = env_check("--json")
    doc = one_object(done.stdout)
    assert done.returncode == 0, json.dumps(doc["findings"])[:2000]
    assert doc["sections"]["environment"]["distributions"] > 10
