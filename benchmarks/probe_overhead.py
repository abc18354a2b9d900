"""What the interpretability hooks cost: activation capture, and the live probe signal in a GRPO run.

    python benchmarks/probe_overhead.py capture --model tiny --rounds 7
    python benchmarks/probe_overhead.py live --steps 20 --repeats 5

``capture``: the same teacher-forced forward passes (a fixed batch of arith prompts + answers, no
gradients, one thread) with and without `rlaudit.interp.capture` hooking the probe's layer (set
`expect`, run, `take` the pooled vectors), interleaved: each round times ``--passes`` passes of each,
the order alternating between rounds. Reports the median over rounds of each, in CPU seconds
(`time.process_time`) and wall seconds, and the median of the per-round ratios. Target (issue 14):
at most 10% over the passes without hooks.

``live``: GRPO at `rlaudit elicit`'s defaults (`ElicitConfig()`: the embedded ``tiny`` model, 8
prompts x 8 generations a step, the monitor judging every step) with `MonitorCallback`'s live probe
at its defaults (``probe_every=10``, ``probe_rollouts=16``) and without it, runs alternating. The
probe is a contrast probe of the same model (`rlaudit.interp.labels.fit_contrast_probe`; what it
reads does not change what it costs). Reports per pair, in wall and in CPU seconds: the seconds
inside the live probe as a share of the run's training time (measured in the same run: the precise
figure), the same per scored step (what ``probe_every=1`` would cost), and the with/without ratios of
the median step time (wall) and of the run's CPU seconds (noisier: two runs). Target (issue 14): at most 5% of a GRPO step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any


def capture_rounds(model_name: str, layer: str, rows: int, passes: int, rounds: int) -> dict[str, Any]:
    import torch

    from rlaudit.interp import capture
    from rlaudit.interp.activations import encode
    from rlaudit.interp.pooling import position_ids
    from rlaudit.organisms import load_model
    from rlaudit.tasks.arith import make_dataset

    torch.set_num_threads(1)
    model, tokenizer = load_model(model_name, device="cpu")
    model.eval()
    data = make_dataset(rows, seed=0)
    ids, lengths = encode(tokenizer, [r["prompt"] for r in data], [r["answer"] for r in data], chat=False)
    width = max(len(r) for r in ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, r in enumerate(ids):
        input_ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    pos = position_ids(mask)

    def forward() -> None:
        with torch.no_grad():
            model(input_ids=input_ids, attention_mask=mask, position_ids=pos, use_cache=False)

    def plain() -> None:
        for _ in range(passes):
            forward()

    def hooked() -> None:
        with capture(model, (layer,), "completion_mean") as cap:
            for _ in range(passes):
                cap.expect(mask, lengths)
                forward()
                cap.take()

    def timed(fn: Any) -> tuple[float, float]:
        cpu, wall = time.process_time(), time.perf_counter()
        fn()
        return time.process_time() - cpu, time.perf_counter() - wall

    plain(), hooked()  # warm-up: allocations, first-call dispatch
    out: dict[str, list[float]] = {"plain_cpu": [], "plain_wall": [], "hooked_cpu": [], "hooked_wall": []}
    for r in range(rounds):
        order = (
            (("plain", plain), ("hooked", hooked)) if r % 2 == 0 else (("hooked", hooked), ("plain", plain))
        )
        for name, fn in order:
            cpu, wall = timed(fn)
            out[f"{name}_cpu"].append(cpu)
            out[f"{name}_wall"].append(wall)
    summary: dict[str, Any] = {
        "model": model_name,
        "layer": layer,
        "rows": len(ids),
        "tokens_per_row": width,
        "passes": passes,
        "rounds": rounds,
    }
    for clock in ("cpu", "wall"):
        a, b = out[f"plain_{clock}"], out[f"hooked_{clock}"]
        summary[f"plain_{clock}_s"] = statistics.median(a)
        summary[f"hooked_{clock}_s"] = statistics.median(b)
        summary[f"overhead_{clock}"] = statistics.median([h / p for h, p in zip(b, a, strict=True)]) - 1
    return summary


def live_run(probe_path: Path | None, steps: int, seed: int) -> dict[str, Any]:
    import math

    from transformers import TrainerCallback

    from rlaudit.models.threads import torch_threads
    from rlaudit.monitor import MonitorConfig
    from rlaudit.organisms import load_model
    from rlaudit.training.elicit import ElicitConfig, _rl_rows, _trainer, elicit_task
    from rlaudit.training.monitor_callback import MonitorCallback, MonitorCallbackConfig

    cfg = ElicitConfig(steps=steps, seed=seed)
    model, tokenizer = load_model("tiny", device="cpu")
    task = elicit_task(cfg)

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            now = time.perf_counter()
            self.times.append(now - self.t)
            self.t = now

    with tempfile.TemporaryDirectory() as tmp, torch_threads(model, cfg.threads):
        trainer = _trainer(model, tokenizer, task, _rl_rows(task, tokenizer, cfg), Path(tmp), cfg)
        monitor = MonitorCallback(
            trainer,
            store=Path(tmp) / "store",
            config=MonitorCallbackConfig(
                every_steps=cfg.monitor_every,
                max_overhead=math.inf,
                monitor=MonitorConfig(),
                probe=None if probe_path is None else str(probe_path),
            ),
        )
        trainer.add_callback(monitor)
        timer = StepTimer()
        trainer.add_callback(timer)
        cpu, wall = time.process_time(), time.perf_counter()
        trainer.train()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    probe = monitor.probe
    return {
        "probe": probe_path is not None,
        "train_wall_s": wall,
        "train_cpu_s": cpu,
        "median_step_s": statistics.median(timer.times[2:]),  # the first steps include warm-up
        "probe_s": probe.seconds if probe else 0.0,
        "probe_cpu_s": probe.cpu_seconds if probe else 0.0,
        "scored_steps": len(probe.scored_steps) if probe else 0,
        "probe_errors": probe.errors if probe else 0,
    }


def live_pairs(steps: int, repeats: int) -> dict[str, Any]:
    from rlaudit.interp.labels import fit_contrast_probe
    from rlaudit.organisms import load_model
    from rlaudit.tasks import get_task

    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        model, tokenizer = load_model("tiny", device="cpu")
        probe_path = fit_contrast_probe(model, tokenizer, get_task("arith"), seed=0).save(
            Path(tmp) / "p.json"
        )
        for i in range(repeats):
            # Alternate which goes first so a drift in machine load hits both alike.
            runs = [(None, "without"), (probe_path, "with")]
            if i % 2:
                runs.reverse()
            pair = {name: live_run(path, steps, seed=i) for path, name in runs}
            w, wo = pair["with"], pair["without"]
            scored = max(w["scored_steps"], 1)
            pair["probe_share_of_training"] = w["probe_s"] / w["train_wall_s"]
            pair["probe_cpu_share_of_training"] = w["probe_cpu_s"] / w["train_cpu_s"]
            # A step's mean CPU seconds (the run's CPU over its steps) against one scored step's probe.
            pair["probe_cpu_share_per_scored_step"] = (w["probe_cpu_s"] / scored) / (w["train_cpu_s"] / steps)
            pair["probe_share_per_scored_step"] = (w["probe_s"] / scored) / w["median_step_s"]
            pair["median_step_ratio"] = w["median_step_s"] / wo["median_step_s"]
            pair["train_cpu_ratio"] = w["train_cpu_s"] / wo["train_cpu_s"]
            print(json.dumps(pair), flush=True)
            pairs.append(pair)
    return {
        "steps": steps,
        "repeats": repeats,
        "pairs": pairs,
        **{
            f"median_{k}": statistics.median(p[k] for p in pairs)
            for k in (
                "probe_share_of_training",
                "probe_cpu_share_of_training",
                "probe_share_per_scored_step",
                "probe_cpu_share_per_scored_step",
                "median_step_ratio",
                "train_cpu_ratio",
            )
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    cap = sub.add_parser("capture")
    cap.add_argument("--model", default="tiny")
    cap.add_argument("--layer", default="0.5")
    cap.add_argument("--rows", type=int, default=32)
    cap.add_argument("--passes", type=int, default=20)
    cap.add_argument("--rounds", type=int, default=7)
    live = sub.add_parser("live")
    live.add_argument("--steps", type=int, default=20)
    live.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    if args.what == "capture":
        result = capture_rounds(args.model, args.layer, args.rows, args.passes, args.rounds)
    else:
        result = live_pairs(args.steps, args.repeats)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
