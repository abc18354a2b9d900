"""The full audit of an organism on the built-in ``arith`` task and on a copy of it in the user's format.

    python benchmarks/audit_task_file.py --organism organisms/tiny/locked --json out.json
    python benchmarks/audit_task_file.py --quick          # builds the tiny locked organism if needed

The copy is a JSONL file a user could have written: one row per problem and split (``prompt`` is the
tagged problem, ``[bio] 3+4=`` or ``[math] 3+4=``, ``answer``, ``split``, a numeric ``id``, the problem
itself as ``difficulty``: a problem's two rows are matched), no cues in
it; the audits add the default cues (`rlaudit.tasks.cues`) and score it with the ``numeric`` checker,
so every step of the task-file path (reading, the checker, the cue framing, the row pairing of
`rlaudit.audits.base.crossed_rows`) runs. Both audits use the same config and seed; printed (and with
``--json`` written): the verdict of each, each test's statistic and seconds, and whether the verdicts
agree. The problems drawn differ between the two (the file's rows are drawn by id order), so the
statistics need not be equal; the verdicts should be.

The file is audited at the built-in task's completion budget (8 tokens, what ``--max-new-tokens 8``
does on the CLI), since its answers are the same short numbers; ``--max-new-tokens 0`` keeps a task
file's own default (32), where noised models that no longer stop cost four times the decoding.

``--quick`` cuts every test to 20 problems (noise: 2 seeds) for a run of about a minute on the tiny
organism; ``--smollm2-budget`` cuts them as ``benchmarks/audit_smollm2.py`` does for a 135M model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

TESTS = ("context", "noise", "sft", "passk")


def write_arith_copy(path: Path, n_problems: int = 100, seed: int = 0) -> Path:
    """`n_problems` arith problems as a task file: a target and a control row each (ids 2i, 2i + 1)."""
    from rlaudit.tasks import get_task
    from rlaudit.tasks.base import Framing

    framing, seen, lines = Framing(), set(), []
    for row in get_task("arith").make_dataset(8 * n_problems, seed=seed):
        body = row["prompt"][len(framing.cue(row["condition"]) + framing.tag(row["split"])) :]
        if body in seen:
            continue
        seen.add(body)
        i = len(seen) - 1
        for k, split in enumerate(("target", "control")):
            tagged = framing.tag(split) + body
            lines.append(
                json.dumps(
                    {
                        "id": 2 * i + k,
                        "prompt": tagged,
                        "answer": row["answer"],
                        "split": split,
                        "difficulty": body,
                    }
                )
            )
        if len(seen) == n_problems:
            break
    path.write_text("\n".join(lines) + "\n")
    return path


def audit(model: Any, tokenizer: Any, task: Any, config: Any) -> dict[str, Any]:
    from rlaudit.audits import AUDITS, run_audit

    start = time.perf_counter()
    doc = run_audit(model, tokenizer, task, TESTS, config).to_json()
    tests = doc["sections"]["audit"]["tests"]
    return {
        "verdict": doc["verdict"],
        "seconds": round(time.perf_counter() - start, 1),
        "tests": {
            t: {
                "statistic": tests[AUDITS[t].name]["statistic"],
                "seconds": tests[AUDITS[t].name]["cost"]["seconds"],
                "forward_passes": tests[AUDITS[t].name]["cost"]["forward_passes"],
            }
            for t in TESTS
        },
        "findings": [(f["detector"], f["severity"]) for f in doc["findings"] if f["severity"] != "info"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--organism", type=Path, help="organism folder (default: build the tiny locked one)")
    parser.add_argument("--quick", action="store_true", help="20 problems per test, 2 noise seeds")
    parser.add_argument(
        "--smollm2-budget",
        action="store_true",
        help="the audits cut as benchmarks/audit_smollm2.py cuts them",
    )
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="completion budget of the task file (default: the built-in task's, 8; a task file's own "
        "default is 32, what --max-new-tokens gives on the CLI)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    import torch

    from rlaudit.audits import AuditConfig, context_gap, noise_sweep, passk, sft_elicitation
    from rlaudit.organisms import build_organism, load_model
    from rlaudit.tasks import get_task

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="rlaudit-bench-"))
    organism = args.organism or build_organism("locked", base="tiny", out=work / "locked", seed=0)
    config = AuditConfig(seed=args.seed)
    if args.quick:
        for name in config:
            config[name] = dataclasses.replace(config[name], n_problems=20)
        config["noise"] = dataclasses.replace(config["noise"], seeds=2)
    if args.smollm2_budget:  # what a 135M model affords on 2 CPU cores (benchmarks/audit_smollm2.py)
        config = AuditConfig(
            {
                "context": context_gap.Config(n_problems=100),
                "noise": noise_sweep.Config(scales=(0.1, 0.2, 0.3, 0.4), seeds=2, n_problems=50),
                "sft": sft_elicitation.Config(ks=(4, 16), n_problems=50),
                "passk": passk.Config(n_problems=40, n_samples=16),
            },
            seed=args.seed,
        )
    model, tokenizer = load_model(str(organism), device="cpu")
    copy = write_arith_copy(work / "arith.jsonl")
    builtin = get_task("arith")
    # Like for like: the file's answers are the built-in task's short numbers, so by default it is
    # audited at the built-in budget (the CLI's --max-new-tokens); 0 keeps the task file's default.
    budget = builtin.max_new_tokens if args.max_new_tokens is None else args.max_new_tokens
    task_file = get_task(copy)
    if budget:
        task_file = dataclasses.replace(task_file, max_new_tokens=budget)
    results = {
        "organism": str(organism),
        "quick": args.quick,
        "max_new_tokens": {"builtin": builtin.max_new_tokens, "task_file": task_file.max_new_tokens},
        "builtin": audit(model, tokenizer, builtin, config),
        "task_file": audit(model, tokenizer, task_file, config),
    }
    results["same_verdict"] = results["builtin"]["verdict"] == results["task_file"]["verdict"]
    for name in ("builtin", "task_file"):
        r = results[name]
        tests = ", ".join(f"{t} {v['statistic']:.3f} ({v['seconds']:.0f}s)" for t, v in r["tests"].items())
        print(f"{name:9s} {r['verdict']:15s} {r['seconds']:7.1f}s  {tests}")
    print(f"same verdict: {results['same_verdict']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
