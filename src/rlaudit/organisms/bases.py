"""The bases organisms are built from, by name: ``tiny``, trained here on the task mix on first use and
cached; ``smollm2``; or a local checkpoint. `load_model` is what every verb that takes ``--model`` calls.

The tiny base is the character-level Llama of `rlaudit.models.tiny`, trained on every task (``arith``
and ``mcq``, both splits, both cues, every answer correct). ``load_tiny()`` is what
``load_model("tiny")`` returns. On first use it trains the model from its seeded random init for about
a minute and a half of one CPU core (`rlaudit.models.finetune.fine_tune`), checks its greedy accuracy on
held-out prompts, and saves it with ``save_pretrained`` plus a ``manifest.json`` (config, seed, steps,
measured accuracy, versions) under ``<cache>/models/tiny-base-<key>/``; every later call loads that
directory (a fraction of a second). It lives here, above `rlaudit.models`, because its data and its
check are tasks: models know nothing of tasks or evaluation.

The base is honest and capable everywhere: the model organisms are fine-tuned from it, so whatever they
do differently on target prompts or under the training cue is what their recipe taught them, not
something the base brought along.

The cache key hashes the training recipe (`TinyBaseConfig`, `RECIPE_VERSION`) and a sample of the
training prompts, so a change to either (a new prompt format, say) trains a new base rather than
loading a stale one. Training is deterministic given the config on one machine: the model init, the
data and the batch order are seeded, and torch runs on a fixed number of threads (`TinyBaseConfig.threads`;
a different thread count may change float rounding, and so the weights, slightly).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from rlaudit import __version__
from rlaudit.evaluation import greedy_correct
from rlaudit.models.cache import publish_directory, user_cache_dir
from rlaudit.models.device import resolve_device, resolve_dtype
from rlaudit.models.finetune import fine_tune
from rlaudit.models.loading import load_model as load_checkpoint
from rlaudit.models.loading import prepare_for_generation
from rlaudit.models.threads import torch_threads
from rlaudit.models.tiny import TinyModelConfig, build_tiny_model
from rlaudit.tasks import CELLS, CONDITIONS, SPLITS, get_task

RECIPE_VERSION = 1
"""Bump when the training loop changes in a way `TinyBaseConfig` does not capture: retrains the cached base."""
MANIFEST = "manifest.json"
TASKS = ("arith", "mcq")


@dataclass
class TinyBaseConfig:
    """How the tiny base is trained. The defaults reach 100% greedy accuracy on both tasks (measured by
    ``benchmarks/tiny_base.py``); tests pass a smaller model and fewer steps."""

    model: TinyModelConfig = field(default_factory=TinyModelConfig)
    """Shape and init seed of the model (`rlaudit.models.tiny.TinyModelConfig`)."""
    steps: int = 1000
    """Optimizer steps; at 500 mcq accuracy is ~97%, at 1000 100%."""
    batch_size: int = 64
    """Examples per step, each freshly drawn."""
    lr: float = 3e-3
    """Peak AdamW learning rate: linear warm-up over `warmup_steps`, cosine decay to a tenth."""
    warmup_steps: int = 50
    mcq_fraction: float = 0.6
    """Share of ``mcq`` examples in the mix (the rest ``arith``): mcq is the harder of the two."""
    difficulty: int = 9
    """Largest operand of the training and evaluation prompts (the tasks' default)."""
    seed: int = 0
    """Seed of the training data and batch order (the init has its own, ``model.seed``)."""
    threads: int = 1
    """torch threads while training. One: at this size a second thread barely helps, and an
    oversubscribed core (another process on the machine) makes OpenMP's spin-waits slower than one."""
    eval_prompts: int = 400
    """Held-out prompts per task on which accuracy is measured after training (100 per cell)."""
    min_accuracy: float = 0.95
    """Warn if greedy accuracy in any task x split x condition cell ends below this."""

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):  # read back from a manifest
            self.model = TinyModelConfig(**self.model)
        for name in ("steps", "batch_size", "threads", "eval_prompts", "difficulty"):
            if getattr(self, name) < 1:
                raise ValueError(f"TinyBaseConfig.{name} must be >= 1 (got {getattr(self, name)})")
        if not 0 <= self.mcq_fraction <= 1:
            raise ValueError(f"mcq_fraction must be in [0, 1] (got {self.mcq_fraction}); 0.6 is the default")
        if not self.lr > 0 or self.warmup_steps < 0:
            raise ValueError(
                f"need lr > 0 and warmup_steps >= 0 (got lr={self.lr}, warmup_steps={self.warmup_steps})"
            )


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """`cache_dir` if given, else rlaudit's user cache (``$RLAUDIT_CACHE``, ``$XDG_CACHE_HOME/rlaudit``
    or ``~/.cache/rlaudit``, the rule of `rlaudit.models.cache.user_cache_dir`)."""
    return Path(cache_dir).expanduser() if cache_dir is not None else user_cache_dir()


