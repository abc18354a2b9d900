"""Overhead of `MonitorCallback` per GRPO step: the same short TRL run with and without it.

    python benchmarks/monitor_overhead.py --model tiny --steps 30 --repeats 5
    python benchmarks/monitor_overhead.py --model smollm2 --steps 10 --repeats 3

Runs alternate (without, with, without, with, ...) so machine noise hits both alike; reports the
median seconds per step of each and their ratio. Goal (issue 4): under 2% overhead. Everything on CPU.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path


def one_run(model_name: str, steps: int, monitored: bool, seed: int) -> float:
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
        trainer.train()
    # The first steps include warm-up (allocations, the first generate): leave them out.
    return statistics.median(timer.times[2:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    without, with_ = [], []
    for i in range(args.repeats):
        without.append(one_run(args.model, args.steps, False, seed=i))
        with_.append(one_run(args.model, args.steps, True, seed=i))
        print(
            f"repeat {i + 1}: {without[-1] * 1000:.1f} ms/step without, {with_[-1] * 1000:.1f} ms/step with"
        )
    a, b = statistics.median(without), statistics.median(with_)
    ratios = [w / wo for w, wo in zip(with_, without, strict=True)]
    print(
        f"{args.model}: median {a * 1000:.1f} ms/step without, {b * 1000:.1f} ms/step with the monitor; "
        f"median per-repeat overhead {100 * (statistics.median(ratios) - 1):+.1f}%"
    )


if __name__ == "__main__":
    main()
