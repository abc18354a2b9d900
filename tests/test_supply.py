"""`rlaudit.supply`: installed files against their wheel RECORD, on a real venv that pip installed a
wheel into (the `demo_venv` fixture); each kind of tampering planted once, and a clean copy passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlaudit.judgement import validate
from rlaudit.supply import EnvCheckConfig, check_environment, scan, site_dirs_of

TAG = sys.implementation.cache_tag


def run_python(venv: Path, code: str) -> None:
    """Run `code` in the venv's interpreter, letting it write bytecode (as a user's Python does)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([str(venv / "bin" / "python"), "-c", code], check=True, env=env)


def site(venv: Path) -> Path:
    (found,) = site_dirs_of(venv)
    return found


def kinds(venv: Path) -> dict[str, list[str]]:
    report = scan([site(venv)])
    out: dict[str, list[str]] = {}
    for m in report.mismatches:
        out.setdefault(m.kind, []).append(m.path)
    return out


def test_a_fresh_venv_is_clean_and_every_hashed_file_is_checked(demo_venv):
    venv = demo_venv()
    report = scan([site(venv)])
    assert report.mismatches == []
    assert report.distributions == 1
    # 6 files of the wheel + the console script pip wrote into bin/ (its RECORD entry is ../../../bin/...);
    # the INSTALLER file pip adds is hashed too.
    assert report.files_checked >= 7
    assert report.outside == 0
    assert report.no_hash >= 1  # RECORD itself, and the bytecode pip compiled
    assert report.inputs[0]["files"] == report.files_checked


def test_the_judgement_of_a_clean_venv_validates_and_exits_0(demo_venv):
    result = check_environment(EnvCheckConfig(site_dirs=(str(demo_venv()),)), show_progress=False)
    doc = result.to_json()
    validate(doc)
    assert doc["kind"] == "env-check" and doc["verdict"] == "clean" and doc["exit_code"] == 0
    assert doc["sections"]["environment"]["counts"] == {"changed": 0, "missing": 0, "added": 0, "unowned": 0}


def test_a_modified_file_of_the_same_size_is_caught(demo_venv):
    venv = demo_venv()
    core = site(venv) / "demo_pkg" / "core.py"
    core.write_text("ANSWER = 43\n")  # same size: only the hash tells
    assert kinds(venv) == {"changed": ["demo_pkg/core.py"]}
    doc = check_environment(EnvCheckConfig(site_dirs=(str(venv),)), show_progress=False).to_json()
    assert doc["verdict"] == "suspicious" and doc["exit_code"] == 1
    assert [f["detector"] for f in doc["findings"]] == ["env-check:changed"]
    assert doc["sections"]["environment"]["changed"][0]["distribution"] == "demo-pkg 1.0"


def test_an_edited_console_script_outside_site_packages_is_caught(demo_venv):
    venv = demo_venv()
    script = venv / "bin" / "demo-hello"
    script.write_text(script.read_text() + "import os  # planted\n")
    assert kinds(venv) == {"changed": [str(script)]}  # outside site-packages: shown by its full path


def test_a_stray_module_in_a_package_is_added_and_a_stray_pth_is_unowned(demo_venv):
    venv = demo_venv()
    (site(venv) / "demo_pkg" / "sub" / "evil.py").write_text("import os\n")
    (site(venv) / "zz_startup.pth").write_text("import os\n")
    (site(venv) / "loose_module.py").write_text("x = 1\n")
    found = kinds(venv)
    assert found["added"] == ["demo_pkg/sub/evil.py"]
    assert found["unowned"] == ["loose_module.py", "zz_startup.pth"]
    report = scan([site(venv)])
    pth = next(m for m in report.mismatches if m.path == "zz_startup.pth")
    assert "every interpreter start" in pth.detail


def test_a_deleted_file_is_missing(demo_venv):
    venv = demo_venv()
    (site(venv) / "demo_pkg" / "core.py").unlink()
    assert kinds(venv) == {"missing": ["demo_pkg/core.py"]}


def test_bytecode_python_writes_is_expected_and_sourceless_bytecode_is_not(demo_venv):
    venv = demo_venv()
    sp = site(venv)
    # Python compiles what it imports; pip compiled at install time too: neither is a mismatch.
    run_python(venv, "import demo_pkg.core, demo_pkg.sub")
    assert kinds(venv) == {}
    # A .pyc beside the package (importable with no source) and one in __pycache__ with no source.
    (sp / "demo_pkg" / "core.pyc").write_bytes(b"\0" * 16)
    (sp / "demo_pkg" / "__pycache__" / "gone.cpython-311.pyc").write_bytes(b"\0" * 16)
    assert sorted(kinds(venv)["added"]) == ["demo_pkg/__pycache__/gone.cpython-311.pyc", "demo_pkg/core.pyc"]


def test_a_runtime_pyc_with_its_source_is_counted_as_expected(demo_venv):
    venv = demo_venv()
    sp = site(venv)
    cache = sp / "demo_pkg" / "__pycache__"
    for f in cache.iterdir():  # as if pip had not compiled: what Python writes then is not in RECORD
        f.unlink()
    record = next(sp.glob("demo_pkg-1.0.dist-info")) / "RECORD"
    record.write_text(
        "".join(line for line in record.read_text().splitlines(True) if "__pycache__" not in line)
    )
    run_python(venv, "import demo_pkg.core")
    assert sorted(p.name for p in cache.iterdir()) == [f"__init__.{TAG}.pyc", f"core.{TAG}.pyc"]
    report = scan([sp])
    assert report.mismatches == [] and report.bytecode_expected >= 2


