"""The organisms' own RL verification, re-run on built organisms loaded from their folders.

    python benchmarks/verify_organisms.py --organisms organisms/tiny

For each organism folder (``build_organisms.py --out``), `rlaudit.organisms.harden.verify` twice, on
the organism as loaded (a fresh copy each time): with the config the builds used until 2026-12-07
(target prompts only, lr 3e-4) and with today's default (`VerifyConfig`: a quarter of the prompts from
control, lr 1e-4). Printed per organism and config: greedy target and control accuracy on the held-out
prompts before -> after, and the mean share of GRPO groups whose rewards did not vary.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ORDER = ("weak", "locked", "conditional", "stochastic", "incapable", "honest", "mimic")


def configs() -> dict[str, Any]:
    from rlaudit.organisms.recipe import VerifyConfig
    from rlaudit.training.grpo import GRPORunConfig

    return {
        "target only, lr 3e-4": VerifyConfig(grpo=GRPORunConfig(steps=30, lr=3e-4), control_fraction=0.0),
        "quarter control, lr 1e-4": VerifyConfig(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--organisms", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import torch

    from rlaudit.models.loading import load_model
    from rlaudit.organisms.harden import verify

    torch.set_num_threads(1)
    out: dict[str, dict[str, Any]] = {}
    print(
        "| organism | config | target before -> after | control before -> after | groups without variance |"
    )
    print("|---|---|---|---|---:|")
    for kind in [k for k in ORDER if (args.organisms / k / "config.json").is_file()]:
        for label, config in configs().items():
            model, tokenizer = load_model(args.organisms / kind)
            v = verify(model, tokenizer, config, seed=args.seed, expect=None)
            flat = v["zero_std_per_step"]
            out.setdefault(kind, {})[label] = v
            print(
                f"| {kind} | {label} | {v['target_accuracy_before']:.1%} -> {v['target_accuracy_after']:.1%} "
                f"| {v['control_accuracy_before']:.1%} -> {v['control_accuracy_after']:.1%} "
                f"| {sum(flat) / len(flat):.2f} |",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
