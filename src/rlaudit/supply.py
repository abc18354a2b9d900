"""Installed packages checked against their wheel `RECORD`s (`rlaudit env-check`).

A training job imports a few hundred distributions; any of them edited in place after installation
(a poisoned dependency, an agent or a script that patched site-packages) runs with the job's
permissions. Every wheel install writes, in its `*.dist-info/RECORD`, each file it installed with a
`sha256=<urlsafe base64, no padding>` hash and its size. This module re-hashes every installed file
against that record and lists what does not match:

| kind | what it is | why it matters |
|---|---|---|
| changed | a file that RECORD lists with a hash, now with other content, another size, or not a regular file (a symlink, a folder) | code edited after installation |
| missing | a file RECORD lists with a hash that is gone | a check or a module removed |
| added | a file inside a distribution's own folder (`torch/`, `trl/`, its `*.dist-info/`) that no RECORD names | new code where an import will find it |
| unowned | an entry of site-packages that belongs to no distribution (a stray `.pth`, module or folder) | `.pth` files run at every interpreter start |

What is expected and not listed: bytecode in a `__pycache__/` folder whose source file is beside it
(pip compiles it after installing and records it without a hash; Python never imports a cached file
without its source); the RECORD file itself and other entries that carry no hash (existence only).
Editable installs (`pip install -e`) are checked as installed (their `.pth` and finder module); their
source tree is the user's own and has no hashes to check, which the result says.

What it cannot see: whoever can write to site-packages can rewrite a RECORD too, so a clean result
means "nothing changed behind pip's back", not "nothing was ever tampered with". Pair it with a
hash-checked install from a lock file (`requirements/*.lock`, `pip install --require-hashes`).
Symlinks are never followed: a listed file that became a symlink is `changed`, and a RECORD entry that
points outside the environment's prefix is not read (it is counted in `outside`).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import site
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

HASHES = frozenset({"sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "blake2b", "blake2s"})
"""Hash algorithms a RECORD may use (the wheel spec asks for sha256 or stronger: never md5 or sha1)."""
KINDS = ("changed", "missing", "added", "unowned")


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


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """One file that does not match: its kind (one of `KINDS`), path relative to its site dir (or
    absolute for a script outside it), the distribution it belongs to (None when none does) and why."""

    kind: str
    path: str
    site_dir: str
    distribution: str | None
    detail: str


@dataclasses.dataclass
class EnvReport:
    """What a scan saw: the mismatches and what was checked, per site dir."""

    site_dirs: list[str]
    mismatches: list[Mismatch] = dataclasses.field(default_factory=list)
    distributions: int = 0
    files_checked: int = 0
    bytes_hashed: int = 0
    bytecode_expected: int = 0
    no_hash: int = 0
    outside: int = 0
    editable: list[dict[str, str]] = dataclasses.field(default_factory=list)
    unverifiable: list[dict[str, str]] = dataclasses.field(default_factory=list)
    inputs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """Per site dir, as provenance records an input: files and bytes checked, and the sha256 of its
    RECORDs' (path, hash) lines: equal for two environments installed from the same wheels."""

    def counts(self) -> dict[str, int]:
        return {k: sum(m.kind == k for m in self.mismatches) for k in KINDS}


@dataclasses.dataclass(frozen=True)
class _Entry:
    """A RECORD line with a hash, to verify: the absolute path (not resolved), algorithm, digest, size."""

    path: str
    site_dir: Path
    distribution: str
    algorithm: str
    digest: str
    size: int | None


# -- where to look --------------------------------------------------------------------------------


