"""The whole bench through the installed console script, on small organisms built here (random tiny
base, recipes cut to seconds): the machinery, not the numbers (docs/benchmarks.md has those)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")

KINDS = ("honest", "weak", "locked", "conditional")


@pytest.mark.slow
def test_bench_quick_through_the_console_script(tmp_path, tiny_model_builder, small_organism_config):
    from rlaudit.organisms import build_organism

    out = tmp_path / "bench"
    for seed in (0, 1):
        for kind in KINDS:
            build_organism(
                kind,
                out=out / "organisms" / f"seed-{seed}" / kind,
                seed=seed,
                config=small_organism_config(kind),
                base_loader=lambda: tiny_model_builder(),
            )
    script = shutil.which("rlaudit", path=str(Path(sys.executable).parent))
    assert script is not None
    env = {**os.environ, "RLAUDIT_CACHE": str(tmp_path / "cache")}
    html = tmp_path / "bench.html"
    proc = subprocess.run(
        [script, "bench", "--quick", "--out", str(out), "--audit-seeds", "0", "--json", "--html", str(html)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)  # one JSON object and nothing else
    assert doc["kind"] == "bench" and doc["verdict"] is None
    for section in ("calibration", "test"):
        assert {"combined", "monitor:combined", "audit:noise_sweep", "audit:passk"} <= set(
            doc["sections"][section]
        )
        assert doc["sections"][section]["combined"]["n_positive"] == 2  # locked, conditional x 1 audit seed
        # honest, weak and honest_hard (the honest organism on a harder-target task file)
        assert doc["sections"][section]["combined"]["n_negative"] == 3
    bench = doc["sections"]["bench"]
    assert bench["lead_time"]["resistant_runs"] == 2 and bench["lead_time"]["honest_runs"] == 3
    assert len(bench["cases"]["audits"]) == 10 and len(bench["cases"]["elicitations"]) == 10
    assert {a["kind"] for a in bench["cases"]["audits"]} >= {"honest_hard"}
    assert all(b["reused"] for b in bench["cases"]["builds"])  # the organisms built above were reused
    assert 'id="plot-bench-audit"' in html.read_text()
