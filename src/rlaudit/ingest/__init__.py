"""Turn a run's logs into rollout records in a `RolloutStore`, one module per source format.

`ingest(path, store)` detects the format (or takes `fmt`), streams the file(s) through the format's
reader and appends them to the store all-or-nothing. Formats:

- `jsonl`      generic JSONL, one rollout per line (`rlaudit.ingest.jsonl`)
- `trl`        TRL GRPO completions log: `output_dir/completions/completions_NNNNN.parquet`
- `verl`       verl rollout dump: `trainer.rollout_data_dir/{step}.jsonl`
- `swift`      ms-swift GRPO completions log: `output_dir/completions.jsonl`, one line per logging step
- `trl-state`  a TRL output_dir/checkpoint with only `trainer_state.json`: per-step metrics, no rollouts
- `inspect`    Inspect AI evaluation logs: `LOG.eval`, or a folder of them (`rlaudit.ingest.inspect`)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rlaudit.ingest.jsonl import ingest_jsonl
from rlaudit.ingest.limits import check_tree
from rlaudit.ingest.swift import locate as swift_locate
from rlaudit.records import RecordError, RolloutStore

FORMATS = ("jsonl", "trl", "verl", "swift", "trl-state", "inspect")


@dataclass
class IngestResult:
    """What one `ingest` call did."""

    path: str
    format: str
    rows_added: int = 0
    files_skipped: int = 0  # already in the store (same content)
    metrics_only: bool = False  # trl-state: per-step metrics, no rollouts
    notes: list[str] = field(default_factory=list)


def detect_format(path: Path) -> str:
    """Guess the format of `path`; raises RecordError with what was looked for when unsure."""
    if not path.exists():
        raise RecordError(f"{path}: no such file or directory")
    if path.is_file():
        if path.name == "trainer_state.json":
            return "trl-state"
        if path.suffix == ".parquet":
            return "trl"
        if path.suffix == ".eval":
            return "inspect"
        if path.suffix in (".jsonl", ".json", ".ndjson") and swift_locate(path) is not None:
            return "swift"
        if path.suffix in (".jsonl", ".json", ".ndjson"):
            return "verl" if path.stem.isdigit() and _looks_like_verl(path) else "jsonl"
        raise RecordError(f"{path}: cannot tell the format from the file name; pass --format")
    if list(path.glob("completions_*.parquet")) or list(path.glob("completions/completions_*.parquet")):
        return "trl"
    if swift_locate(path) is not None:  # before trl-state: ms-swift checkpoints hold a trainer_state.json
        return "swift"
    if (path / "trainer_state.json").exists() or list(path.glob("checkpoint-*/trainer_state.json")):
        return "trl-state"
    if any(p.stem.isdigit() for p in path.glob("*.jsonl")):
        return "verl"
    if list(path.glob("*.jsonl")):
        return "jsonl"
    if list(path.glob("*.eval")):
        return "inspect"
    raise RecordError(
        f"{path}: no rollout logs found (looked for *.jsonl, completions/completions_*.parquet, completions.jsonl, "
        "trainer_state.json, *.eval); pass --format"
    )


def _looks_like_verl(path: Path) -> bool:
    """A verl dump's first line has `input`/`output`/`score` (and no generic `prompt`)."""
    with open(path, "rb") as f:
        first = f.readline(1 << 20)
    try:
        obj = json.loads(first)
    except ValueError:
        return False
    return isinstance(obj, dict) and {"input", "output", "score"} <= obj.keys() and "prompt" not in obj


def ingest(
    path: str | Path,
    store: RolloutStore,
    *,
    fmt: str = "auto",
    run: str | None = None,
    reward_weights: dict[str, float] | None = None,
) -> IngestResult:
    """Ingest one file or directory into `store`. Bad input raises `RecordError`, storing nothing."""
    path = Path(path)
    check_tree(path)  # before anything opens or hashes a file: a FIFO or /dev/zero would hang it
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise RecordError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if not path.exists():
        raise RecordError(f"{path}: no such file or directory")
    result = IngestResult(path=str(path), format=fmt)
    if fmt == "jsonl":
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        if not files:
            raise RecordError(f"{path}: no *.jsonl files in this folder")
        for f in files:
            _ingest_jsonl_file(f, store, run=run or (path.name if path.is_dir() else f.stem), result=result)
    elif fmt == "trl":
        from rlaudit.ingest.trl import ingest_trl

        ingest_trl(path, store, run=run, reward_weights=reward_weights, result=result)
    elif fmt == "swift":
        from rlaudit.ingest.swift import ingest_swift

        ingest_swift(path, store, run=run, reward_weights=reward_weights, result=result)
    elif fmt == "verl":
        from rlaudit.ingest.verl import ingest_verl

        ingest_verl(path, store, run=run, result=result)
    elif fmt == "inspect":
        from rlaudit.ingest.inspect import ingest_inspect

        ingest_inspect(path, store, run=run, result=result)
    else:
        from rlaudit.ingest.trl_state import ingest_trl_state

        ingest_trl_state(path, store, run=run, result=result)
    return result


def _ingest_jsonl_file(f: Path, store: RolloutStore, *, run: str, result: IngestResult) -> None:
    rows, skipped = ingest_jsonl(f, store, run=run)
    result.rows_added += rows
    result.files_skipped += skipped
