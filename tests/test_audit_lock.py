"""scripts/audit_lock.py: the real pip-audit (from the `.venv-audit` CI builds from
requirements/audit.lock) against a vulnerability service started here, an OSV-compatible HTTP
server on 127.0.0.1 that knows the vulnerabilities each test plants; and the lock files themselves
agree with pyproject.toml."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "audit_lock.py"
AUDIT_PYTHON = Path(os.environ.get("RLAUDIT_AUDIT_PYTHON", ROOT / ".venv-audit" / "bin" / "python"))
HASH = "--hash=sha256:" + "0" * 64  # never downloaded: --disable-pip audits the pins as written


class FakeOSV(BaseHTTPRequestHandler):
    """POST /v1/query {"package": {"name", "ecosystem"}, "version"} -> {"vulns": [...]}, as OSV answers."""

    known: ClassVar[dict[tuple[str, str], list[dict[str, Any]]]] = {}

    def do_POST(self) -> None:  # the name http.server dispatches a POST to
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = (query["package"]["name"], query["version"])
        body = json.dumps({"vulns": self.known[key]} if key in self.known else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def vuln(vid: str, name: str, fixed: str | None) -> dict[str, Any]:
    events: list[dict[str, str]] = [{"introduced": "0"}, *([{"fixed": fixed}] if fixed else [])]
    return {
        "id": vid,
        "summary": f"planted for the test ({vid})",
        "affected": [
            {
                "package": {"name": name, "ecosystem": "PyPI"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }


@pytest.fixture
def osv() -> Iterator[str]:
    if not AUDIT_PYTHON.exists():
        pytest.skip(f"no pip-audit venv at {AUDIT_PYTHON} (CI builds it from requirements/audit.lock)")
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOSV)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()
        FakeOSV.known = {}


def run(lock: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AUDIT_PYTHON), str(SCRIPT), str(lock), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "test.lock"
    path.write_text(f"rich==15.0.0 \\\n    {HASH}\njinja2==3.1.6 \\\n    {HASH}\n")
    return path


def test_a_pin_with_a_fixed_release_fails(osv: str, lock: Path):
    FakeOSV.known = {("rich", "15.0.0"): [vuln("PYSEC-0000-1", "rich", "15.0.1")]}
    done = run(lock, "--", "-s", "osv", "--osv-url", osv)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "audited 2 of 2 pins" in done.stdout
    assert "VULNERABLE, fix available: rich==15.0.0: PYSEC-0000-1 (fixed in 15.0.1)" in done.stdout


def test_a_vulnerability_with_no_fix_is_reported_and_does_not_fail(osv: str, lock: Path):
    FakeOSV.known = {("jinja2", "3.1.6"): [vuln("GHSA-xxxx-yyyy-zzzz", "jinja2", None)]}
    done = run(lock, "--", "-s", "osv", "--osv-url", osv)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no fix to move to: jinja2==3.1.6: GHSA-xxxx-yyyy-zzzz" in done.stdout


def test_a_clean_lock_passes(osv: str, lock: Path):
    done = run(lock, "--", "-s", "osv", "--osv-url", osv)
    assert done.returncode == 0 and "audited 2 of 2 pins; 0 skipped" in done.stdout


def test_nothing_audited_says_so_and_fails_only_when_required(osv: str, lock: Path):
    # pip-audit's default service, PyPI's JSON API: this project's machines reach PyPI's package
    # index but get a 404 from its JSON API, so every pin is skipped (elsewhere the test skips).
    args = ["--", "-s", "pypi"]
    done = run(lock, *args)
    if "audited 0 of 2" not in done.stdout:
        pytest.skip(f"pip-audit reached a PyPI JSON API here: {done.stdout[:200]}")
    assert done.returncode == 0 and "NOT AUDITED" in done.stdout
    assert run(lock, "--require-audit", *args).returncode == 1


def test_a_malformed_lock_is_an_error(osv: str, tmp_path: Path):
    bad = tmp_path / "bad.lock"
    bad.write_text("rich>=15\n")  # not a pin, no hash
    done = run(bad, "--", "-s", "osv", "--osv-url", osv)
    assert done.returncode == 2 and done.stderr.startswith("audit_lock: pip-audit failed")


# -- the lock files -------------------------------------------------------------------------------


def pins(lock: Path) -> dict[str, str]:
    """name -> version of each `name==version` line of a pip-compile lock, with every pin hashed."""
    text = lock.read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    out = {}
    for block in blocks:
        m = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if m:
            assert "--hash=sha256:" in block, f"{lock.name}: {m[1]} has no hash"
            out[m[1].lower().replace("_", "-")] = m[2]
    return out


def test_the_test_lock_pins_every_exact_pin_of_pyproject_at_its_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = [*project["dependencies"], *extras["train"], *extras["smollm2"], *extras["test"]]
    locked = pins(ROOT / "requirements" / "test.lock")
    for requirement in wanted:
        m = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", requirement)
        if m and m[1] != "rlaudit":
            name = m[1].lower().replace("_", "-")
            assert locked.get(name, "").split("+")[0] == m[2], (
                f"{name}: pyproject {m[2]}, lock {locked.get(name)}"
            )
    assert "torch" in locked and "rlaudit" not in locked
    assert len(locked) > 50


def test_the_audit_lock_pins_pip_audit():
    assert pins(ROOT / "requirements" / "audit.lock")["pip-audit"] == "2.10.1"