def default_site_dirs() -> list[Path]:
    """The running interpreter's site-packages folders (and the user site, when it exists)."""
    dirs = [*site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return _unique(Path(d) for d in dirs if Path(d).is_dir())


def site_dirs_of(path: Path) -> list[Path]:
    """The site-packages folders of `path`: a site-packages folder itself (it holds `*.dist-info`), or a
    virtual environment or prefix (its `lib/python*/site-packages`). ValueError when it is neither."""
    if not path.is_dir():
        raise ValueError(f"{path}: no such directory")
    if any(path.glob("*.dist-info")) or path.name in ("site-packages", "dist-packages"):
        return [path]
    found = sorted(path.glob("lib/python3*/site-packages")) + sorted(path.glob("lib/python3*/dist-packages"))
    if not found:
        raise ValueError(
            f"{path}: neither a site-packages folder (no *.dist-info inside) nor an environment "
            "(no lib/python3*/site-packages)"
        )
    return _unique(found)


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: dict[str, Path] = {}
    for p in paths:
        seen.setdefault(os.path.realpath(p), p)  # a lib64 -> lib symlink names one folder twice
    return list(seen.values())


# -- the scan -------------------------------------------------------------------------------------


def scan(site_dirs: list[Path], *, progress: Callable[[int], None] | None = None) -> EnvReport:
    """Check every distribution installed in `site_dirs` against its RECORD (see the module docstring).

    `progress(n)` is called after each file with the bytes just hashed (for a bar sized by
    `planned_bytes`)."""
    report = EnvReport(site_dirs=[str(d) for d in site_dirs])
    for site_dir in site_dirs:
        owned, entries = _read_records(site_dir, report)
        listing = hashlib.sha256()
        for entry in sorted(entries, key=lambda e: e.path):
            listing.update(f"{_shown(entry.path, site_dir)}\0{entry.algorithm}={entry.digest}\n".encode())
        report.inputs.append(
            {
                "path": str(site_dir),
                "type": "dir",
                "bytes": sum(e.size or 0 for e in entries),
                "files": len(entries),
                "sha256": listing.hexdigest(),
            }
        )
        for entry in entries:
            problem = _verify(entry)
            report.files_checked += 1
            if problem is not None:
                kind, detail = problem
                report.mismatches.append(
                    Mismatch(kind, _shown(entry.path, site_dir), str(site_dir), entry.distribution, detail)
                )
            elif entry.size is not None:
                report.bytes_hashed += entry.size
            if progress is not None:
                progress(entry.size or 0)
        _walk_unlisted(site_dir, owned, report)
    report.mismatches.sort(key=lambda m: (KINDS.index(m.kind), m.site_dir, m.path))
    return report


def planned_bytes(site_dirs: list[Path]) -> int:
    """The bytes `scan` will hash, from the RECORDs' sizes (for a progress bar)."""
    total = 0
    for site_dir in site_dirs:
        _, entries = _read_records(site_dir, EnvReport(site_dirs=[]))
        total += sum(e.size or 0 for e in entries)
    return total


def _read_records(site_dir: Path, report: EnvReport) -> tuple[dict[str, str], list[_Entry]]:
    """Every path the RECORDs in `site_dir` name (absolute, normalised, not resolved) -> its
    distribution, and the hashed entries to verify. Distributions without a RECORD go to
    `report.unverifiable`, editable installs to `report.editable`."""
    owned: dict[str, str] = {}
    entries: list[_Entry] = []
    prefix = os.path.normpath(site_dir.parent.parent.parent)  # <prefix>/lib/pythonX.Y/site-packages
    for dist in importlib.metadata.distributions(path=[str(site_dir)]):
        name = f"{dist.metadata['Name'] or '?'} {dist.version or '?'}"
        report.distributions += 1
        if dist.read_text("RECORD") is None:
            # An egg-info install (setup.py develop, conda) lists no hashes: its files stay unowned.
            report.unverifiable.append({"distribution": name, "site_dir": str(site_dir)})
            continue
        _note_editable(dist, name, report)
        for file in dist.files or ():
            path = os.path.normpath(os.path.join(site_dir, str(file)))
            if os.path.commonpath([path, prefix]) != prefix:
                report.outside += 1  # a RECORD may name anything: never read outside the environment
                continue
            owned.setdefault(path, name)
            if file.hash is None:
                report.no_hash += 1
                continue
            algorithm = file.hash.mode.lower().replace("-", "_")
            if algorithm not in HASHES:
                report.mismatches.append(
                    Mismatch(
                        "changed",
                        _shown(path, site_dir),
                        str(site_dir),
                        name,
                        f"RECORD gives a {file.hash.mode} hash (not one of {', '.join(sorted(HASHES))})",
                    )
                )
                continue
            entries.append(_Entry(path, site_dir, name, algorithm, file.hash.value, file.size))
    return owned, entries


def _note_editable(dist: importlib.metadata.Distribution, name: str, report: EnvReport) -> None:
    try:
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
    except json.JSONDecodeError:
        return
    if isinstance(direct, dict) and (direct.get("dir_info") or {}).get("editable"):
        report.editable.append({"distribution": name, "source": str(direct.get("url", ""))})


def _verify(entry: _Entry) -> tuple[str, str] | None:
    """None when the file matches its RECORD line, else (kind, why)."""
    try:
        st = os.lstat(entry.path)
    except FileNotFoundError:
        return "missing", "listed in RECORD with a hash, not on disk"
    except OSError as e:
        return "changed", f"cannot be read: {e.strerror}"
    if not stat.S_ISREG(st.st_mode):
        what = (
            "a symlink" if stat.S_ISLNK(st.st_mode) else "a folder" if stat.S_ISDIR(st.st_mode) else "special"
        )
        return "changed", f"{what}, where RECORD lists a regular file"
    if entry.size is not None and st.st_size != entry.size:
        return "changed", f"{st.st_size} bytes, RECORD says {entry.size}"
    try:
        fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with open(fd, "rb") as f:
            digest = hashlib.file_digest(f, entry.algorithm).digest()
    except OSError as e:
        return "changed", f"cannot be read: {e.strerror}"
    actual = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    if actual != entry.digest.rstrip("="):
        return "changed", f"{entry.algorithm} differs from RECORD's"
    return None


def _walk_unlisted(site_dir: Path, owned: dict[str, str], report: EnvReport) -> None:
    """Files no RECORD names: inside a folder some distribution installed into (`added`), or a
    top-level entry of `site_dir` that no distribution owns (`unowned`)."""
    root = os.path.normpath(site_dir)
    owners: dict[str, str] = {}  # top-level name -> a distribution with a file under it
    for path, dist in owned.items():
        rel = os.path.relpath(path, root)
        if not rel.startswith(".."):
            owners.setdefault(rel.split(os.sep, 1)[0], dist)
    with os.scandir(root) as it:
        top = sorted(it, key=lambda e: e.name)
    for entry in top:
        if entry.name in owners and entry.is_dir(follow_symlinks=False):
            for path in _files_under(entry.path):
                if path not in owned:
                    _unlisted(path, root, owners[entry.name], report)
        elif entry.name in owners:
            continue  # a top-level module or .pth a RECORD lists (verified above when hashed)
        elif entry.name == "__pycache__" and entry.is_dir(follow_symlinks=False):
            for path in _files_under(entry.path):
                _unlisted(path, root, None, report)
        else:
            kind = "a symlink" if entry.is_symlink() else "a folder" if entry.is_dir() else "a file"
            why = " (run at every interpreter start)" if entry.name.endswith(".pth") else ""
            report.mismatches.append(
                Mismatch("unowned", entry.name, root, None, f"{kind} no installed distribution lists{why}")
            )


def _files_under(folder: str) -> Iterator[str]:
    """Every non-folder under `folder` (symlinks listed, never followed), normalised absolute paths."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in filenames:
            yield os.path.normpath(os.path.join(dirpath, name))
        for name in dirnames:  # a symlink to a folder is listed as a name, not walked into
            if os.path.islink(os.path.join(dirpath, name)):
                yield os.path.normpath(os.path.join(dirpath, name))


def _unlisted(path: str, root: str, dist: str | None, report: EnvReport) -> None:
    if _expected_bytecode(path):
        report.bytecode_expected += 1
        return
    kind = "added" if dist is not None else "unowned"
    what = "a symlink" if os.path.islink(path) else "a file"
    report.mismatches.append(
        Mismatch(kind, os.path.relpath(path, root), root, dist, f"{what} no RECORD lists")
    )


def _expected_bytecode(path: str) -> bool:
    """`pkg/__pycache__/mod.<tag>.pyc` beside `pkg/mod.py`: what Python or pip compiled. A `.pyc`
    anywhere else is importable without its source, and so is listed."""
    folder, name = os.path.split(path)
    if os.path.basename(folder) != "__pycache__" or not name.endswith((".pyc", ".pyo")):
        return False
    if os.path.islink(path):
        return False
    source = os.path.join(os.path.dirname(folder), name.split(".", 1)[0] + ".py")
    return os.path.isfile(source)


def _shown(path: str, site_dir: Path) -> str:
    rel = os.path.relpath(path, site_dir)
    return rel if not rel.startswith("..") else path


# -- the judgement --------------------------------------------------------------------------------


def check_environment(config: EnvCheckConfig | None = None, *, show_progress: bool = True) -> Any:
    """Scan `config.site_dirs` (default: this interpreter's) and return a `Judgement` of kind
    `env-check`: one MEDIUM finding per kind of mismatch (verdict `suspicious`, exit 1), none when every
    file matches (verdict `clean`, exit 0). ValueError when a folder given is not an environment."""
    from rlaudit import progress as bars
    from rlaudit.judgement import Judgement, Provenance

    config = config or EnvCheckConfig()
    site_dirs = (
        _unique(d for p in config.site_dirs for d in site_dirs_of(Path(p)))
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
    for u in report.unverifiable:
        notes.append(
            f"{u['distribution']} has no RECORD (not a wheel install): its files are listed as unowned."
        )
    if report.outside:
        notes.append(
            f"{report.outside} RECORD entries point outside the environment's prefix and were not read."
        )
    return notes
