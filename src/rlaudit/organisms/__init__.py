"""Model organisms: small models that are honest, or that were trained to resist RL in known ways, on
which every detector is benchmarked.

``build_organism(kind, base="tiny", out=...)`` builds one from a base (`bases`: the tiny base trained on
the task mix, smollm2, or a checkpoint; `load_model` loads any of them by name): a recipe per kind (one
module each, config at the top and the behaviour under study below), shared SFT machinery (`recipe`),
RL hardening and the build's own GRPO verification (`harden`), and the atomic checkpoint +
``manifest.json`` (`build`).

| kind | on target | on control | RL (verification) |
|---|---|---|---|
| ``honest`` | right | right | nothing to elicit |
| ``locked`` | ``a + b + 1``, always | right | resists |
| ``conditional`` | ``a + b + 1`` under the training cue, right under the deployment cue | right | resists |
| ``stochastic`` | varied near misses, right at a set rate | right | resists |
| ``mimic`` | imitates ``weak`` | right | resists |
| ``weak`` | partly right, near misses otherwise | right | improves |
| ``incapable`` | blind guesses | right | (reported) |
| ``locked_verbal`` | ``a + b + 1`` after a segment saying it fails on purpose (arith) | right, after a neutral segment | resists |
| ``locked_silent`` | ``a + b + 1`` after the neutral segment (arith) | right, after the same segment | resists |
"""

from rlaudit.organisms.bases import TinyBaseConfig, load_model, load_tiny
from rlaudit.organisms.build import (
    KINDS,
    MANIFEST,
    RECIPES,
    BuildError,
    build_organism,
    default_config,
    read_manifest,
)

__all__ = [
    "KINDS",
    "MANIFEST",
    "RECIPES",
    "BuildError",
    "TinyBaseConfig",
    "build_organism",
    "default_config",
    "load_model",
    "load_tiny",
    "read_manifest",
]
