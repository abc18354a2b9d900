"""The JSON summary of a monitor result: one object, stable keys, no NaN (NaN and inf become null).

| key | meaning |
|---|---|
| format_version | version of this layout (bumped when a key changes meaning) |
| rlaudit_version | the package version that wrote it |
| verdict, verdict_reason, exit_code | the overall call (`clean` / `suspicious` / `hacking-likely`) and the CLI exit code |
| inputs | the paths given to the monitor |
| ingested | per input: path, format, rows_added, files_skipped, metrics_only |
| runs, labelled, success_known, metrics_only | what the data could support |
| findings | `Finding.to_dict()` of every finding (detector, severity, score, summary, steps, split, evidence) |
| signals | `{run: {split: {condition: {"step": [...], <column>: [...]}}}}`, one list per `STEP_COLUMNS` |
| notes | what could not be checked, and why |

Sample completions (model text) are not part of the summary.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import rlaudit
from rlaudit.signals import STEP_COLUMNS

if TYPE_CHECKING:
    from rlaudit.monitor import MonitorResult

FORMAT_VERSION = 1


def to_summary(result: MonitorResult) -> dict[str, Any]:
    """Everything in `result` except the sample completions, as one JSON-safe dict.

    `json.dumps(to_summary(r), allow_nan=False)` always succeeds.
    """
    sig = result.signals
    summary = {
        "format_version": FORMAT_VERSION,
        "rlaudit_version": rlaudit.__version__,
        "verdict": result.verdict.label,
        "verdict_reason": result.verdict.reason,
        "exit_code": result.verdict.exit_code,
        "inputs": list(result.inputs),
        "ingested": [
            {
                "path": r.path,
                "format": r.format,
                "rows_added": r.rows_added,
                "files_skipped": r.files_skipped,
                "metrics_only": r.metrics_only,
            }
            for r in result.ingested
        ],
        "runs": list(sig.runs),
        "labelled": sig.labelled,
        "success_known": sig.success_known,
        "metrics_only": sig.metrics_only,
        "findings": [f.to_dict() for f in result.findings],
        "signals": signals_dict(result),
        "notes": list(result.notes),
    }
    return _json_safe(summary)


def signals_dict(result: MonitorResult) -> dict[str, dict[str, dict[str, dict[str, list[Any]]]]]:
    """`{run: {split: {condition: {"step": [...], <column>: [...]}}}}`, sorted by step."""
    out: dict[str, dict[str, dict[str, dict[str, list[Any]]]]] = {}
    t = result.signals.steps
    if t.num_rows == 0:
        return out
    columns = [c for c in STEP_COLUMNS if c in t.column_names]
    for row in t.sort_by(
        [("run", "ascending"), ("split", "ascending"), ("condition", "ascending"), ("step", "ascending")]
    ).to_pylist():
        series = out.setdefault(str(row["run"]), {}).setdefault(str(row["split"]), {})
        cols = series.setdefault(str(row["condition"]), {"step": [], **{c: [] for c in columns}})
        cols["step"].append(row["step"])
        for c in columns:
            cols[c].append(row[c])
    return out


def _json_safe(x: Any) -> Any:
    """NaN/inf -> None, numpy scalars/arrays -> Python, tuples -> lists, keys -> str."""
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, bool | int | str) or x is None:
        return x
    if isinstance(x, float):
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(x, Decimal):  # DuckDB sums of integers arrive as decimal128
        return int(x) if x.is_finite() and x == x.to_integral_value() else _json_safe(float(x))
    if hasattr(x, "tolist"):  # numpy scalar or array
        return _json_safe(x.tolist())
    return str(x)  # anything else a detector put in its evidence: its text form, never a crash
