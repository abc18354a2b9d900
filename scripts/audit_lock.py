"""Audit a hash-pinned lock file with pip-audit, and fail only on what a maintainer can act on.

    python scripts/audit_lock.py requirements/test.lock [--require-audit] [-- PIP-AUDIT ARGS...]

Runs pip-audit (pinned in requirements/audit.lock) over the lock's pins without resolving or
installing anything (`--require-hashes --disable-pip`), then:

- exit 1 when a pin has a known vulnerability with a fixed release (bump it, re-lock);
- a known vulnerability with no fixed release yet is printed and does not fail (nothing to bump to);
- when pip-audit could audit none of the pins (no vulnerability service reachable: this project's
  machines reach PyPI's package index but not its JSON API, nor OSV), it says so plainly, NOT AUDITED,
  and exits 0, or 1 with `--require-audit` (for a machine that has the network);
- exit 2 when pip-audit itself fails (a malformed lock, a service error), with its last error line.

Arguments after `--` go to pip-audit (e.g. `-s osv --osv-url URL`, `--ignore-vuln ID`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def audit(lock: Path, extra: list[str]) -> tuple[dict[str, Any] | None, str]:
    """pip-audit's JSON report of `lock` (None when it wrote none) and its stderr."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        done = subprocess.run(
            [sys.executable, "-m", "pip_audit", "-r", str(lock), "--require-hashes", "--disable-pip",
             "--progress-spinner", "off", "--format", "json", "--output", str(out), *extra],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        report = json.loads(out.read_text()) if out.is_file() and out.stat().st_size else None
    return report, done.stderr


def judge(report: dict[str, Any], *, require_audit: bool) -> tuple[int, list[str]]:
    """(exit code, lines to print) for a pip-audit JSON report."""
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    skipped = [d for d in deps if "skip_reason" in d]
    fixable, unfixed = [], []
    for dep in audited:
        for vuln in dep.get("vulns", []):
            row = f"{dep['name']}=={dep['version']}: {vuln['id']}"
            if vuln.get("fix_versions"):
                fixable.append(f"{row} (fixed in {', '.join(vuln['fix_versions'])})")
            else:
                unfixed.append(f"{row} (no fixed release yet)")
    lines = [f"audited {len(audited)} of {len(deps)} pins; {len(skipped)} skipped"]
    lines += [f"VULNERABLE, fix available: {row}" for row in fixable]
    lines += [f"vulnerable, no fix to move to: {row}" for row in unfixed]
    if deps and not audited:
        reason = skipped[0]["skip_reason"]
        lines.append(f"NOT AUDITED: pip-audit reached no vulnerability data for any pin (e.g. {reason})")
        return (1 if require_audit else 0), lines
    for dep in skipped:
        lines.append(f"skipped {dep['name']}: {dep['skip_reason']}")
    return (1 if fixable else 0), lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    extra = args[args.index("--") + 1 :] if "--" in args else []
    own = args[: args.index("--")] if "--" in args else args
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--require-audit", action="store_true", help="fail when nothing could be audited")
    ns = parser.parse_args(own)
    if not ns.lock.is_file():
        print(f"audit_lock: no lock file {ns.lock}", file=sys.stderr)
        return 2
    report, stderr = audit(ns.lock, extra)
    if report is None:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        print(f"audit_lock: pip-audit failed: {last}", file=sys.stderr)
        return 2
    code, lines = judge(report, require_audit=ns.require_audit)
    print("\n".join(f"pip-audit {ns.lock}: {line}" for line in lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
