"""Supervised fine-tuning on ``(prompt, completion)`` pairs: the one loop every stage that teaches a
model by example uses (organism recipes, the ``sft-warmstart`` mitigation, the SFT-elicitation audit).

The loss covers the completion and its closing eos only; the prompt is context, rendered exactly as
`rlaudit.models.sampling.sample` renders it (through the chat template when the tokenizer has one), so
a model is trained on what evaluation will show it. Only parameters with ``requires_grad`` train, so a
LoRA-wrapped model (`with_lora`, peft) trains its adapters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rlaudit import progress as progress_bars
from rlaudit.models import prefix
from rlaudit.models.sampling import render_prompt

PROGRESS_MIN_STEPS = 20
"""With ``progress=None``, a bar only from this many steps up; fewer finish too soon for one to help."""


def encode_examples(
    tokenizer: Any, examples: Sequence[tuple[str, str]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 except on completion + eos)."""
    chat = bool(getattr(tokenizer, "chat_template", None))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = []
    for prompt, completion in examples:
        # A chat template writes its own special tokens; a raw prompt gets the tokenizer's (tiny: BOS).
        p = tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=not chat)["input_ids"]
        c = [*tokenizer(completion, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
        rows.append((p + c, [-100] * len(p) + c))
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        attention_mask[i, : len(ids)] = 1
        labels[i, : len(lab)] = torch.tensor(lab)
    return input_ids, attention_mask, labels


def fine_tune(
    model: Any,
    tokenizer: Any,
    examples: Sequence[tuple[str, str]],
    *,
    steps: int,
    lr: float,
    batch_size: int | None,
    seed: int,
    desc: str = "sft",
    warmup_steps: int = 0,
    betas: tuple[float, float] = (0.9, 0.999),
    in_order: bool = False,
    progress: bool | None = None,
    share_prefix: bool = False,
) -> list[float]:
    """Teach `model` the pairs in `examples`, in place; returns the loss of every step.

    AdamW (`betas`, no weight decay) with a linear warm-up over `warmup_steps` (0: none) and a cosine
    decay to a tenth of `lr`; gradients clipped at norm 1. Each step takes `batch_size` examples drawn
    with replacement by a generator seeded with `seed`, or all of them (``None``: the few-demonstration
    case), or, with `in_order`, the next `batch_size` of them: a stream of fresh examples, each seen
    once, which needs ``steps * batch_size`` of them (the tiny base's pre-training). `progress` False
    shows no bar; True or None (None: from `PROGRESS_MIN_STEPS` steps up) one on stderr, where
    `rlaudit.progress` allows bars (a terminal, not ``--json``). Leaves the model in eval mode.

    `share_prefix` computes the same loss with less work (`shared_prefix_loss`): each distinct example
    of a step once, weighted by how often it was drawn, and the tokens all of them share once. The
    result differs from the plain forward by float rounding only, which is why it is not the default
    for the stages whose weights are cached or calibrated (the tiny base, the organisms).
    """
    if steps == 0:
        return []
    if not examples:
        raise ValueError("fine-tuning needs at least one (prompt, completion) example")
    if in_order and (batch_size is None or len(examples) < steps * batch_size):
        raise ValueError(
            f"in_order fine-tuning takes batch_size examples a step: {steps} steps need "
            f"steps * batch_size of them (got {len(examples)}, batch_size={batch_size})"
        )
    input_ids, attention_mask, labels = encode_examples(tokenizer, examples)
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0, betas=betas)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(steps, warmup_steps))
    losses: list[float] = []
    device = next(model.parameters()).device
    model.train()
    show = steps >= PROGRESS_MIN_STEPS if progress is None else progress
    with progress_bars.quiet(not show):
        bar = progress_bars.bar_total(steps, desc)
    try:
        for step in range(steps):
            batch = _batch((input_ids, attention_mask, labels), step, batch_size, in_order, gen)
            ids, mask, lab = (
                t.to(device) for t in batch
            )  # drawn on the CPU (seeded), run where the model is
            if share_prefix:
                loss = shared_prefix_loss(model, ids, mask, lab, pad_id=tokenizer.pad_token_id)
            else:
                loss = model(input_ids=ids, attention_mask=mask, labels=lab).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            bar.update(1)
            if step % 20 == 0 or step == steps - 1:
                bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.4f}")
    finally:
        bar.close()
        model.eval()
    return losses


