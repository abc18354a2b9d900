"""Batched sampling with the per-completion statistics the exploration signals need.

`sample` draws `n` completions per prompt and reports, for each, how many tokens it took, the mean
entropy of the distribution each token was drawn from, and the mean log-probability of the tokens drawn
(the ``n_tokens``, ``entropy`` and ``logprob`` fields of a rollout record). A policy that under-explores
shows up here first: low entropy, logprobs near zero, the same completion `n` times.

Tokens are drawn from exactly ``softmax(logits / T)``: every filter ``generate`` would otherwise add
(top-k 50 by default, top-p, repetition penalty, ...) is switched off, so the statistics describe the
distribution that was actually sampled. At ``T = 0`` (greedy) that distribution is a point mass, whose
entropy and logprob are 0 by definition; the statistics are then those of the model's own distribution
(``T = 1``) at the tokens greedy picked, which is what one wants to know about a greedy answer.

A completion ends at the first eos token, which counts in ``n_tokens`` and in the means (it was
sampled, and it is what made the completion stop) but not in the text. Everything generated after it
(padding, while longer completions in the batch finish) is ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from rlaudit import progress
from rlaudit.models import prefix
from rlaudit.models.device import auto_batch_size, batch_size_override, run_with_backoff

PROGRESS_MIN_BATCHES = 4
"""Show a progress bar only from this many batches up; fewer finish too soon for a bar to help."""

# generate() fills every option left unset from the model's generation_config and then from global
# defaults (top_k=50!). Each one that would reshape the distribution is switched off by name.
_NO_FILTERS = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0}
_NO_SAMPLING_FILTERS = {"top_k": 0, "top_p": 1.0, "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0}


@dataclass(frozen=True)
class Sample:
    """One sampled completion and the statistics of the tokens that make it up."""

    prompt_index: int
    """Index into the `prompts` passed to `sample`; the `n` samples of a prompt are consecutive."""
    completion: str
    """Decoded text of the completion, special tokens (eos) dropped."""
    n_tokens: int
    """Generated tokens, up to and including the first eos (at most ``max_new_tokens``)."""
    entropy: float
    """Mean over those tokens of the entropy, in nats, of the distribution each was drawn from."""
    logprob: float
    """Mean log-probability (nats, <= 0) of the tokens drawn, under that same distribution."""
    finished: bool
    """True if the completion ended with eos, False if it was cut at ``max_new_tokens``."""


def sample(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    n: int = 1,
    temperature: float = 1.0,
    max_new_tokens: int = 32,
    batch_size: int | None = None,
    seed: int = 0,
    chat: bool | None = None,
    stats: bool = True,
) -> list[Sample]:
    """Sample `n` completions for each prompt, a batch of sequences at a time.

    Each distinct prompt is fed once and the batch's common prefix once (`rlaudit.models.prefix`;
    a model whose forward takes no cache and position ids goes through ``generate`` instead).

    The batch is the one an enclosing `rlaudit.models.device.generation_batch_size` block sets (the
    CLI's ``--batch-size``), else `batch_size`, else `rlaudit.models.device.auto_batch_size` (from the
    model's shape and the free memory). A batch that runs out of memory is split in half and retried
    (`rlaudit.models.device.run_with_backoff`, with a warning), the rest of the call at the smaller
    batch; the failed attempt leaves no trace in the results.

    `temperature` 0 is greedy decoding (the `n` copies are then identical). `chat` renders each prompt
    as one user message through the tokenizer's chat template; ``None`` does so when the tokenizer has a
    template and feeds the raw text otherwise. Results are in prompt order, `n` per prompt. Greedy
    results do not depend on the batch; sampled ones are the same for the same `seed` and effective
    batch size (pass `batch_size` to pin it: the automatic one depends on the machine). The global
    torch RNG and the model's train/eval mode are left as they were. `stats` False leaves ``entropy``
    and ``logprob`` out (nan): answers that are only checked need no softmax over the vocabulary.
    """
    _check_arguments(
        tokenizer, n=n, temperature=temperature, max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    use_chat = _use_chat(tokenizer, chat)
    texts = [render_prompt(tokenizer, p) if use_chat or not isinstance(p, str) else p for p in prompts]
    # Each prompt is encoded once (not once per batch and copy); batches are padded from these ids.
    # A chat template writes its own special tokens; raw text gets the tokenizer's (tiny: BOS).
    encoded = tokenizer(texts, add_special_tokens=not use_chat)["input_ids"] if texts else []
    rows = [i for i in range(len(prompts)) for _ in range(n)]  # prompt index of every sequence
    eos_ids = _eos_ids(model, tokenizer)
    gen_kwargs = _generate_kwargs(tokenizer, temperature, max_new_tokens, eos_ids)
    # Temperature of the distribution the statistics describe (see the module docstring for T = 0).
    stats_temperature = temperature if temperature > 0 else 1.0
    # Without `stats`, the fast path skips the softmax over the vocabulary at every step.
    decode_stats = stats_temperature if stats else None
    size = batch_size_override() or batch_size
    if size is None:
        longest = max((len(ids) for ids in encoded), default=1)
        size = auto_batch_size(model, max_new_tokens=max_new_tokens, prompt_tokens=longest)

    fast = prefix.supports_prefix(model)

    def generate(start: int, stop: int) -> list[Sample]:
        batch_rows = rows[start:stop]
        rng = _rng_state(model)
        try:
            if fast:
                prompts = [encoded[i] for i in batch_rows]
                done = _decode(model, tokenizer, prompts, temperature, max_new_tokens, eos_ids, decode_stats)
                return _samples(tokenizer, batch_rows, *done)
            enc = tokenizer.pad(
                {"input_ids": [encoded[i] for i in batch_rows]},
                padding=True,
                padding_side="left",
                return_tensors="pt",
            ).to(model.device)
            out = model.generate(**enc, **gen_kwargs)
            completion_ids = out.sequences[:, enc["input_ids"].shape[1] :]  # (B, S)
            logits = torch.stack(out.logits, dim=1).float()  # (B, S, V)
            return _summarize(tokenizer, batch_rows, completion_ids, logits / stats_temperature, eos_ids)
        except BaseException:
            _set_rng_state(model, rng)  # a retry at a smaller batch draws what this attempt would have
            raise

    n_batches = -(-len(rows) // size)
    bar = progress.bar_total(len(rows), "sampling") if n_batches >= PROGRESS_MIN_BATCHES else None
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=_cuda_devices(model)), torch.no_grad():
            torch.manual_seed(seed)
            return run_with_backoff(
                generate, len(rows), size, on_chunk=bar.update if bar is not None else None
            )
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)


def _decode(
    model: Any,
    tokenizer: Any,
    prompts: list[list[int]],
    temperature: float,
    max_new_tokens: int,
    eos_ids: set[int],
    stats_temperature: float | None,
) -> tuple[torch.Tensor, ...]:
    """Generate one completion per entry of `prompts` (token ids; repeats are the samples of a prompt).

    Each distinct prompt goes through the model once (`rlaudit.models.prefix.prefill`, their common
    prefix once for all) and its cache is copied to its rows; then one token per step for every row
    not yet finished, drawn from ``softmax(logits / T)`` (the argmax at T = 0), and a row leaves the
    batch at its first eos. Returns the generated ids (B, max_new_tokens; padding after each row's end),
    each row's length (eos included), whether it ended with eos, and the sums over its tokens of the
    entropy and of the log-probability of the token drawn, both under ``softmax(logits /
    stats_temperature)`` (nan with `stats_temperature` None: not computed).
    """
    device = model.device
    distinct: dict[tuple[int, ...], int] = {}
    which = [distinct.setdefault(tuple(p), len(distinct)) for p in prompts]
    state = prefix.prefill(model, list(distinct), pad_id=tokenizer.pad_token_id)
    state.select(torch.tensor(which, device=device))
    n = len(prompts)
    eos = torch.tensor(sorted(eos_ids), device=device)
    live = torch.arange(n, device=device)  # the rows still generating, in the order of the batch
    ids = torch.full((n, max_new_tokens), tokenizer.pad_token_id, dtype=torch.long, device=device)
    length = torch.zeros(n, dtype=torch.long, device=device)
    finished = torch.zeros(n, dtype=torch.bool, device=device)
    entropy = torch.zeros(n, device=device)
    logprob = torch.zeros(n, device=device)
    if stats_temperature is None:
        entropy.fill_(math.nan)
        logprob.fill_(math.nan)
    for t in range(max_new_tokens):
        if stats_temperature is None:  # no statistics asked for: the draw is all
            logits = state.logits.float()
            token = (
                torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1).squeeze(1)
                if temperature > 0
                else logits.argmax(dim=-1)
            )
        else:
            logp = torch.log_softmax(state.logits.float() / stats_temperature, dim=-1)  # (live, V)
            p = logp.exp()
            token = torch.multinomial(p, 1).squeeze(1) if temperature > 0 else state.logits.argmax(dim=-1)
            entropy[live] -= torch.special.xlogy(p, p).sum(-1)  # xlogy: 0 * log 0 = 0, not nan
            logprob[live] += logp.gather(-1, token[:, None]).squeeze(1)
        ids[live, t] = token
        length[live] += 1
        ended = torch.isin(token, eos)
        finished[live] = ended
        if t == max_new_tokens - 1 or bool(ended.all()):
            break
        if bool(ended.any()):  # finished rows leave the batch: no more compute spent on them
            keep = (~ended).nonzero().squeeze(1)
            state.select(keep)
            live, token = live[keep], token[keep]
        prefix.step(model, state, token)
    return ids, length, finished, entropy, logprob


def _samples(
    tokenizer: Any,
    batch_rows: list[int],
    ids: torch.Tensor,
    length: torch.Tensor,
    finished: torch.Tensor,
    entropy: torch.Tensor,
    logprob: torch.Tensor,
) -> list[Sample]:
    """`Sample`s from what `_decode` returns (the sums become means over each row's tokens)."""
    samples = []
    for b, prompt_index in enumerate(batch_rows):
        k = int(length[b])
        samples.append(
            Sample(
                prompt_index=prompt_index,
                completion=tokenizer.decode(ids[b, :k], skip_special_tokens=True),
                n_tokens=k,
                entropy=float(entropy[b]) / k,
                logprob=float(logprob[b]) / k,
                finished=bool(finished[b]),
            )
        )
    return samples


def _rng_state(model: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The CPU RNG state and, for a model on a GPU, every GPU's (what ``generate`` may draw from)."""
    gpus = torch.cuda.get_rng_state_all() if _cuda_devices(model) else []
    return torch.get_rng_state(), gpus


def _set_rng_state(model: Any, state: tuple[torch.Tensor, list[torch.Tensor]]) -> None:
    cpu, gpus = state
    torch.set_rng_state(cpu)
    if gpus:
        torch.cuda.set_rng_state_all(gpus)


def _check_arguments(
    tokenizer: Any, *, n: int, temperature: float, max_new_tokens: int, batch_size: int | None
) -> None:
    if n < 1 or max_new_tokens < 1 or (batch_size is not None and batch_size < 1):
        raise ValueError(
            f"n, max_new_tokens and batch_size must be >= 1 (got n={n}, "
            f"max_new_tokens={max_new_tokens}, batch_size={batch_size})"
        )
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if tokenizer.pad_token_id is None:
        raise ValueError(
            "The tokenizer has no pad token, so prompts cannot be batched; load the model with "
            "rlaudit.models.loading.load_model, or set tokenizer.pad_token = tokenizer.eos_token"
        )


def _generate_kwargs(
    tokenizer: Any, temperature: float, max_new_tokens: int, eos_ids: set[int]
) -> dict[str, Any]:
    """``generate`` arguments: plain sampling at `temperature` (no top-k/top-p), or greedy at 0."""
    gen_kwargs: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": sorted(eos_ids),
        "output_logits": True,
        "return_dict_in_generate": True,
        **_NO_FILTERS,
    }
    if temperature > 0:
        gen_kwargs |= {"do_sample": True, "temperature": temperature, **_NO_SAMPLING_FILTERS}
    else:
        gen_kwargs |= {"do_sample": False}
    return gen_kwargs


def _summarize(
    tokenizer: Any,
    batch_rows: list[int],
    completion_ids: torch.Tensor,
    logits: torch.Tensor,
    eos_ids: set[int],
) -> list[Sample]:
    """One `Sample` per row, from the generated ids (B, S) and the logits they were drawn from (B, S, V)."""
    logp = torch.log_softmax(logits, dim=-1)  # (B, S, V)
    p = logp.exp()
    entropy = -torch.special.xlogy(p, p).sum(-1)  # (B, S); xlogy makes 0 * log 0 = 0, not nan
    token_logp = logp.gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)  # (B, S)

    is_eos = torch.isin(completion_ids, torch.tensor(sorted(eos_ids), device=completion_ids.device))
    finished = is_eos.any(dim=1)  # (B,)
    first_eos = is_eos.int().argmax(dim=1)  # (B,); 0 when there is none, masked by `finished`
    length = torch.where(finished, first_eos + 1, completion_ids.shape[1])  # (B,)
    counted = torch.arange(completion_ids.shape[1], device=length.device) < length[:, None]  # (B, S)
    entropy_sum = (entropy * counted).sum(dim=1)
    logprob_sum = (token_logp * counted).sum(dim=1)
    return _samples(tokenizer, batch_rows, completion_ids, length, finished, entropy_sum, logprob_sum)


def _use_chat(tokenizer: Any, chat: bool | None) -> bool:
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if chat and not has_template:
        raise ValueError(
            "chat=True but the tokenizer has no chat template; pass chat=False (or None) to feed the "
            "prompts as raw text, or set tokenizer.chat_template"
        )
    return has_template if chat is None else chat


def render_prompt(tokenizer: Any, prompt: str | list[dict[str, str]]) -> str:
    """The text a model is fed for `prompt` (text, or a chat message list): through the chat template
    when the tokenizer has one; a message list without a template is a ValueError."""
    if not getattr(tokenizer, "chat_template", None):
        if not isinstance(prompt, str):
            raise ValueError("a chat message list prompt needs a tokenizer with a chat template")
        return prompt
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every token id that ends a completion: the generation config's eos ids and the tokenizer's."""
    configured = model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [configured])
    ids.add(tokenizer.eos_token_id)
    ids.discard(None)
    if not ids:
        raise ValueError("Neither the model's generation config nor the tokenizer defines an eos token")
    return ids


def _cuda_devices(model: Any) -> list[int]:
    """CUDA devices whose RNG `sample` reseeds, so that `fork_rng` restores them afterwards."""
    return list(range(torch.cuda.device_count())) if model.device.type == "cuda" else []
