"""Eval throughput on SmolLM2-135M-Instruct: completions per second at several generation batch sizes.

    python benchmarks/eval_throughput.py --threads 2
    python benchmarks/eval_throughput.py --quick --json

A fixed set of arith prompts (`rlaudit.tasks.get_task("arith").make_dataset`, seed 0, through the chat
template, as ``rlaudit eval`` asks them) is completed by `rlaudit.models.sampling.sample` at each batch
size, greedy by default, at the task's ``max_new_tokens``. The batch sizes are measured side by side:
each round times every size once, in an order rotated from round to round, so a machine that gets
busier or quieter during the run affects them all alike; the median over rounds is reported, with
every run beside it. One untimed warm-up call comes first. Greedy completions must not depend on the
batch (left padding); the report counts how many agree with batch 1's.

``--paths prefix generate`` also times, at each batch size and in the same rounds, the decoding
`sample` falls back to for a model without a cache interface (transformers' ``generate``), against
its own (`rlaudit.models.prefix`: each prompt fed once, the chat template's shared system text once
per batch); greedy completions of both are compared to the first configuration's.

On a small machine shared with other jobs, torch's threads wait on busy cores and runs vary; the
1-minute load average is reported for that reason. Times exclude loading the model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=64, help="arith prompts completed per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--paths",
        nargs="+",
        default=["prefix"],
        choices=["prefix", "generate"],
        help="decoding paths to time: sample's own (prefix) and/or transformers' generate",
    )
    parser.add_argument("--n", type=int, default=1, help="samples per prompt (pass@k asks 16)")
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="default: the arith task's (what eval uses)"
    )
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy (what eval uses)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="16 prompts, 1 round: a smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object and nothing else")
    args = parser.parse_args()
    if args.quick:
        args.prompts, args.rounds = 16, 1

    import contextlib
    from unittest import mock

    import torch

    from rlaudit import progress
    from rlaudit.models.device import auto_batch_size
    from rlaudit.models.loading import load_model
    from rlaudit.models.sampling import render_prompt, sample
    from rlaudit.tasks import get_task

    if args.threads:
        torch.set_num_threads(args.threads)
    task = get_task("arith")
    max_new_tokens = args.max_new_tokens or task.max_new_tokens
    prompts = [row["prompt"] for row in task.make_dataset(args.prompts, seed=0)]

    with progress.quiet(args.json):
        model, tok = load_model("smollm2", device="cpu")

        def run(path: str, batch_size: int) -> list:
            # The generate path is what sample takes for a model whose forward has no cache interface.
            forced = (
                mock.patch("rlaudit.models.prefix.supports_prefix", lambda m: False)
                if path == "generate"
                else contextlib.nullcontext()
            )
            with progress.quiet(), forced:
                return sample(
                    model,
                    tok,
                    prompts,
                    n=args.n,
                    temperature=args.temperature,
                    max_new_tokens=max_new_tokens,
                    batch_size=batch_size,
                    seed=0,
                )

        sample(model, tok, prompts[:8], temperature=args.temperature, max_new_tokens=2, batch_size=8)
        configs = [(path, b) for path in args.paths for b in args.batch_sizes]
        times: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
        results: dict[tuple[str, int], list] = {}
        for r in range(args.rounds):
            k = r % len(configs)
            for config in configs[k:] + configs[:k]:
                start = time.perf_counter()
                results[config] = run(*config)
                times[config].append(time.perf_counter() - start)

    longest = max(len(tok(render_prompt(tok, p), add_special_tokens=False)["input_ids"]) for p in prompts)
    reference = [s.completion for s in results[configs[0]]]
    rows = []
    for config in configs:
        median = statistics.median(times[config])
        samples = results[config]
        rows.append(
            {
                "path": config[0],
                "batch_size": config[1],
                "median_s": round(median, 2),
                "completions_per_s": round(len(samples) / median, 2),
                "tokens_per_s": round(sum(s.n_tokens for s in samples) / median, 1),
                "speedup_vs_first": round(statistics.median(times[configs[0]]) / median, 2),
                "agree_with_first": sum(s.completion == c for s, c in zip(samples, reference, strict=True)),
                "all_runs_s": [round(t, 2) for t in times[config]],
            }
        )
    report = {
        "model": "smollm2",
        "prompts": len(prompts),
        "longest_prompt_tokens": longest,
        "max_new_tokens": max_new_tokens,
        "temperature": args.temperature,
        "samples_per_prompt": args.n,
        "rounds": args.rounds,
        "auto_batch_size": auto_batch_size(model, max_new_tokens=max_new_tokens, prompt_tokens=longest),
        "results": rows,
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        # Other processes on the machine inflate the medians (torch's threads wait on busy cores).
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"smollm2, {len(prompts)} arith prompts (longest {longest} tokens), {max_new_tokens} new tokens, "
        f"T={args.temperature}, median of {args.rounds} interleaved round(s), "
        f"{report['machine']['torch_threads']} threads, load {report['load_average_1min']}"
    )
    print("| path | batch | median | completions/s | tokens/s | vs first | agree | runs |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row['path']} | {row['batch_size']} | {row['median_s']} s | {row['completions_per_s']} | {row['tokens_per_s']} "
            f"| {row['speedup_vs_first']}x | {row['agree_with_first']}/{len(reference)} "
            f"| {', '.join(f'{t} s' for t in row['all_runs_s'])} |"
        )
    print(f"auto_batch_size for this model and prompt length: {report['auto_batch_size']}")


if __name__ == "__main__":
    main()
