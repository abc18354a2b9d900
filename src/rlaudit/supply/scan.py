"""The scan behind `rlaudit env-check`: every installed distribution's files against its wheel
RECORD (what each kind of mismatch means: `rlaudit.supply`)."""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import importlib.metadata
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
    return unique_dirs(Path(d) for d in dirs if Path(d).is_dir())


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
    return unique_dirs(found)


def unique_dirs(paths: Iterable[Path]) -> list[Path]:
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
        owned, entries, unchecked = _read_records(site_dir, report)
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
        _walk_unlisted(site_dir, owned, unchecked, report)
    report.mismatches.sort(key=lambda m: (KINDS.index(m.kind), m.site_dir, m.path))
    return report


def planned_bytes(site_dirs: list[Path]) -> int:
    """The bytes `scan` will hash, from the RECORDs' sizes (for a progress bar)."""
    total = 0
    for site_dir in site_dirs:
        _, entries, _ = _read_records(site_dir, EnvReport(site_dirs=[]))
        total += sum(e.size or 0 for e in entries)
    return total


def _read_records(site_dir: Path, report: EnvReport) -> tuple[dict[str, str], list[_Entry], set[str]]:
    """Every path the RECORDs in `site_dir` name (absolute, normalised, not resolved) -> its
    distribution; the hashed entries to verify; and the top-level names of distributions that cannot be
    verified (`report.unverifiable` says why), which are then neither walked nor called unowned.
    Editable installs go to `report.editable`."""
    owned: dict[str, str] = {}
    entries: list[_Entry] = []
    unchecked: set[str] = set()
    prefix = os.path.normpath(site_dir.parent.parent.parent)  # <prefix>/lib/pythonX.Y/site-packages
    for dist in importlib.metadata.distributions(path=[str(site_dir)]):
        name = f"{dist.metadata['Name'] or '?'} {dist.version or '?'}"
        report.distributions += 1
        meta_dir = getattr(dist, "_path", None)  # its *.dist-info / *.egg-info (CPython's PathDistribution)
        reason = _unverifiable(dist)
        try:
            files = list(dist.files or ()) if reason is None else []
        except (ValueError, UnicodeDecodeError) as e:  # a RECORD line with a size that is no number, ...
            reason = f"its RECORD cannot be read ({e})"
            files = []
        if reason is not None:
            report.unverifiable.append({"distribution": name, "site_dir": str(site_dir), "reason": reason})
            unchecked |= _top_level_names(dist, meta_dir)
            continue
        _note_editable(dist, name, report)
        for file in files:
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
    return owned, entries, unchecked


def _unverifiable(dist: importlib.metadata.Distribution) -> str | None:
    """Why `dist`'s files cannot be checked against a RECORD, or None when they can."""
    if dist.read_text("RECORD") is None:
        return "no RECORD (an egg-info or OS-packaged install): its files are not checked"
    if dist.read_text("INSTALLER") is None:
        # pip, uv and installer write INSTALLER; Debian's python3-* packages ship the wheel's RECORD
        # without one and patch files after the wheel was built, so their hashes are not the wheel's.
        return "no INSTALLER: put there by an OS package manager, not a wheel installer; check it with that manager (dpkg --verify)"
    return None


def _top_level_names(dist: importlib.metadata.Distribution, meta_dir: object) -> set[str]:
    """The site-packages entries an unverifiable distribution owns: its metadata folder, the names in
    its top_level.txt, and the first component of each RECORD path."""
    names = {os.path.basename(str(meta_dir))} if meta_dir is not None else set()
    names |= {line.strip().split("/")[0] for line in (dist.read_text("top_level.txt") or "").splitlines()}
    # The RECORD's first column, read as CSV without importlib.metadata (whose parse of a bad line fails).
    record = dist.read_text("RECORD") or ""
    paths = [row[0] for row in csv.reader(record.splitlines()) if row]
    names |= {path.replace("\\", "/").split("/")[0] for path in paths}
    return {n for n in names if n and n not in (".", "..")}


def _is_unchecked(name: str, unchecked: set[str]) -> bool:
    """Whether site-packages entry `name` belongs to an unverifiable distribution: a listed name, or a
    module of a listed top-level name (`six.py`, `_cffi_backend.cpython-311-x86_64-linux-gnu.so`)."""
    if name in unchecked:
        return True
    stem, _, suffix = name.partition(".")
    return stem in unchecked and suffix.rsplit(".", 1)[-1] in ("py", "so", "pyd")


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


def _walk_unlisted(site_dir: Path, owned: dict[str, str], unchecked: set[str], report: EnvReport) -> None:
    """Files no RECORD names: inside a folder some distribution installed into (`added`), or a
    top-level entry of `site_dir` that no distribution owns (`unowned`); entries of unverifiable
    distributions (`unchecked`) are left alone."""
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
        elif entry.name in owners or _is_unchecked(entry.name, unchecked):
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
