"""The one result every rlaudit verb returns: a `Judgement` (verdict, findings, sections, provenance).

`rlaudit monitor`, `audit`, `elicit`, `eval`, `organism build` and `show` all produce a `Judgement`;
`--json` prints `Judgement.to_json()`, the HTML report and the terminal summary render that same dict,
and `rlaudit report RESULT.json` re-renders a saved one. Its layout is one JSON Schema
(`rlaudit/schema/judgement.schema.json`, version `SCHEMA_VERSION`), checked by `validate`.

| key | meaning |
|---|---|
| schema_version | version of this layout (bumped when a key changes meaning) |
| kind | the verb that wrote it: monitor, audit, elicit, eval, organism, show, bench, probe (`probe fit`), env-check |
| verdict, verdict_reason | `clean` / `suspicious` / `hacking-likely` from `compute_verdict`; null for verbs that measure and do not judge (eval, organism) |
| headline | one sentence: what was found and what to do next |
| exit_code | the CLI's exit code: 0 clean (or not judged), 1 suspicious or worse |
| findings | every finding, most severe first, each with an `id` (`F1`, ...) that sections refer to |
| sections | what the verb measured: `signals`, `samples`, `ingested`, `audit`, `elicitation`, `evaluation`, `organism`, `environment` (env-check), `notes` |
| provenance | what produced it: rlaudit and package versions, command line, configs, seeds, inputs (sizes, sha256), store, model, start and end time |
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaudit.findings import Finding, Severity, Verdict, compute_verdict
from rlaudit.jsonsafe import json_safe

SCHEMA_VERSION = 2
SCHEMA_PATH = Path(__file__).parent / "schema" / "judgement.schema.json"
KINDS = ("monitor", "audit", "elicit", "eval", "organism", "show", "bench", "probe", "env-check")
PACKAGES = (
    "duckdb",
    "pyarrow",
    "numpy",
    "scipy",
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
)
"""Packages whose versions every provenance records (those installed)."""

command_line: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("command_line", default=None)
"""The command line of the running CLI verb (set by `rlaudit.cli`); None for library calls."""

NEXT_STEPS = {
    ("monitor", "hacking-likely"): "audit the checkpoint (`rlaudit audit CHECKPOINT`) and try a mitigation "
    "(`rlaudit elicit --mitigation demo-injection`) before trusting what RL reports on the flagged split",
    ("monitor", "suspicious"): "look at the flagged plots and samples, then audit the checkpoint "
    "(`rlaudit audit CHECKPOINT`) to tell a model that cannot from one that will not",
    ("audit", "hacking-likely"): "treat the checkpoint's target results as unreliable; elicit the capability "
    "with a mitigation (`rlaudit elicit --mitigation sft-warmstart`) and re-audit",
    ("audit", "suspicious"): "re-run the flagged test with more problems or another seed, and compare with a "
    "trusted reference model (`--reference`)",
    (
        "elicit",
        "hacking-likely",
    ): "RL did not get a fair chance to elicit the target: re-run with a mitigation and audit the checkpoint",
    ("elicit", "suspicious"): "inspect the flagged plots and samples, and audit the checkpoint",
    ("env-check", "suspicious"): "find out what wrote the listed files, then reinstall the distributions "
    "named from a hash-checked lock file (`pip install --force-reinstall --require-hashes -r LOCK`)",
}


@dataclass
class Provenance:
    """What produced a judgement: enough to re-run it.

    `inputs` describe the files given (path, bytes, file count, sha256 of the content); `store` the
    rollout store read (path, rows, last step); `model` the checkpoint (name, path, sha256 of its weight
    files, parameter count).
    """

    started: str
    finished: str = ""
    seconds: float = 0.0
    command: list[str] | None = None
    configs: dict[str, Any] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    store: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    rlaudit_version: str = ""
    python: str = ""
    platform: str = ""
    packages: dict[str, str] = field(default_factory=dict)
    _t0: float = field(default=0.0, repr=False, compare=False)

    @classmethod
    def begin(
        cls, *, configs: dict[str, Any] | None = None, seeds: dict[str, int] | None = None
    ) -> Provenance:
        """Start recording now (call `finish` when the work is done)."""
        from rlaudit import __version__

        return cls(
            started=_now(),
            command=command_line.get(),
            configs=dict(configs or {}),
            seeds=dict(seeds or {}),
            rlaudit_version=__version__,
            python=platform.python_version(),
            platform=platform.platform(),
            packages=_package_versions(),
            _t0=time.perf_counter(),
        )

    def finish(self) -> Provenance:
        self.finished = _now()
        self.seconds = round(time.perf_counter() - self._t0, 3) if self._t0 else 0.0
        return self

    def to_json(self) -> dict[str, Any]:
        return json_safe(
            {
                "rlaudit_version": self.rlaudit_version,
                "command": self.command,
                "started": self.started,
                "finished": self.finished or self.started,
                "seconds": self.seconds,
                "python": self.python,
                "platform": self.platform,
                "packages": self.packages,
                "configs": self.configs,
                "seeds": self.seeds,
                "inputs": self.inputs,
                "store": self.store,
                "model": self.model,
            }
        )


@dataclass
class Judgement:
    """The one result type: a verdict computed from findings, what was measured, and its provenance.

    `verdict` is None for verbs that measure and do not judge (`eval`, `organism`).
    """

    kind: str
    verdict: Verdict | None
    findings: list[Finding]
    sections: dict[str, Any]
    provenance: Provenance
    headline: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown judgement kind '{self.kind}'; one of {', '.join(KINDS)}")
        self.findings = sorted(self.findings, key=_finding_order)
        if not self.headline:
            self.headline = headline(self.kind, self.verdict, self.findings)

    @classmethod
    def judged(
        cls, kind: str, findings: list[Finding], sections: dict[str, Any], provenance: Provenance
    ) -> Judgement:
        """A judgement whose verdict is `compute_verdict(findings)` (never written by hand)."""
        return cls(kind, compute_verdict(findings), findings, sections, provenance)

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code if self.verdict is not None else 0

    @property
    def label(self) -> str | None:
        return self.verdict.label if self.verdict is not None else None

    def finding_ids(self) -> dict[int, str]:
        """`id(finding)` -> its id in the JSON (`F1`, `F2`, ... in order, most severe first)."""
        return {id(f): f"F{i}" for i, f in enumerate(self.findings, start=1)}

    def to_json(self) -> dict[str, Any]:
        """The JSON object (see the module docstring); `json.dumps(..., allow_nan=False)` always works."""
        findings = [{"id": f"F{i}", **f.to_dict()} for i, f in enumerate(self.findings, start=1)]
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "verdict": self.label,
            "verdict_reason": self.verdict.reason if self.verdict is not None else "",
            "headline": self.headline,
            "exit_code": self.exit_code,
            "findings": findings,
            "sections": json_safe(self.sections),
            "provenance": self.provenance.to_json(),
        }

    def dumps(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_json(), allow_nan=False, indent=indent)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the JSON to `path` atomically (a temp file beside it, then `os.replace`)."""
        write_atomic(self.dumps(indent=1) + "\n", Path(path))


