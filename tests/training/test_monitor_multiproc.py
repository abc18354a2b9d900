"""Issue 15: findings are the same whether the run used 1 or N processes. A real 2-process CPU run
(torchrun, gloo) of the tiny GRPO setup against a 1-process run of the same global batch: every
process's rollouts are gathered to the main process, so both stores hold the same rows and both
judgements the same findings. Slow: three Python processes that each import torch and TRL."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")

from rlaudit.records import RolloutStore

GLOBAL_BATCH = 8  # 2 prompts x 4 generations a step
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(out: Path, processes: int) -> dict:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    module = ["-m", "tests.training.multiproc_grpo", str(out), str(GLOBAL_BATCH)]
    if processes == 1:
        cmd = [sys.executable, *module]
    else:
        torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
        cmd = [torchrun, f"--nproc_per_node={processes}", f"--master_port={_free_port()}", *module]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        (out / "stderr.txt").write_text(proc.stderr)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "findings.json").read_text())


def _rows(store: Path) -> list[tuple]:
    con = RolloutStore(store, create=False).connect()
    try:
        return con.execute(
            "SELECT step, prompt, completion, reward, split FROM rollouts ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_two_processes_store_and_judge_what_one_does(tmp_path):
    one = _launch(tmp_path / "one", 1)
    two = _launch(tmp_path / "two", 2)
    assert one["world"] == 1 and two["world"] == 2
    assert one["errors"] == 0 and two["errors"] == 0
    rows_one, rows_two = _rows(tmp_path / "one" / "store"), _rows(tmp_path / "two" / "store")
    assert len(rows_one) == 3 * GLOBAL_BATCH  # every rollout of every step, not the main process's half
    assert rows_two == rows_one
    assert two["findings"] == one["findings"]
    assert two["signals"] == one["signals"]  # every per-step signal, not only what crossed a threshold
    assert one["signals"]["runs"]
