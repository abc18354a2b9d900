"""Shared fixtures. Model fixtures import torch/transformers lazily: the core tests need neither."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read or write the user's model cache (~/.cache/rlaudit): a session temp dir instead."""
    import os

    os.environ["RLAUDIT_CACHE"] = str(tmp_path_factory.mktemp("rlaudit-cache"))


# Smaller than the default TinyModelConfig: the tests need a real model, not a good one.
TEST_MODEL = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "seed": 0}


@pytest.fixture(scope="session")
def tiny_model_builder() -> Callable[..., tuple[Any, Any]]:
    """``build(**overrides) -> (model, tokenizer)``: a fresh, randomly initialised tiny Llama per call.

    Session-scoped as a factory rather than as a model, because training tests change the weights.
    Building takes milliseconds; overrides are `TinyModelConfig` fields.
    """
    pytest.importorskip("transformers")
    from rlaudit.models.tiny import TinyModelConfig, build_tiny_model

    def build(**overrides: Any) -> tuple[Any, Any]:
        return build_tiny_model(TinyModelConfig(**{**TEST_MODEL, **overrides}))

    return build


@pytest.fixture(scope="session")
def small_organism_config() -> Callable[[str], Any]:
    """``config(kind)``: the organism recipe's default config shrunk to seconds (arith only, a few SFT
    steps, two GRPO steps of two completions, a handful of evaluation prompts): for testing the build
    machinery, not the behaviour."""
    pytest.importorskip("trl")
    import dataclasses

    from rlaudit.organisms import default_config
    from rlaudit.organisms.recipe import GRPORunConfig, SFTConfig, VerifyConfig

    grpo = {"prompts_per_step": 2, "num_generations": 2}

    def config(kind: str) -> Any:
        default = default_config(kind)
        changes: dict[str, Any] = {
            "tasks": ("arith",),
            "sft": SFTConfig(rows_per_task=64, steps=3, batch_size=8),
            "harden": GRPORunConfig(steps=2 if default.harden.steps else 0, **grpo),
            "verify": VerifyConfig(grpo=GRPORunConfig(steps=2, **grpo), eval_prompts=4),
            "eval_prompts": 16,
            "eval_samples": 2,
        }
        if kind == "stochastic":  # an untrained model cannot reach the recipe's greedy target accuracy
            changes |= {"greedy_target": (0.0, 1.0), "check_prompts": 16}
        if kind == "mimic":
            changes["weak"] = config("weak")
            changes["samples_per_prompt"] = 2
        return dataclasses.replace(default, **changes)

    return config


@pytest.fixture(scope="session")
def real_organism(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Any]:
    """``path = real_organism("locked")``: a tiny organism built with its default recipe (seed 0), once
    per session, for the slow tests that check behaviour. ``RLAUDIT_ORGANISMS=DIR`` uses organisms
    already built there (``benchmarks/build_organisms.py --out DIR``) instead of building them."""
    import os
    from pathlib import Path

    pytest.importorskip("trl")
    from rlaudit.organisms import build_organism

    given = os.environ.get("RLAUDIT_ORGANISMS")
    root = Path(given) if given else tmp_path_factory.mktemp("organisms")
    built: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in built:
            path = root / kind
            built[kind] = path if given else build_organism(kind, base="tiny", out=path, seed=0)
        return built[kind]

    return get


@pytest.fixture(scope="session")
def demo_venv(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Any]:
    """``venv = demo_venv()``: a fresh copy of a virtual environment (``python -m venv --without-pip``)
    into which pip (this interpreter's, ``pip --python``) installed one small pure-Python wheel:
    ``demo_pkg`` with a module, a subpackage and a console script. The wheel is written here, so the
    tests need no index; its installed files, RECORD and compiled bytecode are pip's own.
    Each call copies the environment, so a test may tamper with it."""
    import base64
    import hashlib
    import shutil
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = tmp_path_factory.mktemp("demo-venv")
    files = {
        "demo_pkg/__init__.py": "def hello() -> None:\n    print('hello')\n",
        "demo_pkg/core.py": "ANSWER = 42\n",
        "demo_pkg/sub/__init__.py": "",
        "demo_pkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n",
        "demo_pkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: rlaudit-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
        "demo_pkg-1.0.dist-info/entry_points.txt": "[console_scripts]\ndemo-hello = demo_pkg:hello\n",
    }
    record = []
    wheel = root / "demo_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, text in files.items():
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(data)}")
            z.writestr(name, data)
        z.writestr(
            "demo_pkg-1.0.dist-info/RECORD", "\n".join([*record, "demo_pkg-1.0.dist-info/RECORD,,"]) + "\n"
        )
    base = root / "base"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(base / "bin" / "python"), "install", "-q",
         "--no-index", "--no-deps", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    copies = iter(range(1_000_000))

    def copy() -> Path:
        dest = root / f"venv{next(copies)}"
        shutil.copytree(base, dest, symlinks=True)
        return dest

    return copy
