"""Cost of `rlaudit monitor --json` on the shapes real runs log (issue 13), beside DuckDB's own floor.

    python benchmarks/monitor_shapes.py --rollouts 100000 1000000 --folders 500 2000 --repeats 3
    python benchmarks/monitor_shapes.py --src /path/to/other/checkout/src ...   # another version's code
    python benchmarks/monitor_shapes.py --ingest-only --existing LOG ROLLOUTS ...  # ingest alone, a given log

Shapes (groups of 8 rollouts):

- `many-steps`: 2 groups per step (16 rollouts per step; 1M rollouts = 2 runs of 31,250 steps): what
  a GRPO run with a handful of prompts per step logs over thousands of steps.
- `few-steps`: 128 groups per step (1,024 rollouts per step; also 2 runs): the shape of the older synthetic
  benchmark (docs/benchmarks.md, "Ingest + signals throughput").
- `trl-folder`: TRL's own layout, one `completions_NNNNN.parquet` per step with 16 rollouts each.

The rows are the shipped example's (src/rlaudit/examples/locked_tiny_grpo: a locked model's real GRPO
rollouts, its prompts, answers, rewards, splits and cues), tiled group by group. Its completions are
a few characters long; real model completions are hundreds, and the store, signals and DuckDB's scan
all pay per byte, so each completion is written out as a worked solution (~250 characters) chosen by
the completion itself: a repeated answer stays one repeated text, so the diversity signals see what
they saw in the example. (No recorded SmolLM2 completions ship with the repository.)

Every measurement is a fresh child process, reaped with `os.wait4`, whose rusage gives its CPU
seconds (user + system) and peak RSS. This parent never imports pyarrow or DuckDB (the logs are made
by a child too): on Linux a child's peak RSS starts from its parent's at fork. The floor is DuckDB
reading the same file(s) with 2 threads and a 1 GB cap, computing per-step reward means and per-group
distinct completions in one scan. Reported: medians over repeats, and monitor CPU / floor CPU.
`--size-10m` adds 10M rollouts (a few GB of JSONL: mind the disk and the time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GROUP = 8
SHAPES = {"many-steps": 2, "few-steps": 128}
"""Shape -> groups per step."""
RUNS = 2
"""Runs per JSONL log (the issue's 1M many-steps log: 2 runs of 31,250 steps)."""
EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "rlaudit" / "examples" / "locked_tiny_grpo"
PHRASES = (
    "Let me work through this carefully. The question asks for the sum of the two numbers shown. "
    "Adding the ones digits first and carrying where needed, I get {a}. Checking once more by "
    "counting up from the larger number confirms it. The answer is {a}.",
    "We need to add the two numbers. Start from the first number and count up by the second one. "
    "That gives {a}. To double-check, subtract the second number from {a}: we get back the first "
    "number, so the sum is right. Final answer: {a}",
    "Okay, so this is an addition problem. I will line up the digits and add column by column. "
    "There is nothing to carry beyond the tens. So the total comes to {a}. I am confident the "
    "result is {a}.",
)


# -- the logs (made in a child process) ------------------------------------------------------------


def _example_groups(texts: str = "worked") -> Any:
    """The example's rows sorted into whole groups of 8 (one step, one prompt), completions written
    out as worked solutions (`texts="example"`: as recorded, a few characters)."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((EXAMPLE / "completions").glob("completions_*.parquet"))
    t = pq.ParquetDataset(files).read().sort_by([("step", "ascending"), ("prompt", "ascending")])
    prompts = t["prompt"].to_pylist()
    if t.num_rows % GROUP or any(
        len(set(prompts[i : i + GROUP])) != 1 for i in range(0, len(prompts), GROUP)
    ):
        raise SystemExit(f"{EXAMPLE}: expected whole groups of {GROUP} rollouts per step and prompt")
    if texts == "example":
        return t
    long = [
        PHRASES[hashlib.sha256(c.encode()).digest()[0] % len(PHRASES)].format(a=c)
        for c in t["completion"].to_pylist()
    ]
    return t.set_column(t.schema.get_field_index("completion"), "completion", pa.array(long, pa.string()))


def _tiled(example: Any, n: int, groups_per_step: int, first: int = 0, total: int | None = None) -> Any:
    """Rollouts `first` .. `first + n` of a tiled log of `total` rollouts (default n) in `RUNS` runs of
    equal length: in each run, group g is example group g mod its groups, at step g // groups_per_step
    (from 1, as TRL counts)."""
    import numpy as np
    import pyarrow as pa

    total = total or n
    per_run = -(-total // RUNS)
    n_example_groups = example.num_rows // GROUP
    row = np.arange(first, first + n)
    run, row = row // per_run, row % per_run
    group = row // GROUP
    t = example.take(pa.array((group % n_example_groups) * GROUP + row % GROUP))
    t = t.set_column(0, "step", pa.array(1 + group // groups_per_step, pa.int64()))
    return t.append_column("run", pa.array(np.char.add("tiled-", run.astype(str))))


def make_jsonl(n: int, shape: str, path: Path, texts: str) -> None:
    """JSONL in the generic record format (reward = the example's one reward function), in chunks so
    10M rows stay within memory."""
    import duckdb

    example = _example_groups(texts)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    chunk = 1_000_000
    parts = []
    for i, first in enumerate(range(0, n, chunk)):
        t = _tiled(example, min(chunk, n - first), SHAPES[shape], first, n)
        t = t.rename_columns(["reward" if c == "arith_reward" else c for c in t.column_names])
        t = t.drop_columns(["advantage"])
        part = path.with_suffix(f".{i}.jsonl")
        con.register("t", t)
        con.execute("COPY t TO ? (FORMAT json)", [str(part)])
        con.unregister("t")
        parts.append(part)
    con.close()
    with path.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                while block := f.read(1 << 24):
                    out.write(block)
            part.unlink()


def make_folder(n_files: int, path: Path, texts: str) -> None:
    """A TRL completions/ folder: one parquet file per step, 2 groups of 8 each, TRL's columns."""
    import pyarrow.parquet as pq

    path.mkdir(parents=True)
    t = _tiled(_example_groups(texts), n_files * 2 * GROUP, 2).drop_columns(["run"])
    for s in range(n_files):
        pq.write_table(t.slice(s * 2 * GROUP, 2 * GROUP), path / f"completions_{s + 1:05d}.parquet")


FLOOR_SQL = """
WITH g AS (
    SELECT step, prompt, avg({reward}) AS r, count(*) AS n, count(DISTINCT completion) AS distinct_completions
    FROM {reader} GROUP BY step, prompt
)
SELECT count(*), sum(s.distinct_mean) FROM (
    SELECT step, sum(r * n) / sum(n) AS reward_mean, avg(distinct_completions) AS distinct_mean FROM g GROUP BY step
) s
"""


def floor(path: Path) -> None:
    """DuckDB alone: per-step reward means and per-group distinct completions in one scan."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '1GB'")
    if path.is_dir():
        reader = f"read_parquet('{path}/completions_*.parquet')"
        reward = "arith_reward"
    else:
        reader = f"read_json('{path}', format = 'newline_delimited')"
        reward = "reward"
    print(con.execute(FLOOR_SQL.format(reader=reader, reward=reward)).fetchone())


def ingest_alone(log: Path, store: Path) -> None:
    """Ingest only, as `rlaudit monitor` does it (inside `RolloutStore.writing`); prints rows added."""
    from rlaudit.ingest import ingest
    from rlaudit.records import RolloutStore

    rollouts = RolloutStore(store)
    with rollouts.writing():
        print(ingest(log, rollouts).rows_added)


# -- measuring (this process stays small) ----------------------------------------------------------


def child(args: list[str], env: dict[str, str], stdout: Path, timeout: float) -> dict[str, float]:
    """Run `args`, stdout to a file; wall seconds, CPU seconds and peak RSS (MB) of that child alone."""
    t0 = time.perf_counter()
    with stdout.open("wb") as out:
        p = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.PIPE)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                pid, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)
        err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "exit": p.returncode,
        "error": "" if p.returncode in (0, 1) else err.strip().splitlines()[-1][:300] if err.strip() else "",
    }


def measure(
    log: Path, rows: int, src: Path, repeats: int, timeout: float, tmp: Path, ingest_only: bool = False
) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONWARNINGS": "ignore"}
    out = tmp / "out.json"
    mon, flo = [], []
    command = [sys.executable, "-m", "rlaudit", "monitor", str(log), "--json"]
    if ingest_only:  # a fresh store each time: nothing skipped as already stored
        command = [sys.executable, __file__, "--ingest", str(log), str(tmp / "store")]
    for _ in range(repeats):  # interleaved: a slow spell of the machine hits both
        shutil.rmtree(tmp / "store", ignore_errors=True)
        mon.append(child(command, env, out, timeout))
        flo.append(child([sys.executable, __file__, "--floor", str(log)], env, tmp / "floor.txt", timeout))
        if mon[-1]["exit"] not in (0, 1):  # monitor: 0 clean, 1 flagged; a failure is not repeated
            break
    ok = mon[-1]["exit"] in (0, 1)
    med = {k: statistics.median(r[k] for r in mon) for k in ("wall_s", "cpu_s", "peak_rss_mb")}
    floor_cpu = statistics.median(r["cpu_s"] for r in flo)
    return {
        "rows": rows,
        "verdict": (
            f"ingested {int(out.read_text())} rows" if ingest_only else json.loads(out.read_text())["verdict"]
        )
        if ok
        else f"exit {mon[-1]['exit']}: {mon[-1]['error']}",
        "json_mb": out.stat().st_size / 2**20,
        **med,
        "rollouts_per_s": rows / med["wall_s"],
        "floor_cpu_s": floor_cpu,
        "floor_wall_s": statistics.median(r["wall_s"] for r in flo),
        "cpu_over_floor": med["cpu_s"] / floor_cpu,
        "runs": mon,
    }


def report(name: str, r: dict[str, Any]) -> None:
    print(
        f"| {name} | {r['rows']:,} | {r['rollouts_per_s']:,.0f} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
        f"{r['peak_rss_mb']:,.0f} | {r['floor_cpu_s']:.2f} | {r['cpu_over_floor']:.1f}x | {r['verdict']} |",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rollouts", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--size-10m", action="store_true", help="also 10M rollouts per shape")
    ap.add_argument("--shapes", nargs="*", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--folders", type=int, nargs="*", default=[500, 2000], help="TRL folders: files (steps)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per child before it is killed")
    ap.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "src")
    ap.add_argument("--json-out", type=Path, help="also write every measurement here")
    ap.add_argument(
        "--texts",
        choices=["worked", "example"],
        default="worked",
        help="completions as ~250-character worked solutions (default) or as the example recorded them",
    )
    ap.add_argument("--ingest-only", action="store_true", help="measure the ingest alone, not the monitor")
    ap.add_argument(
        "--existing",
        nargs=2,
        action="append",
        metavar=("LOG", "ROLLOUTS"),
        help="measure this log (JSONL file or TRL folder) of ROLLOUTS rollouts instead of generated ones",
    )
    ap.add_argument("--make", nargs=4, help=argparse.SUPPRESS)  # child: N SHAPE TEXTS PATH
    ap.add_argument("--ingest", nargs=2, type=Path, help=argparse.SUPPRESS)  # child: LOG STORE
    ap.add_argument("--floor", type=Path, help=argparse.SUPPRESS)  # child: the DuckDB floor
    args = ap.parse_args()
    if args.make:
        n, shape, texts, path = int(args.make[0]), args.make[1], args.make[2], Path(args.make[3])
        make_folder(n, path, texts) if shape == "trl-folder" else make_jsonl(n, shape, path, texts)
        return
    if args.floor:
        floor(args.floor)
        return
    if args.ingest:
        ingest_alone(*args.ingest)
        return
    sizes = [*args.rollouts, *([10_000_000] if args.size_10m else [])]
    cases = [(shape, n) for n in sizes for shape in args.shapes] + [("trl-folder", f) for f in args.folders]
    print(f"code: {args.src}; texts: {args.texts}; {os.cpu_count()} CPUs; medians of {args.repeats}")
    print(
        "| shape | rollouts | rollouts/s | wall s | CPU s | peak RSS MB | floor CPU s | CPU / floor | verdict |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    results = []
    for existing, n_rows in args.existing or []:
        with tempfile.TemporaryDirectory(prefix="rlaudit-shapes-") as tmp:
            r = measure(
                Path(existing), int(n_rows), args.src, args.repeats, args.timeout, Path(tmp), args.ingest_only
            )
            report(existing, r)
            results.append({"shape": existing, "size": int(n_rows), **r})
    if args.existing:
        cases = []
    for shape, n in cases:
        with tempfile.TemporaryDirectory(prefix="rlaudit-shapes-") as tmp:
            log = Path(tmp) / ("completions" if shape == "trl-folder" else "rollouts.jsonl")
            env = {**os.environ, "PYTHONPATH": str(args.src)}
            make = [sys.executable, __file__, "--make", str(n), shape, args.texts, str(log)]
            subprocess.run(make, env=env, check=True)
            rows = n * 2 * GROUP if shape == "trl-folder" else n
            name = f"trl-folder ({n:,} files)" if shape == "trl-folder" else shape
            r = measure(log, rows, args.src, args.repeats, args.timeout, Path(tmp), args.ingest_only)
            report(name, r)
            results.append({"shape": shape, "size": n, **r})
    if args.json_out:
        doc = {"src": str(args.src), "texts": args.texts, "results": results}
        args.json_out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