def headline(kind: str, verdict: Verdict | None, findings: list[Finding]) -> str:
    """One sentence for the banner: what was found, and what to do next."""
    if verdict is None:
        return {
            "eval": "Measured accuracy per split and cue; this verb measures and does not judge.",
            "organism": "Built and verified a model organism; audit it to check the detectors see it.",
            "probe": "Fitted a linear probe; score a model with it (`rlaudit probe score MODEL --probe FILE`).",
        }.get(kind, "Measured; not judged.")
    if verdict.label == "clean" and kind == "env-check":
        return "Every installed file matches the hash its wheel's RECORD gives; nothing unlisted found."
    if verdict.label == "clean":
        low = sum(f.severity == Severity.LOW for f in findings)
        extra = f" ({low} low-severity finding{'s' * (low != 1)} shown below)" if low else ""
        return f"No medium- or high-severity evidence of exploration hacking{extra}."
    top = verdict.deciding[0] if verdict.deciding else findings[0]
    where = []
    if top.split:
        where.append(top.split)
    if top.steps is not None:
        where.append(f"steps {top.steps[0]}–{top.steps[1]}")
    at = f" ({', '.join(where)})" if where else ""
    others = len({f.detector for f in verdict.deciding} - {top.detector})
    also = f", and {others} other detector{'s' * (others != 1)}" if others else ""
    step = NEXT_STEPS.get(
        (kind if kind != "show" else "monitor", verdict.label), "inspect the findings below"
    )
    return f"{verdict.label.capitalize()}: {top.detector}{at}{also}: {top.summary.rstrip('.')}. Next: {step}."


# -- provenance helpers ---------------------------------------------------------------------------


def describe_input(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Path, type, total bytes, file count and sha256 of a file, or of a folder's files (sorted by
    relative path; each file's path and content enter the hash)."""
    p = Path(path)
    if p.is_file():
        return {"path": str(p), "type": "file", "bytes": p.stat().st_size, "files": 1, "sha256": _sha256(p)}
    if not p.is_dir():
        return {"path": str(p), "type": "missing", "bytes": 0, "files": 0, "sha256": ""}
    files = sorted(f for f in p.rglob("*") if f.is_file() and not f.is_symlink())
    h = hashlib.sha256()
    total = 0
    for f in files:
        rel = f.relative_to(p).as_posix()
        h.update(rel.encode("utf-8") + b"\0" + _sha256(f).encode("ascii") + b"\n")
        total += f.stat().st_size
    return {"path": str(p), "type": "dir", "bytes": total, "files": len(files), "sha256": h.hexdigest()}


def describe_model(name: str, model: Any = None) -> dict[str, Any]:
    """Name, resolved path, sha256 of the checkpoint's files (when `name` is a local folder) and the
    parameter count (when `model` is given)."""
    path = Path(name)
    info: dict[str, Any] = {"name": str(name), "path": None, "sha256": None, "parameters": None}
    if path.exists():
        info["path"] = str(path.resolve())
        info["sha256"] = describe_input(path)["sha256"]
    else:
        local = getattr(model, "name_or_path", None) or getattr(
            getattr(model, "config", None), "_name_or_path", None
        )
        if local and Path(local).exists():  # an embedded model resolved to its cached checkpoint
            info["path"] = str(Path(local).resolve())
            info["sha256"] = describe_input(local)["sha256"]
    if model is not None and hasattr(model, "parameters"):
        info["parameters"] = int(sum(p.numel() for p in model.parameters()))
    return info


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@functools.cache
def _package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _finding_order(f: Finding) -> tuple[int, float, str]:
    return (-int(f.severity), -(-1.0 if math.isnan(f.score) else f.score), f.detector)


# -- files ----------------------------------------------------------------------------------------


def write_atomic(text: str, path: Path) -> None:
    """Write `text` to `path` via a temp file beside it and `os.replace`: no partial file, ever."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SchemaError(ValueError):
    """A saved judgement does not match the schema: the message names the file and the JSON path."""


@functools.cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate(doc: Any, *, source: str = "judgement") -> None:
    """Raise `SchemaError` naming `source` and the first failing JSON path when `doc` is not a judgement."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise SchemaError(f"{source}: {where}: {error.message}")


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a saved judgement (`--json` output or a verb's saved JSON)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"{p}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SchemaError(f"{p}: not JSON: {e}") from None
    validate(doc, source=str(p))
    return doc
