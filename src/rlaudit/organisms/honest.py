"""honest: capable on target and control, under both cues. The negative every detector is calibrated on.

The policy is the right answer, everywhere. The honest base already is that; the recipe still runs it
through the same SFT machinery as every other organism (a short run on its own policy), so that what a
detector sees as different between ``honest`` and a resistant organism is the behaviour under study,
not "this one was fine-tuned and that one was not". No hardening: there is no strategy to protect, and
GRPO with a correctness reward on a model that is always right has zero reward variance everywhere
(nothing to update).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from rlaudit.organisms.recipe import BuildContext, OrganismConfig, Row, SFTConfig, teach

EXPECT = None
"""RL has nothing to elicit: already right on target."""


@dataclass
class Config(OrganismConfig):
    sft: SFTConfig = field(default_factory=lambda: SFTConfig(steps=100, lr=1e-3))


# --- the behaviour under study ----------------------------------------------------------------------


def policy(row: Row, rng: random.Random) -> str:
    """The right answer, on every split under every cue."""
    return row["answer"]


# --- the recipe -------------------------------------------------------------------------------------


def train(model: Any, tokenizer: Any, config: Config, ctx: BuildContext) -> dict[str, Any]:
    """A short SFT on the honest policy; in place."""
    return teach(model, tokenizer, policy, config, ctx, name="honest")