def test_symlinks_are_never_followed(demo_venv, tmp_path):
    venv = demo_venv()
    sp = site(venv)
    outside = tmp_path / "outside.py"
    outside.write_text("ANSWER = 42\n")  # the same content as core.py: a followed link would match
    core = sp / "demo_pkg" / "core.py"
    core.unlink()
    core.symlink_to(outside)
    (sp / "demo_pkg" / "linked_dir").symlink_to(tmp_path, target_is_directory=True)
    found = kinds(venv)
    assert found == {"changed": ["demo_pkg/core.py"], "added": ["demo_pkg/linked_dir"]}
    assert "symlink" in scan([sp]).mismatches[0].detail


def test_a_record_entry_outside_the_environment_is_not_read(demo_venv):
    venv = demo_venv()
    record = next(site(venv).glob("demo_pkg-1.0.dist-info")) / "RECORD"
    with record.open("a") as f:
        f.write("../../../../../../../../../etc/hostname,sha256=AAAA,1\n")
    report = scan([site(venv)])
    assert report.outside == 1 and report.mismatches == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_where_a_file_was_is_reported_without_hanging(demo_venv):
    venv = demo_venv()
    core = site(venv) / "demo_pkg" / "core.py"
    core.unlink()
    os.mkfifo(core)
    os.mkfifo(site(venv) / "demo_pkg" / "pipe")
    assert kinds(venv) == {"changed": ["demo_pkg/core.py"], "added": ["demo_pkg/pipe"]}


def test_a_weak_record_hash_is_not_trusted(demo_venv):
    venv = demo_venv()
    record = next(site(venv).glob("demo_pkg-1.0.dist-info")) / "RECORD"
    lines = record.read_text().splitlines()
    lines = [
        "demo_pkg/core.py,md5=AAAAAAAAAAAAAAAAAAAAAA,12" if line.startswith("demo_pkg/core.py,") else line
        for line in lines
    ]
    record.write_text("\n".join(lines) + "\n")
    report = scan([site(venv)])
    assert [(m.kind, m.path) for m in report.mismatches] == [("changed", "demo_pkg/core.py")]
    assert "md5" in report.mismatches[0].detail


def test_site_dirs_of_takes_a_venv_or_a_site_packages_folder_and_rejects_others(demo_venv, tmp_path):
    venv = demo_venv()
    assert site_dirs_of(venv) == site_dirs_of(site(venv)) == [site(venv)]
    with pytest.raises(ValueError, match="neither a site-packages folder"):
        site_dirs_of(tmp_path)
    with pytest.raises(ValueError, match="no such directory"):
        site_dirs_of(tmp_path / "nope")


def test_without_tqdm_it_checks_without_a_bar(demo_venv, monkeypatch):
    """tqdm comes with the [train] extra; env-check must work in a core install."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tqdm" else real(name, *a)
    )
    for name in ("tqdm", "tqdm.auto"):  # importing it now fails, as it would without the extra
        monkeypatch.setitem(sys.modules, name, None)
    doc = check_environment(EnvCheckConfig(site_dirs=(str(demo_venv()),)), show_progress=True).to_json()
    assert doc["verdict"] == "clean"


def test_the_html_report_renders_an_env_check(demo_venv, tmp_path):
    from rlaudit.report import write_html

    venv = demo_venv()
    (site(venv) / "demo_pkg" / "core.py").write_text("ANSWER = 43\n")
    doc = check_environment(EnvCheckConfig(site_dirs=(str(venv),)), show_progress=False).to_json()
    write_html(doc, tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert "env-check:changed" in html and "demo_pkg/core.py" in html


def test_a_distribution_without_installer_is_named_as_not_checked(demo_venv):
    """Debian's python3-* packages ship the wheel's RECORD without an INSTALLER and patch files after
    the wheel was built: env-check says it cannot check them instead of calling every file changed."""
    venv = demo_venv()
    sp = site(venv)
    (sp / "demo_pkg-1.0.dist-info" / "INSTALLER").unlink()
    (sp / "demo_pkg" / "core.py").write_text("ANSWER = 43\n")
    report = scan([sp])
    assert report.mismatches == [] and report.files_checked == 0
    (entry,) = report.unverifiable
    assert entry["distribution"] == "demo-pkg 1.0" and "no INSTALLER" in entry["reason"]
    doc = check_environment(EnvCheckConfig(site_dirs=(str(venv),)), show_progress=False).to_json()
    assert any("demo-pkg 1.0 not checked" in n for n in doc["sections"]["notes"])


def test_an_unreadable_record_is_named_and_a_stray_file_beside_it_still_caught(demo_venv):
    venv = demo_venv()
    sp = site(venv)
    record = sp / "demo_pkg-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text().replace(",12\n", ",twelve\n", 1))  # a size that is no number
    (sp / "stray.pth").write_text("import os\n")
    report = scan([sp])
    assert [(m.kind, m.path) for m in report.mismatches] == [("unowned", "stray.pth")]
    assert "RECORD cannot be read" in report.unverifiable[0]["reason"]
