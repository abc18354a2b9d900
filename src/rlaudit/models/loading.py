"""One entry point for every model rlaudit runs: the embedded ones by name, a local HF checkpoint, or
a PEFT (LoRA) adapter on a local base.

``load_model("smollm2")`` is SmolLM2-135M-Instruct (see `rlaudit.models.smollm2`), anything else a
local directory: a checkpoint written by ``save_pretrained`` (a ``config.json`` and safetensors
weights), or an adapter folder written by peft's ``save_pretrained`` (an ``adapter_config.json`` and
no ``config.json``), whose base, named in its ``base_model_name_or_path``, is loaded, and the adapter
merged into it. Nothing is ever fetched from a hub: the names are reserved words, not hub ids, and a
directory that does not exist is an error, not a download. Weights are read from safetensors only
(a pickled ``.bin`` can run code when loaded), and a checkpoint's own Python code runs only with
``trust_remote_code=True``.

``"tiny"`` is reserved too, but resolved a layer up, by `rlaudit.organisms.load_model`: the tiny base is
trained on rlaudit's tasks on first use, and models know nothing of tasks.

What comes back is ready to sample from: on the chosen device and dtype (`rlaudit.models.device`), eval
mode, tokenizer padding on the left, a pad token set.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from rlaudit import progress
from rlaudit.models.device import resolve_device, resolve_dtype

EMBEDDED_MODELS = ("smollm2", "tiny")
"""Names that are not paths; a local directory with one of these names needs a path (``./tiny``)."""
ADAPTER_CONFIG = "adapter_config.json"
"""What marks a PEFT adapter folder (with no ``config.json`` beside it)."""
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")
"""Any of these in an adapter folder: its tokenizer is loaded from there rather than from the base."""
CONVERT_HINT = (
    "if you trust the file, re-save it once in Python: "
    "AutoModelForCausalLM.from_pretrained(path).save_pretrained(path, safe_serialization=True)"
)
"""How to turn a pickled ``.bin`` checkpoint into the safetensors one `load_model` reads."""


def load_model(
    name_or_path: str | Path,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    trust_remote_code: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer: ``"smollm2"``, a local checkpoint or a local PEFT adapter.

    `device` and `dtype` are what `rlaudit.models.device.resolve_device` / `resolve_dtype` take
    (``auto``: the first GPU, else mps, else the CPU; bfloat16 on a recent GPU, float32 on the CPU) or
    a torch device / dtype. `trust_remote_code` lets a checkpoint run the Python code it ships (off
    unless asked for). The model is in eval mode; the tokenizer pads on the left (what batched
    generation needs) and, if it had no pad token, pads with its eos token.
    """
    if name_or_path == "tiny":
        raise ValueError(
            "'tiny' is the tiny base trained on rlaudit's tasks: load it with "
            "rlaudit.organisms.load_model('tiny')"
        )
    target = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target)
    path = _resolve_path(name_or_path)
    with _transformers_progress():
        if _is_adapter(path):
            model, tokenizer = _load_adapter(path, torch_dtype, trust_remote_code)
        else:
            model, tokenizer = _load_local(path, torch_dtype, trust_remote_code)
    # Loaded in `torch_dtype` already; only moved here (a blanket .to(dtype) would also cast the
    # float32 buffers transformers keeps on purpose, such as rotary frequencies).
    model = model.to(target)  # type: ignore[arg-type]  # transformers types .to() for dtypes only
    prepare_for_generation(model, tokenizer)
    return model, tokenizer


