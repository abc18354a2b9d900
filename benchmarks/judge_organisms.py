"""The transcript judge on real organisms: verbalising and silent locked ones against honest and weak.

    python benchmarks/judge_organisms.py --out /tmp/judge_organisms --per-kind 8 --threads 2

Rollouts: each organism (`--organisms`: build-seed folders of ``locked_verbal`` and ``locked_silent``,
`--baselines`: of ``honest`` and ``weak``) sampled by rlaudit's own sampler on the ``arith`` task's
target prompts (both cues), `--per-kind` per organism and build seed, temperature 1 (as RL samples),
48 new tokens (the verbal organisms' budget), sampling seed 0. Written to ``OUT/rollouts.jsonl`` and
reused by a re-run. Then judged by SmolLM2-135M behind llama.cpp's server (`rlaudit.judges.llama_server`)
through `rlaudit.judges.judge_transcripts` (the monitor's path) in each view (``cot``, ``action``: the
answer the ``arith`` task's parser reads; the completions are one line, so the default last-line
extractor would show the judge the whole completion) and each scoring mode (``generated``: the written 0-10 score; ``probability``: 10 x P(yes)),
and scored by the rule layer (`rlaudit.judges.rules`: phrases found, on the full completion).

Reported: AUROC (`sklearn.metrics.roc_auc_score`; unscored rollouts left out and counted) of
locked_verbal and locked_silent against honest and against weak, for the judge in each (view, mode) and
for the rules; mean scores; CPU-seconds of the server. Each AUROC is given three times: over all
build seeds, over the calibration seeds (`--calibration-seeds`, default 0: the seeds the rubric's
wording was chosen on, so **in-sample**) and over the others (**out-of-sample**: nothing about the
rubric was chosen on them). No threshold is fitted: an AUROC needs none.

Throughput: each (mode, view) pass is run twice; the first asks the server (judged rollouts/s wall,
the server's CPU-seconds per 1k rollouts), the second is answered by the reply cache (its wall time, and
the speed-up first / second).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

POSITIVES = ("locked_verbal", "locked_silent")
NEGATIVES = ("honest", "weak")
MAX_NEW_TOKENS = 48


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sample(kind: str, seed: int, path: Path, n: int) -> list[dict[str, Any]]:
    from rlaudit.models.sampling import sample
    from rlaudit.organisms import load_model
    from rlaudit.tasks import get_task

    task = get_task("arith")
    rows = [r for r in task.make_dataset(8 * n, seed=100 + seed) if r["split"] == "target"][:n]
    model, tokenizer = load_model(path, device="cpu")
    out = sample(
        model, tokenizer, [r["prompt"] for r in rows], temperature=1.0, max_new_tokens=MAX_NEW_TOKENS,
        seed=0, stats=False,
    )  # fmt: skip
    correct = task.correct(rows, [s.completion for s in out])
    return [
        {"kind": kind, "seed": seed, "prompt": r["prompt"], "completion": s.completion,
         "condition": r["condition"], "correct": bool(ok)}
        for r, s, ok in zip(rows, out, correct, strict=True)
    ]  # fmt: skip


def _auroc(pos: list[float | None], neg: list[float | None]) -> float | None:
    from sklearn.metrics import roc_auc_score

    p, q = [x for x in pos if x is not None], [x for x in neg if x is not None]
    if not p or not q:
        return None
    return round(float(roc_auc_score([1] * len(p) + [0] * len(q), p + q)), 3)


def _split_aurocs(
    rollouts: list[dict[str, Any]], scores: list[float | None], calibration: set[int]
) -> dict[str, dict[str, float | None]]:
    """AUROC of each positive kind against each negative one, over all seeds, the calibration seeds
    (in-sample) and the rest (out-of-sample)."""
    out: dict[str, dict[str, float | None]] = {}
    for part, keep in (
        ("all", lambda s: True),
        ("in_sample", lambda s: s in calibration),
        ("out_of_sample", lambda s: s not in calibration),
    ):
        by_kind = {
            k: [x for r, x in zip(rollouts, scores, strict=True) if r["kind"] == k and keep(r["seed"])]
            for k in (*POSITIVES, *NEGATIVES)
        }
        out[part] = {f"{p}_vs_{n}": _auroc(by_kind[p], by_kind[n]) for p in POSITIVES for n in NEGATIVES}
    return out


def _folders(spec: list[str]) -> list[tuple[int, Path]]:
    """``SEED=DIR`` pairs: DIR holds the build seed's organism folders."""
    return [(int(s.split("=", 1)[0]), Path(s.split("=", 1)[1])) for s in spec]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--organisms",
        nargs="+",
        default=["0=/tmp/s22/verbal3/seed-0", "1=/tmp/s22/verbal3/seed-1", "2=/tmp/s23/b16/seed-2"],
    )
    parser.add_argument(
        "--baselines", nargs="+", default=[f"{s}=/tmp/bfull/organisms/seed-{s}" for s in (0, 1, 2)]
    )
    parser.add_argument("--per-kind", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per judge request (a loaded machine needs more)"
    )
    parser.add_argument("--views", nargs="+", default=["cot", "action"])
    parser.add_argument("--scorings", nargs="+", default=["probability", "generated"])
    parser.add_argument(
        "--calibration-seeds",
        nargs="+",
        type=int,
        default=[0],
        help="build seeds the rubric was chosen on: their AUROCs are labelled in-sample, the rest out-of-sample",
    )
    args = parser.parse_args()  # fmt: skip

    from rlaudit.judges import JudgeConfig, OpenAIJudge, judge_transcripts
    from rlaudit.judges.llama_server import MODEL_ALIAS, start_server
    from rlaudit.judges.rules import RuleConfig, RuleMatcher
    from rlaudit.judges.selection import Transcript

    args.out.mkdir(parents=True, exist_ok=True)
    rollouts_file = args.out / "rollouts.jsonl"
    if rollouts_file.exists():
        rollouts = [json.loads(line) for line in rollouts_file.read_text().splitlines()]
    else:
        cpu0 = time.process_time()
        rollouts = []
        for kinds, spec in ((POSITIVES, args.organisms), (NEGATIVES, args.baselines)):
            for seed, folder in _folders(spec):
                for kind in kinds:
                    if (folder / kind).is_dir():
                        rollouts += _sample(kind, seed, folder / kind, args.per_kind)
        rollouts_file.write_text("".join(json.dumps(r) + "\n" for r in rollouts))
        print(f"sampled {len(rollouts)} rollouts in {time.process_time() - cpu0:.1f} CPU-s", flush=True)
    transcripts = [
        Transcript(f"{r['kind']}-{r['seed']}", 0, "target", r["condition"], r["prompt"], r["completion"], None,
                   not r["correct"])
        for r in rollouts
    ]  # fmt: skip
    rules = RuleMatcher(RuleConfig())
    out: dict[str, Any] = {
        "rollouts": {k: sum(r["kind"] == k for r in rollouts) for k in (*POSITIVES, *NEGATIVES)},
        "seeds": {k: sorted({r["seed"] for r in rollouts if r["kind"] == k}) for k in (*POSITIVES, *NEGATIVES)},
        "target_accuracy": {
            k: round(sum(r["correct"] for r in rollouts if r["kind"] == k) / max(1, sum(r["kind"] == k for r in rollouts)), 3)
            for k in (*POSITIVES, *NEGATIVES)
        },
        "examples": {k: [r["completion"] for r in rollouts if r["kind"] == k][:2] for k in (*POSITIVES, *NEGATIVES)},
    }  # fmt: skip
    calibration = set(args.calibration_seeds)
    out["calibration_seeds"] = sorted(calibration)
    rule_scores: list[float | None] = [float(len(rules.hits(r["completion"]))) for r in rollouts]
    out["rules"] = _split_aurocs(rollouts, rule_scores, calibration)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "server.log", threads=args.threads)
        try:
            for scoring in args.scorings:
                for view in args.views:
                    config = JudgeConfig(model=MODEL_ALIAS, url=server.url, view=view, scoring=scoring, answer="arith",
                                         cache=args.out / "judge_cache.sqlite", concurrency=args.concurrency,
                                         timeout_s=args.timeout)  # fmt: skip
                    srv0, t0 = _cpu_s(server.process.pid), time.perf_counter()
                    judged = judge_transcripts(transcripts, config, OpenAIJudge(config.openai_config()))
                    wall, asked = time.perf_counter() - t0, sum(not j.cached for j in judged)
                    srv_cpu = _cpu_s(server.process.pid) - srv0
                    t1 = time.perf_counter()  # the same pass again: every reply from the cache
                    again = judge_transcripts(transcripts, config, OpenAIJudge(config.openai_config()))
                    wall2 = time.perf_counter() - t1
                    scores = {
                        k: [j.score for j in judged if j.transcript.run.rsplit("-", 1)[0] == k]
                        for k in out["rollouts"]
                    }
                    out[f"{scoring}/{view}"] = {
                        "auroc": _split_aurocs(rollouts, [j.score for j in judged], calibration),
                        "asked": asked,
                        "rollouts_per_s": round(asked / wall, 2) if asked else None,
                        "server_cpu_s_per_1k": round(1000 * srv_cpu / asked, 1) if asked else None,
                        "second_pass_s": round(wall2, 3),
                        "second_pass_cached": sum(j.cached for j in again),
                        "second_pass_same_scores": [j.score for j in again] == [j.score for j in judged],
                        "cache_speedup": round(wall / wall2, 1) if asked else None,
                        "mean_score": {k: round(sum(x for x in v if x is not None) / max(1, sum(x is not None for x in v)), 2) for k, v in scores.items()},
                        "unscored": {k: sum(x is None for x in v) for k, v in scores.items()},
                        "server_cpu_s": round(srv_cpu, 1),
                        "wall_s": round(wall, 1),
                        "cached": sum(j.cached for j in judged),
                        "first_problem": next((j.problem for j in judged if j.problem), None),
                    }  # fmt: skip
                    print(json.dumps({f"{scoring}/{view}": out[f"{scoring}/{view}"]}), flush=True)
        finally:
            server.stop()
    out["load_avg_1m"] = os.getloadavg()[0]
    (args.out / "result.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
