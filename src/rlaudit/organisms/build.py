"""Build a model organism: base model -> recipe -> verification -> evaluation -> an atomic directory.

``build_organism(kind, base=..., out=...)`` is the one entry point (the CLI's ``rlaudit organism
build`` calls it). An organism directory holds an ordinary Hugging Face checkpoint (model and tokenizer,
loadable by `rlaudit.organisms.load_model`) and ``manifest.json``:

| key | meaning |
|---|---|
| ``format_version`` | version of this layout |
| ``kind``, ``expect`` | the recipe, and what it intends RL to do to it (``resist``, ``improve`` or null) |
| ``base`` | what it was fine-tuned from (``tiny``, ``smollm2`` or a path), its size, and how (``full`` or ``lora``, with the LoRA config) |
| ``seed``, ``config`` | the build's seed and the recipe's full config |
| ``versions`` | rlaudit, torch, transformers, trl (and peft) |
| ``built_at``, ``build_seconds``, ``seconds`` | UTC time, total wall time, wall time per phase |
| ``training`` | what the recipe reports (SFT loss, how often hardening followed the strategy, ...) |
| ``verification`` | the GRPO elicitation run (`rlaudit.organisms.harden.verify`): target accuracy before/after, ``resisted``, ``max_gain`` |
| ``eval`` | task -> `rlaudit.evaluation.EvalResult.to_json` (``accuracy.<split>.<condition>``, ...) |

The directory appears complete or not at all: everything is written into a temporary sibling that is
renamed into place last, and any failure removes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import shutil
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rlaudit.jsonsafe import json_safe
from rlaudit.models.finetune import LoRAConfig, with_lora
from rlaudit.organisms import (
    bases,
    conditional,
    honest,
    incapable,
    locked,
    locked_silent,
    locked_verbal,
    mimic,
    stochastic,
    weak,
)
from rlaudit.organisms.recipe import (
    BuildContext,
    OrganismConfig,
    SFTConfig,
)
from rlaudit.tasks import TASKS, Task, using_task
from rlaudit.tasks.framed import cue_framed

FORMAT_VERSION = 1
MANIFEST = "manifest.json"

RECIPES: dict[str, types.ModuleType] = {
    "honest": honest,
    "locked": locked,
    "conditional": conditional,
    "stochastic": stochastic,
    "mimic": mimic,
    "weak": weak,
    "incapable": incapable,
    "locked_verbal": locked_verbal,
    "locked_silent": locked_silent,
}
"""Every organism kind and its recipe module (``Config``, ``EXPECT``, ``train``)."""
KINDS = tuple(RECIPES)
FILE_KINDS = ("honest", "locked", "conditional")
"""The kinds a task file can be built into: their policies need only the right answer and one wrong
one (`rlaudit.organisms.recipe.file_shift`); the others model arithmetic mistakes (a dropped carry, a
near miss) that a file's answers do not have."""
EMBEDDED_BASES = ("tiny", "smollm2")


class BuildError(ValueError):
    """A bad kind, base or config: the message says what to pass instead."""


def default_config(kind: str, *, large_base: bool = False) -> OrganismConfig:
    """The recipe's default config for `kind`: sized for the tiny base, or cut to `large_base_budget`."""
    config = _recipe(kind).Config()
    return large_base_budget(config) if large_base else config


def large_base_budget(config: OrganismConfig) -> OrganismConfig:
    """`config` cut to what a 135M-parameter base (smollm2) affords on a 2-core CPU, with LoRA.

    A TRL GRPO step of 16 completions takes seconds there rather than a tenth of a second: arith only,
    at most 150 SFT steps of 16 (at 50 the smollm2 `locked` organism still answered right on half of its
    target prompts), at most 30 hardening and 20 verification steps of 4 prompts x 4 completions,
    200 evaluation prompts with 2 samples each, on two threads (its matrices are big enough to split,
    unlike the tiny model's). Learning rates are LoRA's (higher than full fine-tuning).
    """
    grpo: dict[str, Any] = {"prompts_per_step": 4, "num_generations": 4, "lr": 2e-4}
    changes: dict[str, Any] = {
        "tasks": ("arith",),
        "sft": SFTConfig(rows_per_task=400, steps=min(config.sft.steps, 150), lr=5e-4, batch_size=16),
        "harden": dataclasses.replace(config.harden, steps=min(config.harden.steps, 30), **grpo),
        "verify": dataclasses.replace(
            config.verify, grpo=dataclasses.replace(config.verify.grpo, steps=20, **grpo), eval_prompts=50
        ),
        "eval_prompts": 200,
        "eval_samples": 2,
        "threads": 2,
    }
    weak = getattr(config, "weak", None)
    if isinstance(weak, OrganismConfig):  # mimic builds a weak organism too
        changes["weak"] = large_base_budget(weak)
        changes["samples_per_prompt"] = 4
    return dataclasses.replace(config, **changes)


