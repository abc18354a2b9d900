"""Overhead of `MonitorCallback`: the same short TRL GRPO run with and without it.

    python benchmarks/monitor_overhead.py --model tiny --steps 30 --repeats 5
    python benchmarks/monitor_overhead.py --model smollm2 --steps 10 --repeats 5

The headline is **total `train()` time** (issue 13): the callback judges the run every few steps and
once at the end, and a median step time never shows those steps (it read -1.7% while the total was
+3-15%). Reported per repeat: wall seconds of `train()`, CPU seconds of the whole process over it
(DuckDB's threads included; steadier than wall time on a shared machine), and mean and median step
time. Runs alternate in ABBA order (without, with, with, without, ...) so drift and machine noise hit
both alike; the overhead is the median over repeats of the per-repeat ratio. Everything on CPU.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path


def one_run(model_name: str, steps: int, monitored: bool, seed: int) -> dict[str, float]:
    import torch
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rlaudit.tasks.arith import arith_reward, make_dataset
    from rlaudit.training import MonitorCallback

    torch.manual_seed(seed)
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
        if monitored:
            trainer.add_callback(MonitorCallback(trainer, store=Path(tmp) / "store"))
        trainer.add_callback(timer)  # last: its step time includes the monitor's on_step_end
        wall, cpu = time.perf_counter(), time.process_time()
        trainer.train()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    # Step statistics leave out the first two steps (allocations, the first generate); the totals
    # keep everything, the final judge included, because a user waits for all of it.
    return {
        "train_s": wall,
        "cpu_s": cpu,
        "mean_step_s": statistics.fmean(timer.times[2:]),
        "median_step_s": statistics.median(timer.times[2:]),
    }


def _overhead(with_: list[dict[str, float]], without: list[dict[str, float]], key: str) -> float:
    """Median over repeats of with/without - 1, in percent."""
    ratios = [w[key] / wo[key] for w, wo in zip(with_, without, strict=True)]
    return 100 * (statistics.median(ratios) - 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    without: list[dict[str, float]] = []
    with_: list[dict[str, float]] = []
    for i in range(args.repeats):
        order = (False, True) if i % 2 == 0 else (True, False)  # ABBA
        for monitored in order:
            (with_ if monitored else without).append(one_run(args.model, args.steps, monitored, seed=i))
        a, b = without[-1], with_[-1]
        print(
            f"repeat {i + 1}: train() {a['train_s']:.2f} s without, {b['train_s']:.2f} s with; "
            f"CPU {a['cpu_s']:.2f} / {b['cpu_s']:.2f} s; mean step {a['mean_step_s'] * 1000:.1f} / "
            f"{b['mean_step_s'] * 1000:.1f} ms",
            flush=True,
        )
    print(
        f"{args.model}, {args.steps} steps, {args.repeats} repeats: total train() time "
        f"{_overhead(with_, without, 'train_s'):+.1f}%, process CPU {_overhead(with_, without, 'cpu_s'):+.1f}%, "
        f"mean step {_overhead(with_, without, 'mean_step_s'):+.1f}%, "
        f"median step {_overhead(with_, without, 'median_step_s'):+.1f}% (medians of per-repeat ratios)"
    )


if __name__ == "__main__":
    main()