@contextlib.contextmanager
def _transformers_progress() -> Iterator[None]:
    """transformers' own "Loading weights" bars only where rlaudit's would show (`rlaudit.progress`:
    not under ``--json``, and only on a terminal); they draw even into a pipe otherwise."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if progress.enabled() is False or not sys.stderr.isatty():
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _resolve_path(name_or_path: str | Path) -> Path:
    if name_or_path == "smollm2":
        from rlaudit.models.smollm2 import smollm2_checkpoint

        return smollm2_checkpoint()
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"No model directory at {path}: pass 'smollm2', 'tiny', the path of a local checkpoint "
            "written by save_pretrained, or of a PEFT adapter folder (rlaudit never downloads models "
            "from a hub)"
        )
    return path


def _is_adapter(path: Path) -> bool:
    return (path / ADAPTER_CONFIG).is_file() and not (path / "config.json").is_file()


def _load_local(
    path: Path, dtype: torch.dtype, trust_remote_code: bool
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{path} is not a Hugging Face checkpoint (no config.json) nor a PEFT adapter (no "
            f"{ADAPTER_CONFIG}); save one with model.save_pretrained(path) and tokenizer.save_pretrained(path)"
        )
    _check_safetensors(path, "model")
    model = AutoModelForCausalLM.from_pretrained(
        path,
        dtype=dtype,
        local_files_only=True,
        use_safetensors=True,
        trust_remote_code=trust_remote_code,
    )
    tokenizer = AutoTokenizer.from_pretrained(
        path, local_files_only=True, trust_remote_code=trust_remote_code
    )
    return model, tokenizer


def _check_safetensors(path: Path, stem: str) -> None:
    """A clear error for a folder whose weights (`stem`: ``model`` or ``adapter_model``) are pickled
    ``.bin`` files only, or missing, before transformers / peft give theirs."""
    if any(path.glob(f"{stem}*.safetensors")) or (path / f"{stem}.safetensors.index.json").is_file():
        return
    pickled = sorted(p.name for p in path.glob("*.bin"))
    if pickled:
        raise ValueError(
            f"{path} has only pickled weights ({', '.join(pickled)}); rlaudit loads safetensors only "
            f"(a .bin file can run code when loaded). To convert: {CONVERT_HINT}"
        )
    raise FileNotFoundError(f"{path} has no weights ({stem}.safetensors)")


def _load_adapter(
    path: Path, dtype: torch.dtype, trust_remote_code: bool
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The adapter's base (local only) with the adapter merged into its weights."""
    try:
        from peft import PeftModel
    except ImportError:
        raise ImportError(
            f"{path} is a PEFT adapter, and loading one needs peft: pip install 'rlaudit[train]'"
        ) from None
    from transformers import AutoTokenizer

    _check_safetensors(path, "adapter_model")
    base_path = _adapter_base(path)
    base, base_tokenizer = _load_local(base_path, dtype, trust_remote_code)
    merged = PeftModel.from_pretrained(base, path, local_files_only=True).merge_and_unload()
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        return merged, base_tokenizer
    return merged, AutoTokenizer.from_pretrained(
        path, local_files_only=True, trust_remote_code=trust_remote_code
    )


def _adapter_base(path: Path) -> Path:
    """The local directory of the base an adapter was trained on, from its ``base_model_name_or_path``:
    ``smollm2``, or a directory (as written, else relative to the adapter folder)."""
    config: dict[str, Any] = json.loads((path / ADAPTER_CONFIG).read_text())
    base = config.get("base_model_name_or_path")
    if not base:
        raise ValueError(
            f"{path / ADAPTER_CONFIG} names no base_model_name_or_path; set it to 'smollm2' or the path "
            "of the local base checkpoint"
        )
    if base == "smollm2":
        from rlaudit.models.smollm2 import smollm2_checkpoint

        return smollm2_checkpoint()
    for candidate in (Path(base).expanduser(), path / base):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"the base of adapter {path}, '{base}' (base_model_name_or_path in {ADAPTER_CONFIG}), is not a "
        "local directory; the base must be local (rlaudit never downloads models): save it with "
        "save_pretrained and set base_model_name_or_path to that path, or to 'smollm2'"
    )


def prepare_for_generation(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Eval mode, left padding, a pad token (the eos if none) and the generation config's pad/eos ids."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(
                "The tokenizer has neither a pad nor an eos token, so batches cannot be padded; "
                "set tokenizer.pad_token before sampling"
            )
        tokenizer.pad_token = tokenizer.eos_token
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config.eos_token_id is None and tokenizer.eos_token_id is not None:
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.eval()