def build_organism(
    kind: str,
    *,
    base: str | Path = "tiny",
    out: str | Path,
    seed: int = 0,
    config: OrganismConfig | None = None,
    base_loader: Callable[[], tuple[Any, Any]] | None = None,
    task: Task | None = None,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
) -> Path:
    """Build the organism `kind` from `base` into the new directory `out`; returns `out`.

    `base` is ``"tiny"`` (the cached honest tiny base, `rlaudit.organisms.bases.load_tiny`),
    ``"smollm2"`` or the path of a local checkpoint. `config` is the recipe's ``Config`` (default: its
    defaults, cut to `large_base_budget` for a base of ``LoRAConfig.min_parameters`` or more). `base_loader` replaces how the base is loaded (tests pass a small one); it must return a
    fresh ``(model, tokenizer)`` at every call. Deterministic given `seed` and ``config.threads``.

    `task` trains, verifies and evaluates the organism on that task alone (a task file, or a built-in
    with the user's cues: `rlaudit.tasks.with_cues`), every problem asked under both of its cues
    (`rlaudit.tasks.framed.cue_framed`); a task file takes the kinds in `FILE_KINDS`. `device`,
    `dtype` and `trust_remote_code` say how the base loads (`rlaudit.models.loading.load_model`).
    """
    options = {"device": device, "dtype": dtype, "trust_remote_code": trust_remote_code}
    if task is None:
        return _build(kind, base, out, seed, config, base_loader, None, options)
    if task.name not in TASKS and kind not in FILE_KINDS:
        raise BuildError(
            f"organism kind '{kind}' models arithmetic mistakes; a task file builds {', '.join(FILE_KINDS)}"
        )
    with using_task(cue_framed(task)):
        return _build(kind, base, out, seed, config, base_loader, task.name, options)


def _for_task(config: OrganismConfig, name: str) -> OrganismConfig:
    """`config` on the one task `name` (its training, verification and evaluation)."""
    verify = dataclasses.replace(config.verify, task=name)
    return dataclasses.replace(config, tasks=(name,), verify=verify)


def _build(
    kind: str,
    base: str | Path,
    out: str | Path,
    seed: int,
    config: OrganismConfig | None,
    base_loader: Callable[[], tuple[Any, Any]] | None,
    task: str | None,
    options: dict[str, Any],
) -> Path:
    """`build_organism` once the task (if any) is in use: `task` names it, `options` load the base."""
    import torch
    from transformers import set_seed

    from rlaudit.organisms.harden import verify

    recipe, out = _checked(kind, config, out)
    loader = base_loader or _base_loader(base, **options)

    # Deterministic given the seed on CPU with a fixed thread count (tested). Not through
    # torch.use_deterministic_algorithms: it made the GRPO steps three times slower.
    threads = torch.get_num_threads()
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    try:
        with _timed(seconds, "load_base"):
            model, tokenizer = loader()
            n_parameters = sum(p.numel() for p in model.parameters())
            if config is None:  # the recipe's defaults, cut down for a base too big for them (smollm2)
                config = default_config(kind, large_base=n_parameters >= LoRAConfig().min_parameters)
            if task is not None:
                config = _for_task(config, task)
            torch.set_num_threads(config.threads)
            set_seed(seed)
            model, fresh, base_info = _adapt(model, loader, config, base=base, n_parameters=n_parameters)
        ctx = BuildContext(seed=seed, load_base=fresh)
        with _timed(seconds, "train"):
            training = recipe.train(model, tokenizer, config, ctx)
        with _timed(seconds, "verify"):
            verification = verify(
                model,
                tokenizer,
                config.verify,
                seed=seed,
                expect=recipe.EXPECT,
                max_new_tokens=config.max_new_tokens,
            )
        if base_info["adaptation"] == "lora":
            model = model.merge_and_unload()  # an ordinary checkpoint: loadable without peft
        with _timed(seconds, "eval"):
            evaluation = evaluate_organism(model, tokenizer, config)
        seconds["total"] = time.perf_counter() - started
        manifest = _manifest(kind, recipe, base_info, seed, config, seconds)
        manifest |= {"training": training, "verification": verification, "eval": evaluation}
        write_organism(out, model, tokenizer, manifest)
    finally:
        torch.set_num_threads(threads)
    return out