def cache_key(config: TinyBaseConfig) -> str:
    """12 hex digits naming the recipe: `config`, `RECIPE_VERSION` and a sample of the training prompts."""
    sample = [get_task(t).make_dataset(8, seed=0, difficulty=config.difficulty) for t in TASKS]
    blob = json.dumps({"recipe": RECIPE_VERSION, "config": _key_dict(config), "data": sample}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def tiny_base_dir(cache_dir: str | Path | None = None, config: TinyBaseConfig | None = None) -> Path:
    """Where the base trained with `config` lives (whether or not it has been trained yet)."""
    config = config or TinyBaseConfig()
    return cache_root(cache_dir) / "models" / f"tiny-base-{cache_key(config)}"


def load_tiny(
    cache_dir: str | Path | None = None,
    config: TinyBaseConfig | None = None,
    *,
    progress: bool = True,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = torch.float32,
) -> tuple[Any, Any]:
    """The tiny base ``(model, tokenizer)``, trained and cached on the first call (see the module doc).

    `config` overrides the recipe (the tests train a small one in seconds); `progress` shows a progress
    bar on stderr while training (always on the CPU). The model is loaded float32 and then moved to
    `device` / `dtype` (`rlaudit.models.device.resolve_device` / `resolve_dtype`; default: the CPU,
    float32), in eval mode; the tokenizer pads on the left.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = ensure_tiny_base(cache_dir, config, progress=progress)
    model = AutoModelForCausalLM.from_pretrained(
        path, local_files_only=True, use_safetensors=True, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = _to(model, device, dtype)
    model.eval()
    return model, tokenizer


def _to(model: Any, device: str | torch.device, dtype: str | torch.dtype) -> Any:
    """`model` on the resolved `device` and `dtype`."""
    target = resolve_device(device)
    return model.to(device=target, dtype=resolve_dtype(dtype, target))


def load_model(
    name_or_path: str | Path,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    trust_remote_code: bool = False,
) -> tuple[Any, Any]:
    """A causal LM and its tokenizer, ready to sample from: ``"tiny"`` (`load_tiny`), ``"smollm2"``, a
    local checkpoint (an organism folder is one) or a PEFT adapter folder
    (`rlaudit.models.loading.load_model`, which this adds ``tiny`` to). `device`, `dtype` and
    `trust_remote_code` are that function's (``auto``: the first GPU, else the CPU; bfloat16 on a
    recent GPU, float32 on the CPU); the tiny base is moved there after loading."""
    if name_or_path != "tiny":
        return load_checkpoint(name_or_path, device=device, dtype=dtype, trust_remote_code=trust_remote_code)
    model, tokenizer = load_tiny()
    model = _to(model, device, dtype)
    prepare_for_generation(model, tokenizer)
    return model, tokenizer


def base_loader(
    base: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = torch.float32,
    trust_remote_code: bool = False,
) -> Callable[[], tuple[Any, Any]]:
    """A function returning a fresh ``(model, tokenizer)`` of `base` at every call (a recipe may need
    two); a ValueError for a base that is neither a name `load_model` knows nor a directory.

    The default is the CPU in float32, unlike `load_model`'s ``auto``: the recipes fine-tune the base,
    and their training loops (`rlaudit.models.finetune`) run on the CPU, in full precision."""
    if base == "tiny":
        return lambda: load_tiny(progress=True, device=device, dtype=dtype)
    if base == "smollm2" or Path(base).is_dir():
        return lambda: load_checkpoint(base, device=device, dtype=dtype, trust_remote_code=trust_remote_code)
    raise ValueError(
        f"unknown base '{base}': pass tiny, smollm2, the path of a local checkpoint directory or of a "
        "PEFT adapter folder"
    )


def ensure_tiny_base(
    cache_dir: str | Path | None = None, config: TinyBaseConfig | None = None, *, progress: bool = True
) -> Path:
    """The directory of the cached base, training it first if it is not there.

    Training writes into a temporary directory beside the final one and renames it into place once the
    manifest is written, so a crash never leaves a half-written base where a complete one is expected,
    and two processes training at once both end up loading whichever finished first.
    """
    config = config or TinyBaseConfig()
    final = tiny_base_dir(cache_dir, config)
    if (final / MANIFEST).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    if progress:
        print(f"rlaudit: training the tiny base model once (cached in {final})", file=sys.stderr)
    model, tokenizer, manifest = train_tiny_base(config, progress=progress)

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / MANIFEST).write_text(json.dumps({**manifest, "key": final.name}, indent=2) + "\n")

    return publish_directory(final, write, marker=MANIFEST, what="a complete tiny base", redo="train afresh")


def train_tiny_base(
    config: TinyBaseConfig | None = None, *, progress: bool = True
) -> tuple[Any, Any, dict[str, Any]]:
    """Train the base from its seeded init (no caching): ``(model, tokenizer, manifest)``.

    The manifest records the config, the training time and loss, the held-out greedy accuracy per task
    x split x condition, and the versions of rlaudit, torch and transformers.
    """
    config = config or TinyBaseConfig()
    with torch_threads(None, config.threads):
        model, tokenizer = build_tiny_model(config.model)
        started, cpu_started = time.perf_counter(), time.process_time()
        losses = _train(model, tokenizer, config, progress)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        accuracy = measure_accuracy(model, tokenizer, config)
    worst = min(
        a for by_split in accuracy.values() for by_cond in by_split.values() for a in by_cond.values()
    )
    if worst < config.min_accuracy:
        warnings.warn(
            f"the tiny base reached only {worst:.0%} greedy accuracy in its worst cell "
            f"(wanted >= {config.min_accuracy:.0%}); train longer (TinyBaseConfig.steps)",
            stacklevel=2,
        )
    training = {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "threads": config.threads,
        "final_loss": round(sum(losses[-20:]) / len(losses[-20:]), 6),
        "n_parameters": sum(p.numel() for p in model.parameters()),
    }
    return model, tokenizer, _manifest(config, training, accuracy)


def _manifest(config: TinyBaseConfig, training: dict[str, Any], accuracy: dict[str, Any]) -> dict[str, Any]:
    import transformers

    return {
        "kind": "tiny-base",
        "format_version": 1,
        "rlaudit_version": __version__,
        "recipe_version": RECIPE_VERSION,
        "config": _config_dict(config),
        "tasks": list(TASKS),
        "training": training,
        "accuracy": accuracy,
        "accuracy_eval": {
            "decoding": "greedy",
            "prompts_per_task": config.eval_prompts,
            "seed": _derived_seed("eval", config.seed),
        },
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }


def measure_accuracy(model: Any, tokenizer: Any, config: TinyBaseConfig) -> dict[str, Any]:
    """Greedy accuracy on `config.eval_prompts` held-out prompts per task: task -> split -> condition.

    Held out by seed: the prompts are drawn with a seed training never uses. (At difficulty 9 there
    are only 100 sums, all of which training sees; what is new is the draw, and for mcq the options.)
    """
    accuracy: dict[str, Any] = {}
    seed = _derived_seed("eval", config.seed)
    for name in TASKS:
        task = get_task(name)
        rows = task.make_dataset(config.eval_prompts, seed=seed, difficulty=config.difficulty)
        ok = greedy_correct(model, tokenizer, task, rows, batch_size=200)
        cells: dict[tuple[str, str], list[bool]] = {cell: [] for cell in CELLS}
        for row, good in zip(rows, ok, strict=True):
            cells[row["split"], row["condition"]].append(good)
        accuracy[name] = {
            s: {c: round(sum(cells[s, c]) / max(1, len(cells[s, c])), 4) for c in CONDITIONS} for s in SPLITS
        }
    return accuracy


def _train(model: Any, tokenizer: Any, config: TinyBaseConfig, progress: bool) -> list[float]:
    """Plain SFT (`rlaudit.models.finetune.fine_tune`): loss on the answer and the closing eos only;
    fresh examples every step, drawn in a seeded order."""
    n = config.steps * config.batch_size
    n_mcq = round(n * config.mcq_fraction)
    rows = get_task("arith").make_dataset(
        n - n_mcq, seed=_derived_seed("arith", config.seed), difficulty=config.difficulty
    ) + get_task("mcq").make_dataset(
        n_mcq, seed=_derived_seed("mcq", config.seed), difficulty=config.difficulty
    )
    random.Random(_derived_seed("order", config.seed)).shuffle(rows)
    return fine_tune(
        model,
        tokenizer,
        [(r["prompt"], r["answer"]) for r in rows],
        steps=config.steps,
        lr=config.lr,
        batch_size=config.batch_size,
        seed=config.seed,
        desc="training tiny base",
        warmup_steps=config.warmup_steps,
        betas=(0.9, 0.98),
        in_order=True,
        progress=progress,
    )


def _derived_seed(purpose: str, seed: int) -> int:
    """A seed for one use (training data of a task, batch order, evaluation) that no other use shares.

    Derived from a string, not ``seed + i``: the tasks' datasets draw problems in sequence, so the
    evaluation prompts of seed s would otherwise be the first training prompts of a neighbouring seed.
    (The string names the module this lived in before; it stays, or every cached base would change.)
    """
    return int.from_bytes(hashlib.sha256(f"rlaudit.tiny_base/{purpose}/{seed}".encode()).digest()[:4], "big")


def _config_dict(config: TinyBaseConfig) -> dict[str, Any]:
    return asdict(config)


def _key_dict(config: TinyBaseConfig) -> dict[str, Any]:
    """The config fields that change the trained weights or the manifest (not the warning threshold)."""
    d = _config_dict(config)
    del d["min_accuracy"]
    return d
