"""Where a model runs and how many sequences it generates at once: device, dtype, batch size, OOM back-off.

``--device`` / ``--dtype`` strings become torch objects here (`resolve_device`, `resolve_dtype`), with
errors that say what the machine has. A generation batch is chosen from the model's shape and the free
memory (`auto_batch_size`) unless the caller (or the CLI's ``--batch-size``, through
`generation_batch_size`) fixes one, and a batch that runs out of memory anyway is split in half and
retried (`run_with_backoff`) rather than ending a long audit.

The estimate is a starting point, not a guarantee: it counts the KV cache, the float32 logits that
`rlaudit.models.sampling.sample` keeps for its statistics, and a rough share for the prompt's forward
pass, and uses only part of the free memory; the back-off catches what it gets wrong.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import torch

T = TypeVar("T")

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
"""What `resolve_device` accepts (``cuda:N``: the N-th GPU torch sees)."""

DTYPE_NAMES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
"""The dtype names `resolve_dtype` accepts besides ``auto``."""

AUTO_BATCH_CAP = 64
"""Largest batch `auto_batch_size` proposes. Beyond it a GPU gains little for models this toolkit
audits, and left padding wastes more: every sequence in a batch runs until the longest one ends."""

FALLBACK_BATCH_SIZE = 8
"""The batch when memory cannot be measured (no psutil, mps) or the config lacks the fields the
estimate needs (hidden size, layers, heads, vocabulary)."""

MEMORY_FRACTION = 0.5
"""Share of the free memory the generation batch may plan to use: the weights are already loaded
(free memory excludes them), and the rest is headroom for what the estimate leaves out (allocator
fragmentation, attention workspaces, other processes)."""

LOGIT_COPIES = 6
"""Float32 (sequence, new token, vocabulary) arrays alive at once per sequence, from reading
`rlaudit.models.sampling`: generate's per-step logits, their stack, the temperature-scaled copy,
log-softmax, its exp and the entropy terms. For a large vocabulary this, not the KV cache, dominates
(Qwen2.5, 152k tokens, 256 new tokens: ~0.9 GB per sequence against ~16 MB of KV cache at bf16)."""

ACTIVATION_WIDTHS = 4
"""Prompt forward pass: hidden-size-wide activations per prompt token alive at once (residual, norm,
attention output), plus two intermediate-size ones (the MLP's gate and up projections)."""

OOM_MESSAGES = ("out of memory", "can't allocate memory")
"""RuntimeError texts that mean an allocation failed (CUDA/MPS "out of memory", CPU allocator "can't
allocate memory"), for torch builds or backends that do not raise ``torch.OutOfMemoryError``."""

_batch_override: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "rlaudit_generation_batch_size", default=None
)


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """The torch device named by `spec`: ``auto`` (the first CUDA GPU, else mps, else cpu), ``cpu``,
    ``cuda``, ``cuda:N`` or ``mps``; a ValueError saying what exists for anything else or absent."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    name = spec.strip().lower()
    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    has_mps = _mps_available()
    if name == "auto":
        if n_gpus:
            return torch.device("cuda", 0)
        return torch.device("mps") if has_mps else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not has_mps:
            raise ValueError(f"device 'mps' is not available on this machine ({_available(n_gpus, has_mps)})")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        index_text = name.partition(":")[2] or "0"
        if not index_text.isdigit():
            raise ValueError(f"device '{spec}': the GPU index must be a number, as in cuda:0")
        index = int(index_text)
        if index >= n_gpus:
            raise ValueError(
                f"device '{spec}' is not available on this machine ({_available(n_gpus, has_mps)})"
            )
        return torch.device("cuda", index)
    raise ValueError(f"unknown device '{spec}': pass one of {', '.join(DEVICE_CHOICES)}")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _available(n_gpus: int, has_mps: bool) -> str:
    """One phrase naming the devices this machine has, for error messages."""
    found = ["cpu"]
    if n_gpus:
        found.append(f"cuda:0..cuda:{n_gpus - 1}" if n_gpus > 1 else "cuda:0")
    if has_mps:
        found.append("mps")
    gpus = "torch sees no CUDA GPU" if not n_gpus else f"torch sees {n_gpus} CUDA GPU(s)"
    return f"{gpus}; available: {', '.join(found)}"


def resolve_dtype(spec: str | torch.dtype = "auto", device: torch.device | str | None = None) -> torch.dtype:
    """The torch dtype named by `spec` for a model on `device` (None: ``resolve_device("auto")``).

    ``auto`` is bfloat16 on a CUDA GPU that supports it natively (Ampere or newer), float16 on other GPUs and on mps, float32 on
    the CPU (where half precision is slower, not faster). Names: float32/bfloat16/float16 and
    fp32/bf16/fp16; a torch.dtype is returned as it is. A ValueError for anything else.
    """
    if isinstance(spec, torch.dtype):
        return spec
    name = spec.strip().lower()
    if name in DTYPE_NAMES:
        return DTYPE_NAMES[name]
    if name != "auto":
        raise ValueError(f"unknown dtype '{spec}': pass auto, float32, bfloat16 or float16")
    dev = device if isinstance(device, torch.device) else resolve_device(device or "auto")
    if dev.type == "cuda":
        with torch.cuda.device(dev):
            # Without emulation: a pre-Ampere GPU "supports" bfloat16 only by emulating it, slowly.
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        return torch.bfloat16 if native else torch.float16
    if dev.type == "mps":
        return torch.float16
    return torch.float32


def free_memory_bytes(device: torch.device) -> int | None:
    """Free memory where `device`'s tensors live, in bytes: the GPU's free memory on CUDA, the system's
    available memory on the CPU (needs psutil); None where it cannot be measured (mps, no psutil)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        try:
            import psutil  # type: ignore[import-untyped]
        except ImportError:
            return None
        return int(psutil.virtual_memory().available)
    return None


