"""`check_environment`: a scan (`rlaudit.supply.scan`) as a `Judgement` of kind `env-check`, one
MEDIUM finding per kind of mismatch."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import Any

from rlaudit.supply.scan import (
    KINDS,
    EnvReport,
    Mismatch,
    default_site_dirs,
    planned_bytes,
    scan,
    site_dirs_of,
    unique_dirs,
)


@dataclasses.dataclass(frozen=True)
class EnvCheckConfig:
    """What `check_environment` reads and how much it lists.

    `site_dirs`: site-packages folders to check (default: the running interpreter's, `site.getsitepackages()`
    and the user site when it exists). `max_listed`: most entries of each kind written out in full (the
    counts are always exact); a broken environment can differ in thousands of files.
    """

    site_dirs: tuple[str, ...] = ()
    max_listed: int = 200

    def __post_init__(self) -> None:
        if self.max_listed < 1:
            raise ValueError(f"max_listed must be >= 1 (got {self.max_listed})")


def check_environment(config: EnvCheckConfig | None = None, *, show_progress: bool = True) -> Any:
    """Scan `config.site_dirs` (default: this interpreter's) and return a `Judgement` of kind
    `env-check`: one MEDIUM finding per kind of mismatch (verdict `suspicious`, exit 1), none when every
    file matches (verdict `clean`, exit 0). ValueError when a folder given is not an environment."""
    from rlaudit import progress as bars
    from rlaudit.judgement import Judgement, Provenance

    config = config or EnvCheckConfig()
    site_dirs = (
        unique_dirs(d for p in config.site_dirs for d in site_dirs_of(Path(p)))
        if config.site_dirs
        else default_site_dirs()
    )
    provenance = Provenance.begin(configs={"env_check": dataclasses.asdict(config)})
    # The bar is tqdm's, which comes with the [train] extra; a core install checks without one.
    drawn = show_progress and importlib.util.find_spec("tqdm") is not None
    total = planned_bytes(site_dirs) if drawn else 0
    bar = bars.bar_total(total, "env-check", unit="B", unit_scale=True) if drawn else None
    try:
        report = scan(site_dirs, progress=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    provenance.inputs = report.inputs
    findings = _findings(report, config)
    sections = {"environment": _section(report, config), "notes": _notes(report)}
    return Judgement.judged("env-check", findings, sections, provenance.finish())


def _findings(report: EnvReport, config: EnvCheckConfig) -> list[Any]:
    from rlaudit.findings import Finding, Severity

    def files(n: int) -> str:
        return f"{n} file{'s' * (n != 1)}"

    summaries = {
        "changed": lambda n: (
            f"{files(n)} installed differ{'s' * (n == 1)} from the hash the wheel's RECORD gives"
        ),
        "missing": lambda n: f"{files(n)} the wheel's RECORD lists {'is' if n == 1 else 'are'} gone",
        "added": lambda n: f"{files(n)} inside an installed package's folder that no RECORD lists",
        "unowned": lambda n: (
            f"{n} site-packages entr{'y' if n == 1 else 'ies'} no installed distribution owns"
        ),
    }
    findings = []
    for kind, n in report.counts().items():
        if not n:
            continue
        listed = [m for m in report.mismatches if m.kind == kind]
        dists = sorted({m.distribution for m in listed if m.distribution})
        first = ", ".join(m.path for m in listed[:3]) + (", ..." if n > 3 else "")
        summary = f"{summaries[kind](n)}: {first}"
        findings.append(
            Finding(
                detector=f"env-check:{kind}",
                severity=Severity.MEDIUM,
                score=1.0,
                summary=summary,
                evidence={"count": n, "distributions": dists[: config.max_listed]},
            )
        )
    return findings


def _section(report: EnvReport, config: EnvCheckConfig) -> dict[str, Any]:
    listed: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    for m in report.mismatches:
        if len(listed[m.kind]) < config.max_listed:
            listed[m.kind].append(_row(m))
    return {
        "site_dirs": report.site_dirs,
        "distributions": report.distributions,
        "files_checked": report.files_checked,
        "bytes_hashed": report.bytes_hashed,
        "counts": report.counts(),
        **listed,
        "bytecode_expected": report.bytecode_expected,
        "entries_without_hash": report.no_hash,
        "entries_outside_prefix": report.outside,
        "editable": report.editable,
        "unverifiable": report.unverifiable,
    }


def _row(m: Mismatch) -> dict[str, Any]:
    return {"path": m.path, "site_dir": m.site_dir, "distribution": m.distribution, "detail": m.detail}


def _notes(report: EnvReport) -> list[str]:
    notes = [
        "A RECORD can be rewritten by whoever can write to site-packages: a clean result means nothing "
        "changed behind the installer's back, not that the install itself was trustworthy."
    ]
    for e in report.editable:
        notes.append(
            f"{e['distribution']} is an editable install: its source ({e['source']}) has no hashes to check."
        )
    for u in report.unverifiable[:5]:
        notes.append(f"{u['distribution']} not checked: {u['reason']}.")
    if len(report.unverifiable) > 5:
        notes.append(
            f"{len(report.unverifiable) - 5} more distributions not checked (sections.environment.unverifiable)."
        )
    if report.outside:
        notes.append(
            f"{report.outside} RECORD entries point outside the environment's prefix and were not read."
        )
    return notes
