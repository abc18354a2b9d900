"""Overhead of `MonitorCallback`: the same short TRL GRPO run with and without it.

    python benchmarks/monitor_overhead.py --model tiny --steps 30 --repeats 5 --arms off background inline
    python benchmarks/monitor_overhead.py --model smollm2 --steps 8 --repeats 5

The headline is **total `train()` time** (issue 13): the callback judges the run every few steps and
once at the end, and a median step time never shows those steps (it read -1.7% while the total was
+3-15%). Reported per repeat: wall seconds of `train()`; CPU seconds of the training thread over it
(`time.thread_time`; torch is held to one thread, so the whole of training's compute is in it, and
what the callback adds to it is exactly what a training step waits for); CPU seconds of the whole
process (the background worker and DuckDB's threads included: the monitor's total cost, which a GPU
run pays on otherwise idle CPU cores); the worker's own CPU seconds; mean and median step time.

Arms: `off` (no callback), `background` (the default: writes and passes in the worker thread),
`inline` (`background=False`: as before issue 13, in the training thread). Each repeat runs every
arm, in an order rotated per repeat, so drift and machine noise hit all alike; an overhead is the
median over repeats of the per-repeat ratio to `off`. `--monitor elicit` sets the callback as
`rlaudit elicit` does (a pass every step, no overhead cap) instead of its defaults (every 10 steps,
at most 1% of the training time). Everything on CPU.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path


def one_run(model_name: str, steps: int, arm: str, seed: int, monitor: str = "default") -> dict[str, float]:
    import torch
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rlaudit.tasks.arith import arith_reward, make_dataset
    from rlaudit.training import MonitorCallback

    torch.manual_seed(seed)
    torch.set_num_threads(1)  # training's compute all in the training thread (see the docstring)
    if model_name == "tiny":
        from rlaudit.models.tiny import TinyModelConfig, build_tiny_model

        model, tokenizer = build_tiny_model(TinyModelConfig(seed=seed))
        per_step, gens, length = 4, 8, 4
    else:
        from rlaudit.organisms import load_model

        model, tokenizer = load_model(model_name)
        per_step, gens, length = 1, 8, 16

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            now = time.perf_counter()
            self.times.append(now - self.t)
            self.t = now

    with tempfile.TemporaryDirectory() as tmp:
        args = GRPOConfig(
            output_dir=tmp,
            use_cpu=True,
            bf16=False,
            report_to="none",
            seed=seed,
            max_steps=steps,
            per_device_train_batch_size=per_step * gens,
            num_generations=gens,
            max_completion_length=length,
            learning_rate=1e-5,
            activation_checkpointing=False,
            logging_steps=1,
            save_strategy="no",
            disable_tqdm=True,
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[arith_reward],
            args=args,
            train_dataset=Dataset.from_list(make_dataset(per_step * steps * 2, seed=seed)),
            processing_class=tokenizer,
        )
        trainer.remove_callback(PrinterCallback)  # keep the output to our own lines
        timer = StepTimer()
        callback = None
        if arm != "off":
            options: dict[str, object] = {"background": arm == "background"}
            if monitor == "elicit":  # as `rlaudit elicit` configures it
                options.update(every_steps=1, max_overhead=float("inf"))
            callback = MonitorCallback(trainer, store=Path(tmp) / "store", **options)
            trainer.add_callback(callback)
        trainer.add_callback(timer)  # last: its step time includes the monitor's on_step_end
        wall, cpu, main = time.perf_counter(), time.process_time(), time.thread_time()
        trainer.train()
        main = time.thread_time() - main
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    # Step statistics leave out the first two steps (allocations, the first generate); the totals
    # keep everything, the final judge included, because a user waits for all of it.
    return {
        "train_s": wall,
        "main_cpu_s": main,
        "cpu_s": cpu,
        "worker_cpu_s": callback.worker.cpu_seconds if callback is not None else 0.0,
        "passes": float(len([h for h in trainer.state.log_history if "rlaudit/verdict" in h])),
        "mean_step_s": statistics.fmean(timer.times[2:]),
        "median_step_s": statistics.median(timer.times[2:]),
    }


def _overhead(runs: dict[str, list[dict[str, float]]], arm: str, key: str) -> float:
    """Median over repeats of arm/off - 1, in percent."""
    ratios = [w[key] / wo[key] for w, wo in zip(runs[arm], runs["off"], strict=True)]
    return 100 * (statistics.median(ratios) - 1)


KEYS = {
    "train_s": "total train() wall",
    "main_cpu_s": "training-thread CPU",
    "cpu_s": "process CPU",
    "mean_step_s": "mean step",
    "median_step_s": "median step",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--arms", nargs="+", default=["off", "background"], choices=["off", "background", "inline"]
    )
    ap.add_argument("--monitor", default="default", choices=["default", "elicit"])
    args = ap.parse_args()
    if "off" not in args.arms:
        ap.error("--arms must include off (the baseline)")
    warnings.filterwarnings("ignore")
    runs: dict[str, list[dict[str, float]]] = {arm: [] for arm in args.arms}
    for i in range(args.repeats):
        k = i % len(args.arms)
        order = args.arms[k:] + args.arms[:k]  # rotated per repeat
        for arm in order:
            runs[arm].append(one_run(args.model, args.steps, arm, seed=i, monitor=args.monitor))
        print(
            f"repeat {i + 1}: "
            + "; ".join(
                f"{arm}: train() {r[-1]['train_s']:.2f} s, main CPU {r[-1]['main_cpu_s']:.2f} s, "
                f"process CPU {r[-1]['cpu_s']:.2f} s, worker CPU {r[-1]['worker_cpu_s']:.2f} s, "
                f"passes logged {r[-1]['passes']:.0f}"
                for arm, r in runs.items()
            ),
            flush=True,
        )
    print(f"{args.model}, {args.steps} steps, {args.repeats} repeats, monitor={args.monitor}:")
    for key, label in KEYS.items():
        off = statistics.median(r[key] for r in runs["off"])
        cells = ", ".join(
            f"{arm} {statistics.median(r[key] for r in runs[arm]):.3f} ({_overhead(runs, arm, key):+.1f}%)"
            for arm in args.arms
            if arm != "off"
        )
        print(f"  {label}: off {off:.3f}; {cells}  (medians; overhead = median of per-repeat ratios)")


if __name__ == "__main__":
    main()