def sequence_bytes(model: Any, *, max_new_tokens: int, prompt_tokens: int) -> int | None:
    """Estimated memory one generated sequence needs (bytes), from the model's config; None if the
    config lacks a field the estimate needs.

    KV cache (keys and values, every layer, prompt + new tokens, at the model's dtype) + the float32
    logits `sample` keeps (`LOGIT_COPIES` copies of new tokens x vocabulary) + the prompt forward pass
    (`ACTIVATION_WIDTHS` hidden-wide and two intermediate-wide activations per prompt token).
    """
    config: Any = getattr(model, "config", None)
    if hasattr(config, "get_text_config"):  # a multimodal config keeps the language model's apart
        config = config.get_text_config()
    try:
        layers = int(config.num_hidden_layers)
        hidden = int(config.hidden_size)
        heads = int(config.num_attention_heads)
        vocab = int(config.vocab_size)
    except (AttributeError, TypeError, ValueError):
        return None
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    intermediate = int(getattr(config, "intermediate_size", None) or 4 * hidden)
    element = _element_size(model)
    seq = prompt_tokens + max_new_tokens
    kv_cache = 2 * layers * kv_heads * head_dim * seq * element
    logits = LOGIT_COPIES * max_new_tokens * vocab * 4
    prompt_pass = (ACTIVATION_WIDTHS * hidden + 2 * intermediate) * prompt_tokens * element
    return kv_cache + logits + prompt_pass


def _element_size(model: Any) -> int:
    try:
        return int(next(model.parameters()).element_size())
    except (AttributeError, StopIteration, TypeError):
        return 4


def _model_device(model: Any) -> torch.device:
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration, TypeError):
        return torch.device("cpu")


def auto_batch_size(model: Any, *, max_new_tokens: int, prompt_tokens: int, cap: int = AUTO_BATCH_CAP) -> int:
    """A starting generation batch for `model`: as many sequences of `prompt_tokens` + `max_new_tokens`
    as `MEMORY_FRACTION` of the free memory holds (`sequence_bytes`), rounded down to a power of two
    (so small changes in free memory do not change the batch, and with it sampled results), clamped
    to [1, `cap`]; `FALLBACK_BATCH_SIZE` (clamped) where memory or the config cannot be read."""
    if cap < 1:
        raise ValueError(f"cap must be >= 1 (got {cap})")
    per_sequence = sequence_bytes(model, max_new_tokens=max_new_tokens, prompt_tokens=prompt_tokens)
    free = free_memory_bytes(_model_device(model))
    if per_sequence is None or free is None:
        return max(1, min(cap, FALLBACK_BATCH_SIZE))
    fits = int(free * MEMORY_FRACTION) // max(1, per_sequence)
    if fits < 1:
        return 1
    return max(1, min(cap, 1 << (fits.bit_length() - 1)))


@contextlib.contextmanager
def generation_batch_size(n: int | None) -> Iterator[None]:
    """Inside the block, `rlaudit.models.sampling.sample` generates `n` sequences per call whatever
    batch size its caller asked for (the CLI's ``--batch-size``); None leaves the callers' choice."""
    if n is not None and n < 1:
        raise ValueError(f"batch size must be >= 1 (got {n})")
    token = _batch_override.set(n)
    try:
        yield
    finally:
        _batch_override.reset(token)


def batch_size_override() -> int | None:
    """The batch size set by an enclosing `generation_batch_size` block, or None."""
    return _batch_override.get()


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is an allocation failure: ``torch.OutOfMemoryError`` (``torch.cuda``'s is the
    same class) or a RuntimeError whose message has one of `OOM_MESSAGES`."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and any(m in str(error).lower() for m in OOM_MESSAGES)


def release_memory() -> None:
    """Return freed blocks to the device (after an OOM), so the smaller retry can use them."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if _mps_available():
        torch.mps.empty_cache()


def run_with_backoff(
    fn: Callable[[int, int], Sequence[T]],
    n: int,
    batch_size: int,
    *,
    on_chunk: Callable[[int], None] | None = None,
) -> list[T]:
    """``fn(start, stop)`` over consecutive chunks of ``range(n)``, `batch_size` at a time; the results
    concatenated in order.

    A chunk that runs out of memory (`is_out_of_memory`) is retried from the same start at half the
    batch, after `release_memory`, and the rest of the run keeps the smaller batch (the one that failed
    would fail again); a UserWarning says so, once per call. A chunk of one that fails re-raises. `fn`
    must leave no trace of a failed attempt (`sample` restores its RNG state). `on_chunk(k)` is called
    after each chunk of `k` items (progress bars).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (got {batch_size})")
    results: list[T] = []
    start, warned = 0, False
    while start < n:
        stop = min(n, start + batch_size)
        try:
            chunk = fn(start, stop)
        except Exception as error:
            if not is_out_of_memory(error) or stop - start == 1:
                raise
            failed = stop - start
        else:
            results.extend(chunk)
            if on_chunk is not None:
                on_chunk(stop - start)
            start = stop
            continue
        # Outside the except block: the error and its frames (and their tensors) are gone by now.
        batch_size = max(1, min(batch_size, failed) // 2)
        release_memory()
        if not warned:
            warnings.warn(
                f"out of memory generating {failed} sequences at once; retrying {batch_size} at a time "
                "(set the batch size lower to skip this)",
                stacklevel=2,
            )
            warned = True
    return results
