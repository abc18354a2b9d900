"""Interpretability hooks: activation capture, linear probes, latent anomaly.

| module | concept |
|---|---|
| `layers` | which module a layer spec names: dotted names, ``residual:N``, depth fractions (``"0.5"``) |
| `pooling` | one vector per sequence: mean over completion tokens, last prompt token, last token |
| `capture` | `capture(model, layers, pooling)`: forward hooks in a ``with`` block, always removed |
| `activations` | `activations(model, tokenizer, prompts, completions, ...)`: teacher-forced, batched passes |
| `files` | pooled vectors keyed by rollout id, as Parquet or safetensors (never pickle) |
| `contrast` | the do-your-best / underperform instructions and the contrast prompt sets |
| `probes` | `Probe`: standardised logistic regression, fitted, saved to JSON, loaded, scored |
| `latent` | label-free distances between two sets of activations, with permutation p-values |

Capture and activations need torch (the `[train]` extra); probes are fitted with scikit-learn (in the
same extra), and scored and saved with numpy alone.
"""

from __future__ import annotations

# The functions shadow their modules' names on the package (`rlaudit.interp.capture(model, ...)`); the
# modules stay importable as `rlaudit.interp.capture` through `sys.modules` / `from ... import`.
from rlaudit.interp.activations import activations
from rlaudit.interp.capture import Capture, capture

__all__ = ["Capture", "activations", "capture"]
