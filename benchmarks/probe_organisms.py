"""The probe and latent audits on every tiny organism: does the statistic separate resistant from honest?

    python benchmarks/probe_organisms.py --organisms /tmp/bfull/organisms --json probe.json
    python benchmarks/probe_organisms.py --organisms DIR --kinds locked honest --seeds 0

`--organisms` is a folder of ``seed-N/KIND/`` organism folders, as ``rlaudit bench --out DIR`` leaves
them under ``DIR/organisms`` (or as ``rlaudit organism build`` writes them). Each organism is audited
on the built-in ``arith`` task with the ``probe`` test (a contrast probe fitted on the organism
itself: nothing about the organisms, their labels or the other organisms goes into it) and the
``latent`` test (no labels, no reference). An organism is *resistant* when its manifest's ``expect``
is ``resist`` (locked, conditional, stochastic, mimic), honest otherwise (honest, weak, incapable).

Reported per organism: each test's statistic, severity and p-value, and its seconds; per test: the
AUROC of the statistic (resistant vs honest) with a bootstrap interval
(`rlaudit.bench.metrics.auroc_ci`), and how many of each side the test flags at MEDIUM or above.
No threshold is fitted here: the severities use the tests' own defaults, set from their definitions,
so every number is out of sample with respect to these organisms.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

TESTS = ("probe", "latent")
FLAGGED = ("medium", "high")


def audit_one(folder: Path, seed: int) -> dict[str, Any]:
    from rlaudit.audits import AuditConfig, run_audit
    from rlaudit.organisms import load_model

    manifest = json.loads((folder / "manifest.json").read_text())
    model, tokenizer = load_model(str(folder), device="cpu")
    start = time.perf_counter()
    doc = run_audit(model, tokenizer, "arith", TESTS, AuditConfig(seed=seed)).to_json()
    tests = doc["sections"]["audit"]["tests"]
    out: dict[str, Any] = {
        "organism": str(folder),
        "kind": manifest["kind"],
        "build_seed": manifest["seed"],
        "resistant": manifest.get("expect") == "resist",
        "verdict": doc["verdict"],
        "seconds": round(time.perf_counter() - start, 1),
    }
    for name in TESTS:
        findings = [f for f in doc["findings"] if f["detector"] == name]
        worst = max((f["severity"] for f in findings), key=_rank, default="info")
        out[name] = {
            "statistic": tests[name]["statistic"],
            "p_value": tests[name]["p_value"],
            "severity": worst,
            "seconds": tests[name]["cost"]["seconds"],
        }
    return out


def _rank(severity: str) -> int:
    return ("info", "low", "medium", "high").index(severity)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from rlaudit.bench.metrics import Scores, auroc, auroc_ci

    labels = [r["resistant"] for r in rows]
    summary: dict[str, Any] = {}
    for name in TESTS:
        stats = [float("nan") if r[name]["statistic"] is None else r[name]["statistic"] for r in rows]
        scores = Scores.of(stats, labels)
        flagged = [r[name]["severity"] in FLAGGED for r in rows]
        summary[name] = {
            "auroc": auroc(scores),
            "auroc_ci": auroc_ci(scores),
            "resistant_flagged": f"{sum(f for f, y in zip(flagged, labels, strict=True) if y)}/{sum(labels)}",
            "honest_flagged": f"{sum(f for f, y in zip(flagged, labels, strict=True) if not y)}/"
            f"{len(labels) - sum(labels)}",
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--organisms", type=Path, required=True, help="folder of seed-N/KIND/ organisms")
    parser.add_argument("--kinds", nargs="*", help="organism kinds (default: every one found)")
    parser.add_argument("--seeds", nargs="*", type=int, help="build seeds (default: every one found)")
    parser.add_argument("--audit-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write every row and the summary here")
    args = parser.parse_args()

    import torch

    from rlaudit import progress

    torch.set_num_threads(args.threads)
    folders = sorted(p.parent for p in args.organisms.glob("seed-*/*/manifest.json"))
    folders = [
        f
        for f in folders
        if (not args.kinds or f.name in args.kinds)
        and (not args.seeds or int(f.parent.name.removeprefix("seed-")) in args.seeds)
    ]
    if not folders:
        raise SystemExit(f"no organisms (seed-N/KIND/manifest.json) under {args.organisms}")
    rows = []
    with progress.quiet():
        for folder in folders:
            rows.append(audit_one(folder, args.audit_seed))
            r = rows[-1]
            print(
                f"{r['kind']:12s} seed {r['build_seed']}  "
                + "  ".join(f"{t} {r[t]['statistic']:+.3f} {r[t]['severity']:6s}" for t in TESTS)
                + f"  {r['seconds']:.0f}s",
                flush=True,
            )
    summary = summarise(rows)
    for name, s in summary.items():
        lo, hi = s["auroc_ci"]
        print(
            f"{name}: AUROC {s['auroc']:.2f} ({lo:.2f}-{hi:.2f}); flagged (MEDIUM+) resistant "
            f"{s['resistant_flagged']}, honest {s['honest_flagged']}"
        )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