def shared_prefix_loss(
    model: Any, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor, *, pad_id: int
) -> torch.Tensor:
    """The causal-LM loss of a right-padded batch (mean cross-entropy over its labelled tokens, as
    transformers computes it), from one forward pass of each distinct row and of their common prefix.

    A row drawn twice weighs twice, so the loss and its gradient are those of the whole batch; the
    prefix (`rlaudit.models.prefix.prefill`) stops before the first token any row predicts.
    """
    rows = [tuple(r[m.bool()].tolist()) for r, m in zip(ids, mask, strict=True)]
    distinct: dict[tuple[int, ...], int] = {}
    which = [distinct.setdefault(r, len(distinct)) for r in rows]
    row_of = {d: which.index(d) for d in range(len(distinct))}  # a batch row holding each distinct one
    weight = torch.bincount(torch.tensor(which), minlength=len(distinct)).to(ids.device, torch.float32)
    # Each row's tokens from the one before its first label on must be outside the prefix.
    leave = max(len(r) - int((labels[row_of[d]] != -100).nonzero()[0]) + 1 for r, d in distinct.items())
    state = prefix.prefill(model, list(distinct), pad_id=pad_id, all_logits=True, leave=leave)
    shared, logits = state.suffix_labels_offset, state.logits  # (U, W, V)
    target = torch.full(logits.shape[:2], -100, dtype=torch.long, device=ids.device)
    for d, r in enumerate(distinct):
        own = labels[row_of[d], shared + 1 : len(r)]  # column c predicts the token after it
        target[d, : len(own)] = own
    ce = torch.nn.functional.cross_entropy(
        logits.float().flatten(0, 1), target.flatten(), ignore_index=-100, reduction="none"
    ).view(target.shape)
    counted = (target != -100).sum(dim=1).float()
    return (ce.sum(dim=1) * weight).sum() / (counted * weight).sum()


def _batch(
    encoded: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    step: int,
    batch_size: int | None,
    in_order: bool,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The rows of `encoded` (ids, mask, labels) that step `step` trains on (see `fine_tune`)."""
    input_ids, attention_mask, labels = encoded
    if batch_size is None:
        idx = torch.arange(len(input_ids))
    elif in_order:
        idx = torch.arange(step * batch_size, (step + 1) * batch_size)
    else:
        idx = torch.randint(len(input_ids), (batch_size,), generator=gen)
    ids, mask, lab = input_ids[idx], attention_mask[idx], labels[idx]
    if not in_order:
        return ids, mask, lab
    # Padded to the batch's own longest row, not the whole stream's: cheaper over a long stream, and
    # how the cached tiny base was trained (another width changes the float rounding, so its weights).
    width = int(mask.sum(dim=1).max())
    return ids[:, :width], mask[:, :width], lab[:, :width]


def _lr_factor(steps: int, warmup_steps: int) -> Callable[[int], float]:
    """The learning-rate multiplier at each step: linear warm-up, then cosine from 1 down to 0.1."""

    def factor(step: int) -> float:
        cosine = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps))
        return min(1.0, (step + 1) / warmup_steps) * cosine if warmup_steps else cosine

    return factor


@dataclass
class LoRAConfig:
    """Fine-tuning through LoRA adapters (peft) rather than every weight: for bases too big to train whole
    on a CPU (``smollm2``). An organism merges them into its weights before it is saved (an ordinary
    checkpoint); the SFT-elicitation audit unloads them (the audited model is left as it was)."""

    enabled: bool | None = None
    """None: LoRA when the base has at least `min_parameters` parameters (smollm2: yes; tiny: no)."""
    min_parameters: int = 10_000_000
    rank: int = 16
    alpha: int = 32
    target_modules: tuple[str, ...] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    )
    """Llama module names (transformers' LlamaForCausalLM, which both bases are)."""

    def __post_init__(self) -> None:
        self.target_modules = tuple(self.target_modules)
        if self.rank < 1 or self.alpha < 1 or not self.target_modules:
            raise ValueError("LoRA needs rank >= 1, alpha >= 1 and at least one target module")


def with_lora(model: Any, config: LoRAConfig, *, seed: int | None = None) -> Any:
    """`model` with fresh LoRA adapters (peft) on `config.target_modules`; only the adapters train.

    ``merge_and_unload()`` folds them into the weights (an ordinary checkpoint); ``unload()`` removes
    them and gives back the model as it was. With a `seed`, the adapters' random initialisation comes
    from it (and the global RNG is left as it was), so the same seed gives the same adapters: peft
    draws them from torch's global RNG, which made one audit seed give two SFT statistics."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ImportError(
            "fine-tuning through LoRA needs peft: pip install 'rlaudit[train]' (or peft==0.21.2)"
        ) from None
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [m for m in config.target_modules if m in present]
    if not targets:
        raise ValueError(
            f"none of the LoRA target modules {list(config.target_modules)} is in this model; "
            "set lora.target_modules to its projection layers"
        )
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, target_modules=targets, lora_dropout=0.0)
    if seed is None:
        return get_peft_model(model, lora)
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return get_peft_model(model, lora)
