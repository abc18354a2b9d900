"""Real Inspect AI logs for the tests: ``inspect eval rlaudit/context_gap`` on a real local model.

The model is the embedded tiny Llama (`rlaudit.models.tiny`), saved with ``save_pretrained`` so that
Inspect's own ``hf/`` provider loads it from a local directory; the log is written by Inspect's own
code. ``HF_HUB_OFFLINE=1``: Inspect looks its model names up on the Hub, which this machine cannot reach.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from rlaudit.inspect_tasks import RAW_PROMPT_TEMPLATE

INSPECT = str(Path(sys.executable).with_name("inspect"))


def save_tiny(out: Path) -> Path:
    """The embedded tiny model (test size, seed 0) as a local Hugging Face directory."""
    from rlaudit.models.tiny import TinyModelConfig, build_tiny_model

    model, tokenizer = build_tiny_model(
        TinyModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def run_inspect_eval(model_dir: Path, log_dir: Path, *args: str, timeout: float = 300) -> Path:
    """Run ``inspect eval rlaudit/context_gap`` on `model_dir` (greedy, raw prompts) with the extra
    `args` (``-T n_problems=3``, ``--epochs 2``); returns the one log it wrote."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "INSPECT_LOG_DIR": str(log_dir)}
    cmd = [
        INSPECT, "eval", "rlaudit/context_gap", "--model", "hf/local",
        "-M", f"model_path={model_dir}", "-M", "do_sample=false",
        "-M", f"chat_template='{RAW_PROMPT_TEMPLATE}'",
        "--log-dir", str(log_dir), "--display", "none", *args,
    ]  # fmt: skip
    before = set(log_dir.glob("*.eval")) if log_dir.exists() else set()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    new = sorted(set(log_dir.glob("*.eval")) - before)
    assert len(new) == 1, (new, done.stderr[-2000:])
    return new[0]


def copy_log(log: Path, to: Path) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(log, to)
    return to