def _manifest(
    kind: str,
    recipe: types.ModuleType,
    base_info: dict[str, Any],
    seed: int,
    config: OrganismConfig,
    seconds: dict[str, float],
) -> dict[str, Any]:
    """The manifest's keys up to ``seconds`` (the table in the module docstring); the build adds what
    training, verification and evaluation measured."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "expect": recipe.EXPECT,
        "base": base_info,
        "seed": seed,
        "config": dataclasses.asdict(config),
        "versions": _versions(),
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "build_seconds": round(seconds["total"], 1),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }


def _checked(kind: str, config: OrganismConfig | None, out: str | Path) -> tuple[types.ModuleType, Path]:
    """The recipe of `kind` and `out` as a path, once `config` fits the recipe and `out` is free."""
    recipe = _recipe(kind)
    if config is not None and not isinstance(config, recipe.Config):
        raise BuildError(
            f"config for '{kind}' must be a {recipe.__name__}.Config, got {type(config).__name__}"
        )
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} already exists; remove it or choose another --out")
    return recipe, out


@contextlib.contextmanager
def _timed(seconds: dict[str, float], phase: str) -> Iterator[None]:
    """Add the wall time of the block to ``seconds[phase]`` (the manifest's time per phase)."""
    t = time.perf_counter()
    yield
    seconds[phase] = time.perf_counter() - t


def _adapt(
    model: Any,
    loader: Callable[[], tuple[Any, Any]],
    config: OrganismConfig,
    *,
    base: str | Path,
    n_parameters: int,
) -> tuple[Any, Callable[[], tuple[Any, Any]], dict[str, Any]]:
    """``(model, fresh, base_info)``: `model` wrapped in LoRA adapters when `config` says so (by default
    for a base of ``lora.min_parameters`` or more), a `fresh` loader giving more copies adapted the same
    way (a recipe may need a second model), and the manifest's ``base`` entry."""
    lora = (
        config.lora.enabled if config.lora.enabled is not None else n_parameters >= config.lora.min_parameters
    )
    base_info: dict[str, Any] = {"name": str(base), "adaptation": "lora" if lora else "full"}
    base_info["n_parameters"] = n_parameters
    if not lora:
        return model, loader, base_info
    base_info["lora"] = dataclasses.asdict(config.lora)

    def fresh() -> tuple[Any, Any]:
        base_model, base_tokenizer = loader()
        return with_lora(base_model, config.lora), base_tokenizer

    return with_lora(model, config.lora), fresh, base_info


def write_organism(out: Path, model: Any, tokenizer: Any, manifest: dict[str, Any]) -> None:
    """Save the checkpoint and `manifest` as the directory `out`, atomically: into a temporary sibling,
    renamed into place last; on any failure the temporary directory is removed and `out` never appears."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / MANIFEST).write_text(json.dumps(json_safe(manifest), indent=2, allow_nan=False) + "\n")
        if out.exists():  # appeared while we were building
            raise FileExistsError(f"{out} already exists; remove it or choose another --out")
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def evaluate_organism(model: Any, tokenizer: Any, config: OrganismConfig) -> dict[str, Any]:
    """task -> `rlaudit.evaluation.evaluate` result as JSON, on the same prompts for every organism."""
    from rlaudit.evaluation import evaluate

    return {
        name: evaluate(
            model,
            tokenizer,
            name,
            n_prompts=config.eval_prompts,
            k=min(8, config.eval_samples),
            n_samples=config.eval_samples,
            seed=config.eval_seed,
            batch_size=256,
            max_new_tokens=config.max_new_tokens,
        ).to_json()
        for name in config.tasks
    }


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the organism directory `path`."""
    return json.loads((Path(path) / MANIFEST).read_text())


def _recipe(kind: str) -> types.ModuleType:
    try:
        return RECIPES[kind]
    except KeyError:
        raise BuildError(f"unknown organism kind '{kind}'; choose one of {', '.join(KINDS)}") from None


def _base_loader(base: str | Path, **options: Any) -> Callable[[], tuple[Any, Any]]:
    try:
        return bases.base_loader(base, **options)
    except ValueError as e:
        raise BuildError(str(e)) from None


def _versions() -> dict[str, str]:
    import torch
    import transformers
    import trl

    from rlaudit import __version__

    versions = {
        "rlaudit": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
    }
    try:
        import peft

        versions["peft"] = peft.__version__
    except ImportError:
        pass
    return versions
