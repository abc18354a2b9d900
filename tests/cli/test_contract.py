"""The CLI contract, as users meet it: the installed `rlaudit` console script run as a subprocess.

Every verb's `--json` prints exactly one JSON object on stdout (the judgement, valid against the one
schema) and nothing else; exit 0 clean / 1 flagged / 2 bad input (one line on stderr, nothing written) /
3 internal error. Golden files (tests/cli/golden/) pin each verb's JSON: the whole of it for the
deterministic example monitor run (provenance masked), its key structure for the model verbs.
Regenerate them with ``RLAUDIT_UPDATE_GOLDEN=1 pytest tests/cli/test_contract.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rlaudit.judgement import validate

RLAUDIT = shutil.which("rlaudit", path=str(Path(sys.executable).parent)) or "rlaudit"
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("RLAUDIT_UPDATE_GOLDEN") == "1"
VOLATILE = ("provenance",)  # times, versions, hashes of temp paths


def rlaudit(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [RLAUDIT, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, check=False
    )


def one_json_object(stdout: str) -> dict[str, Any]:
    """stdout must be exactly one JSON object (a trailing newline allowed), valid against the schema."""
    doc, end = json.JSONDecoder().raw_decode(stdout)
    assert stdout[end:].strip() == "", f"more than one object on stdout: {stdout[end:][:200]!r}"
    assert isinstance(doc, dict)
    validate(doc)
    return doc


def skeleton(x: Any) -> Any:
    """The key structure of a JSON value: dict keys kept (run/split names are data, so maps of series
    collapse to one representative), list -> skeleton of its first item, scalars -> type name."""
    if isinstance(x, dict):
        return {k: skeleton(v) for k, v in sorted(x.items())}
    if isinstance(x, list):
        return [skeleton(x[0])] if x else []
    return type(x).__name__


def rounded(x: Any) -> Any:
    """Floats to 9 significant digits: a parallel DuckDB sum may differ in its last bits between runs."""
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v) for v in x]
    return float(f"{x:.9g}") if isinstance(x, float) else x


def check_golden(name: str, value: Any) -> None:
    value = rounded(value)
    path = GOLDEN / f"{name}.json"
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"no golden file {path}; run with RLAUDIT_UPDATE_GOLDEN=1 to write it")
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")
    assert value == json.loads(path.read_text()), f"{name} differs from {path} (see the module docstring)"


def masked(doc: dict[str, Any]) -> dict[str, Any]:
    """The doc without what differs between machines: provenance, and the folders of input paths."""
    out = json.loads(json.dumps({k: v for k, v in doc.items() if k not in VOLATILE}))
    for r in out.get("sections", {}).get("ingested", []):
        r["path"] = Path(r["path"]).name
    return out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_model_builder) -> Path:
    model, tokenizer = tiny_model_builder()
    path = tmp_path_factory.mktemp("ckpt") / "tiny-random"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_monitor_example(tmp_path: Path):
    from rlaudit.monitor import EXAMPLE_LOG

    store = str(tmp_path / "s")
    res = rlaudit("monitor", str(EXAMPLE_LOG), "--json", "--html", str(tmp_path / "r.html"), "--store", store)
    assert res.returncode == 1, res.stderr
    doc = one_json_object(res.stdout)
    assert doc["kind"] == "monitor" and doc["verdict"] == "hacking-likely"
    prov = doc["provenance"]
    assert prov["command"][:2] == ["rlaudit", "monitor"] and prov["inputs"][0]["sha256"]
    assert prov["store"]["rows"] == sum(r["rows_added"] for r in doc["sections"]["ingested"]) > 0
    check_golden("monitor_example", masked(doc))
    assert (tmp_path / "r.html").stat().st_size > 0


def test_show_reads_the_store_back_and_report_rerenders(tmp_path: Path):
    from rlaudit.monitor import EXAMPLE_LOG

    store = tmp_path / "store"
    first = one_json_object(rlaudit("monitor", str(EXAMPLE_LOG), "--store", str(store), "--json").stdout)
    shown = rlaudit("show", str(store), "--json", "--html", str(tmp_path / "show.html"))
    assert shown.returncode == 1, shown.stderr
    doc = one_json_object(shown.stdout)
    assert doc["kind"] == "show" and doc["verdict"] == first["verdict"]
    assert doc["findings"] == first["findings"] and doc["sections"]["signals"] == first["sections"]["signals"]
    same = one_json_object(rlaudit("monitor", "--store", str(store), "--json").stdout)  # no input: read back
    assert same["kind"] == "show" and same["findings"] == first["findings"]

    saved = tmp_path / "result.json"
    saved.write_text(shown.stdout)
    again = rlaudit("report", str(saved), "--html", str(tmp_path / "again.html"), "--json")
    assert again.returncode == 1 and one_json_object(again.stdout) == doc
    assert (tmp_path / "again.html").read_bytes() == (tmp_path / "show.html").read_bytes()


def test_eval(checkpoint: Path):
    res = rlaudit("eval", str(checkpoint), "--n", "8", "--k", "2", "--json")
    assert res.returncode == 0, res.stderr
    doc = one_json_object(res.stdout)
    assert doc["kind"] == "eval" and doc["verdict"] is None
    assert res.stderr == "", res.stderr  # no bar either: transformers' "Loading weights" one included
    assert doc["provenance"]["model"]["parameters"] > 0 and doc["provenance"]["model"]["sha256"]
    check_golden("eval_skeleton", skeleton(masked(doc)))


def test_audit(checkpoint: Path, tmp_path: Path):
    res = rlaudit(
        "audit",
        str(checkpoint),
        "--tests",
        "context,passk",
        "--n",
        "4",
        "--json",
        "--html",
        str(tmp_path / "a.html"),
    )
    assert res.returncode in (0, 1), res.stderr
    doc = one_json_object(res.stdout)
    assert doc["kind"] == "audit" and set(doc["sections"]["audit"]["tests"]) == {"context_gap", "passk"}
    assert doc["exit_code"] == res.returncode
    check_golden("audit_skeleton", skeleton(masked(doc)))


def test_elicit_owns_stdout_and_refuses_a_used_store(checkpoint: Path, tmp_path: Path):
    out = tmp_path / "run"
    args = ["--steps", "1", "--prompts-per-step", "2", "--num-generations", "4", "--eval-prompts", "8"]
    res = rlaudit("elicit", str(checkpoint), *args, "--out", str(out), "--json")
    assert res.returncode in (0, 1), res.stderr
    doc = one_json_object(res.stdout)  # TRL's log lines went to stderr
    assert doc["kind"] == "elicit" and doc["exit_code"] == res.returncode
    assert set(doc["sections"]["elicitation"]["before"]) == {"target", "control"}
    assert json.loads((out / "elicit.json").read_text()) == doc
    check_golden("elicit_skeleton", skeleton(masked(doc)))

    again = rlaudit("elicit", str(checkpoint), *args, "--out", str(out), "--json")
    assert again.returncode == 2 and again.stdout == "" and "--append" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["monitor", "{tmp}/missing.jsonl", "--json"], "no such file"),
        (["monitor", "--html", "{tmp}/nodir/r.html"], "--html: no directory"),
        (["show", "{tmp}"], "not a rollout store"),
        (["monitor", "--store", "{tmp}/new-store", "--json"], "not a rollout store"),
        (["report", "{tmp}/bad.json"], "not JSON"),
        (["report", "{tmp}/wrong.json"], "required property"),
        (["monitor", "--detectors", "nope"], "--detectors: unknown"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, args: list[str], message: str):
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "wrong.json").write_text(json.dumps({"verdict": "fine"}))
    before = sorted(p.name for p in tmp_path.iterdir())
    res = rlaudit(*(a.format(tmp=tmp_path) for a in args))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stdout == "" and len(res.stderr.strip().splitlines()) == 1 and message in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_an_internal_error_is_one_line_and_exit_3(monkeypatch):
    from typer.testing import CliRunner

    import rlaudit.monitor
    from rlaudit.cli import app

    def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError("planted bug")

    monkeypatch.setattr(rlaudit.monitor, "run_monitor", broken)
    res = CliRunner().invoke(app, ["monitor", "--json"])
    assert res.exit_code == 3 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "internal error: KeyError" in res.stderr and "report" in res.stderr


def test_organism_json_in_process(tmp_path: Path, monkeypatch, tiny_model_builder, small_organism_config):
    """`organism build --json` (recipes shrunk to seconds: the subprocess run is the slow test below)."""
    from typer.testing import CliRunner

    import rlaudit.organisms as organisms
    from rlaudit.cli import app

    real = organisms.build_organism

    def build(kind: str, **kwargs: Any) -> Path:
        return real(
            kind, config=small_organism_config(kind), base_loader=lambda: tiny_model_builder(), **kwargs
        )

    monkeypatch.setattr(organisms, "build_organism", build)
    res = CliRunner().invoke(
        app, ["organism", "build", "--kind", "locked", "--out", str(tmp_path / "o"), "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = one_json_object(res.stdout)
    assert doc["kind"] == "organism" and doc["sections"]["organism"]["kind"] == "locked"
    organism = doc["sections"]["organism"]
    # The manifest's own keys (its values hold timings and per-recipe configs that differ by kind).
    top = {k: type(v).__name__ for k, v in sorted(organism.items())}
    check_golden(
        "organism_skeleton", {**skeleton({**masked(doc), "sections": {}}), "sections": {"organism": top}}
    )


@pytest.mark.slow
def test_organism_build(tmp_path: Path, checkpoint: Path):
    out = tmp_path / "honest"
    res = rlaudit(
        "organism", "build", "--kind", "honest", "--base", str(checkpoint), "--out", str(out), "--json"
    )
    assert res.returncode == 0, res.stderr
    doc = one_json_object(res.stdout)
    assert doc["kind"] == "organism" and doc["sections"]["organism"]["kind"] == "honest"
    assert doc["provenance"]["model"]["path"] == str(out.resolve())


@pytest.mark.parametrize(
    "verb",
    [
        ["eval", "tiny"],
        ["audit", "tiny"],
        ["elicit", "tiny"],
        ["organism", "build", "--kind", "honest", "--out", "x"],
    ],
)
def test_model_verbs_without_the_train_extra_say_how_to_install(monkeypatch, verb: list[str]):
    import importlib.util

    from typer.testing import CliRunner

    from rlaudit.cli import app

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "trl" else real(name, *a)
    )
    res = CliRunner().invoke(app, [*verb, "--json"])
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "[train]" in res.stderr and "torch==2.13.0" in res.stderr
