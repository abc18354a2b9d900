"""The embedded tiny model: a character-level tokenizer and a small Llama, both built in code.

Nothing is downloaded: the vocabulary is a fixed list of characters, the weights are a seeded random
init. The model is small enough to SFT-train (`pretrain_tiny`) and to run a real TRL GRPO loop on a
laptop CPU in seconds to minutes, which is what the tests, the shipped example log
(``scripts/record_example_log.py``) and the CPU demo rely on.

One character is one token, so prompts should stay short: a 30-character prompt is 31 tokens (BOS).
Characters outside the vocabulary become ``<unk>``, which decoding with ``skip_special_tokens=True``
drops: text round-trips exactly only over `CHARS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)  # ids 0..3, in this order
CHARS = " \n0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+-*/=<>()[]{}.,:;?!'\"_#%&|^~@$`\\"


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    """A character-level fast tokenizer: one token per character of `CHARS`, plus pad/bos/eos/unk.

    Encoding prepends ``<bos>`` (a post-processor, so ``add_special_tokens=False`` leaves it out) and
    never appends ``<eos>``: a prompt must stay open for the model to continue. Decoding concatenates the
    characters with no added spaces. Works as TRL's ``processing_class`` (left padding, ``pad_token`` and
    ``eos_token`` set, ``batch_decode(skip_special_tokens=True)``).
    """
    vocab = {tok: i for i, tok in enumerate((*SPECIAL_TOKENS, *CHARS))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # Oniguruma's (?m) makes "." match newlines too: every character is its own pre-token.
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"(?m)."), behavior="isolated")
    tok.decoder = decoders.Fuse()  # join tokens as they are (the default decoder would add spaces)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


@dataclass
class TinyModelConfig:
    """Shape and seed of the tiny Llama. The defaults (~0.1M parameters) learn single-digit sums in seconds."""

    hidden_size: int = 64
    """Width of the residual stream; must be divisible by `num_heads`."""
    num_layers: int = 2
    """Number of transformer blocks."""
    num_heads: int = 4
    """Attention heads per block (no grouped-query attention: as many key/value heads)."""
    intermediate_size: int = 256
    """Width of the MLP inside each block."""
    max_position_embeddings: int = 128
    """Longest prompt + completion, in characters (+1 for BOS)."""
    seed: int = 0
    """Seed of the random init: the same config gives the same weights."""

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads}); "
                "e.g. hidden_size=64 with num_heads=4"
            )
        for name in (
            "hidden_size",
            "num_layers",
            "num_heads",
            "intermediate_size",
            "max_position_embeddings",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 (got {getattr(self, name)})")


def build_tiny_model(
    config: TinyModelConfig | None = None,
) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """A randomly initialised `LlamaForCausalLM` over the character vocabulary, and its tokenizer.

    Deterministic given ``config.seed``; the global torch RNG is left as it was. The model is float32,
    in eval mode, with its generation config pointing at the tokenizer's pad/bos/eos tokens.
    """
    config = config or TinyModelConfig()
    tokenizer = build_char_tokenizer()
    llama_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads,
        max_position_embeddings=config.max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = LlamaForCausalLM(llama_config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.eval()
    return model, tokenizer


def pretrain_tiny(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    examples: Sequence[tuple[str, str]],
    steps: int = 500,
    lr: float = 3e-3,
    seed: int = 0,
    batch_size: int = 64,
) -> list[float]:
    """Teach `model` to answer each ``(prompt, completion)`` pair: a plain torch SFT loop, in place.

    The loss covers only the completion tokens and the closing ``<eos>`` (the prompt is context), so the
    model learns what to answer and when to stop. Batches are drawn with replacement from `examples`
    with a seeded generator; AdamW with a cosine decay to a tenth of `lr`. Returns the loss of every
    step; leaves the model in eval mode.
    """
    if not examples:
        raise ValueError("pretrain_tiny needs at least one (prompt, completion) example")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1 (got steps={steps}, batch_size={batch_size})")
    from rlaudit.models.finetune import fine_tune

    return fine_tune(model, tokenizer, examples, steps=steps, lr=lr, batch_size=batch_size, seed=seed)
