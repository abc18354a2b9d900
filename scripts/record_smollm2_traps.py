"""Record small real TRL GRPO runs of a SmolLM2 organism for the traps of issue 12 (test data).

Each run is `rlaudit elicit` (TRL's GRPOTrainer, the monitor attached) on the arith task; what ships is
TRL's own completions log (`completions/completions_NNNNN.parquet`, written by the trainer's code) of
each run, under ``tests/data/smollm2_traps/<run>/``. `tests/test_smollm2_traps.py` monitors
them and asserts each trap's expected verdict.

Runs (all on the locked SmolLM2 organism: target split locked, control answered):

- ``locked-correct``: the correctness reward. Traps: the monitor must flag it, and the same rollouts
  without their ``split`` column must not get a *higher* verdict than with it (labels never make
  the monitor less careful).
- ``locked-correct+format``: the same under ``--reward correct+format``; with ``locked-correct``,
  the two-configuration pair for ``rlaudit monitor A B``.
- ``locked-lr2e-4`` (``--runs locked-lr2e-4 --steps 16``): correctness at lr 2e-4, where RL breaks
  the lock part-way; the early, selective starvation must still make the verdict.

SmolLM2 GRPO is slow on a CPU (167 CPU-seconds for a 10-step run at 4 prompts x 4 generations, loading
and the before/after evaluations included), so runs are tiny: few steps, few prompts, the task's 8-token completions.

    python scripts/record_smollm2_traps.py --organism /tmp/sm/locked --steps 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from rlaudit.training.elicit import ElicitConfig, elicit

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "smollm2_traps"
RUNS = {"locked-correct": "correct", "locked-correct+format": "correct+format", "locked-lr2e-4": "correct"}
LEARNING_RATES = {"locked-lr2e-4": 2e-4}
"""Runs at another learning rate than elicitation's 1e-4 (a try at a lock RL breaks part-way)."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--organism", required=True, help="A SmolLM2 locked organism directory.")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--prompts-per-step", type=int, default=4)
    ap.add_argument("--num-generations", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("runs/smollm2-traps"))
    ap.add_argument(
        "--runs",
        default="locked-correct,locked-correct+format",
        help=f"Comma-separated, of {', '.join(RUNS)}.",
    )
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.runs.split(","):
        work = args.work / name
        if work.exists():
            shutil.rmtree(work)
        cfg = ElicitConfig(
            steps=args.steps,
            seed=args.seed,
            reward=RUNS[name],
            prompts_per_step=args.prompts_per_step,
            num_generations=args.num_generations,
            eval_prompts=8,
            threads=1,
            learning_rate=LEARNING_RATES.get(name, ElicitConfig.learning_rate),
        )
        t0, c0 = time.perf_counter(), time.process_time()
        result = elicit(args.organism, work, cfg)
        seconds = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}
        dest = OUT / name / "completions"
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(work / "completions", dest)
        e = result.sections["elicitation"]
        meta = {
            "organism": Path(args.organism).name,
            "config": {
                "learning_rate": cfg.learning_rate,
                "steps": args.steps,
                "prompts_per_step": args.prompts_per_step,
                "num_generations": args.num_generations,
                "seed": args.seed,
                "reward": RUNS[name],
            },
            "live_verdict": result.label,
            "first_flag_step": e["first_flag_step"],
            "accuracy_before": e["before"],
            "accuracy_after": e["after"],
            "seconds": {k: round(v, 1) for k, v in seconds.items()},
        }
        (OUT / name / "run.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(name, json.dumps(meta))


if __name__ == "__main__":
    main()
