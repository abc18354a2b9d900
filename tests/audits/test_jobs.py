"""Audits as jobs (`rlaudit.audits.jobs`): the same judgement as `run_audit` on any executor; on Ray,
a real cluster started with ``ray start --head`` and joined through ``rlaudit audit --ray-address``."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rlaudit.audits import AuditConfig, run_audit
from rlaudit.audits.jobs import JobInputError, ModelSpec, TaskSpec, audit_jobs, run_audit_jobs
from rlaudit.cli import app
from rlaudit.executors import open_executor

TESTS = "context,passk"


def _small(seed: int = 0) -> AuditConfig:
    import dataclasses

    config = AuditConfig(seed=seed)
    for name in config:
        config[name] = dataclasses.replace(config[name], n_problems=8)
    return config


def _results(doc: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on where the tests ran: every test's numbers and findings, the verdict."""
    tests = {
        name: {k: v for k, v in t.items() if k != "cost"}
        for name, t in doc["sections"]["audit"]["tests"].items()
    }
    return {"tests": tests, "findings": doc["findings"], "verdict": doc["verdict"]}


def _in_process(path: str, seed: int = 0) -> dict[str, Any]:
    import torch

    from rlaudit.models.loading import load_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a worker runs
    try:
        model, tokenizer = load_model(path)
        return run_audit(model, tokenizer, "arith", TESTS, _small(seed), model_name=path).to_json()
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def saved_tiny(tiny_model_builder: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    model, tokenizer = tiny_model_builder()
    path = tmp_path_factory.mktemp("tiny") / "model"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_jobs_give_run_audits_judgement(saved_tiny: str) -> None:
    ex = open_executor("local")
    doc = run_audit_jobs(ModelSpec(saved_tiny), TaskSpec("arith"), TESTS, _small(), ex).to_json()
    assert _results(doc) == _results(_in_process(saved_tiny))
    assert doc["provenance"]["configs"]["executor"] == {"name": "LocalExecutor", "workers": 1}
    assert doc["provenance"]["model"]["parameters"] > 0


def test_one_job_per_model_test_and_seed() -> None:
    jobs = audit_jobs(
        [ModelSpec("a"), ModelSpec("b")], ["context", "passk"], TaskSpec(), _small(), seeds=[0, 1, 2]
    )
    assert len(jobs) == 12
    assert [(args[0].name, args[1], args[3].seed) for _, args in jobs[:3]] == [
        ("a", "context", 0),
        ("a", "context", 1),
        ("a", "context", 2),
    ]


def test_a_model_that_does_not_load_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(JobInputError, match="cannot load model"):
        ModelSpec(str(tmp_path / "missing")).load()
    with pytest.raises(JobInputError, match="task 'nope'"):
        TaskSpec("nope").build()


def test_ray_without_the_extra_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.util

    from rlaudit.cli import executor_options

    real = importlib.util.find_spec
    monkeypatch.setattr(
        executor_options.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ray" else real(name, *a),
    )
    for verb in (["audit", "tiny", "--ray"], ["bench", "--ray", "--out", str(tmp_path / "b")]):
        res = CliRunner().invoke(app, [*verb, "--json"])
        assert res.exit_code == 2 and res.stdout == "", (verb, res.stdout, res.stderr)
        assert res.stderr.strip().splitlines() == [
            "rlaudit: error: --ray needs Ray, which is not installed: pip install 'rlaudit[ray]'"
        ]
    assert not (tmp_path / "b").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[dict[str, str]]:
    """A real Ray head node (2 CPUs) on a free port, with a token of its own (Ray 2.60 authenticates
    clients; the token never touches ~/.ray), stopped after the module's tests by its own process id:
    ``ray start --block`` takes its node down when terminated."""
    pytest.importorskip("ray")
    ray_bin = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
    if ray_bin is None:
        pytest.skip("no ray command")
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    head = subprocess.Popen(
        [
            ray_bin,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert head.poll() is None, "ray start --head exited"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the Ray head did not come up in 300 s"
            time.sleep(1)
        yield {**env, "RLAUDIT_TEST_RAY_ADDRESS": f"127.0.0.1:{port}"}
    finally:
        head.terminate()
        try:
            head.wait(timeout=120)
        except subprocess.TimeoutExpired:
            head.kill()


@pytest.mark.slow
def test_audit_on_a_ray_cluster_matches_one_process(real_organism: Any, ray_cluster: dict[str, str]) -> None:
    """`rlaudit audit --ray-address` as a user runs it (a subprocess; stdout one JSON object), on a real
    organism, against `run_audit` in this process: the same numbers, findings and verdict."""
    path = str(real_organism("locked"))
    env = ray_cluster
    cmd = [sys.executable, "-m", "rlaudit", "audit", path, "--tests", TESTS, "--n", "8"]
    proc = subprocess.run(
        [*cmd, "--ray-address", env["RLAUDIT_TEST_RAY_ADDRESS"], "--workers", "2", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    assert _results(doc) == _results(_in_process(path))
    assert doc["provenance"]["configs"]["executor"] == {"name": "RayExecutor", "workers": 2}
