"""One entry point for every model rlaudit runs: the embedded ones by name, or a local HF checkpoint.

``load_model("smollm2")`` is SmolLM2-135M-Instruct (see `rlaudit.models.smollm2`), anything else a
local directory written by ``save_pretrained``. Nothing is ever fetched from a hub: the names are
reserved words, not hub ids, and a directory that does not exist is an error, not a download.

``"tiny"`` is reserved too, but resolved a layer up, by `rlaudit.organisms.load_model`: the tiny base is
trained on rlaudit's tasks on first use, and models know nothing of tasks.

What comes back is ready to sample from: eval mode, tokenizer padding on the left, a pad token set.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

EMBEDDED_MODELS = ("smollm2", "tiny")
"""Names that are not paths; a local directory with one of these names needs a path (``./tiny``)."""


def load_model(
    name_or_path: str | Path, *, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer: ``"smollm2"`` or a local checkpoint directory.

    The model is cast to `dtype` and put in eval mode; the tokenizer pads on the left (what batched
    generation needs) and, if it had no pad token, pads with its eos token.
    """
    if name_or_path == "tiny":
        raise ValueError(
            "'tiny' is the tiny base trained on rlaudit's tasks: load it with "
            "rlaudit.organisms.load_model('tiny')"
        )
    if name_or_path == "smollm2":
        from rlaudit.models.smollm2 import smollm2_checkpoint

        model, tokenizer = _load_local(smollm2_checkpoint(), dtype)
    else:
        model, tokenizer = _load_local(Path(name_or_path).expanduser(), dtype)
    prepare_for_generation(model, tokenizer)
    return model, tokenizer


def _load_local(path: Path, dtype: torch.dtype) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not path.is_dir():
        raise FileNotFoundError(
            f"No model directory at {path}: pass 'smollm2', 'tiny', or the path of a local checkpoint "
            "written by save_pretrained (rlaudit never downloads models from a hub)"
        )
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{path} is not a Hugging Face checkpoint (no config.json); save one with "
            "model.save_pretrained(path) and tokenizer.save_pretrained(path)"
        )
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return model, tokenizer


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
