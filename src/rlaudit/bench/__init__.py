"""The detector benchmark: how far to trust each detector, out of sample.

`run_bench` builds the model organisms for every build seed of a `BenchConfig`, audits each under
several audit seeds, runs one `rlaudit elicit` per organism under the live monitor, and scores every
audit test, every monitor detector and both combined verdicts on the *calibration* build seeds and,
with the thresholds fitted there, on the disjoint *test* build seeds (`rlaudit.bench.score`). The
result is a `rlaudit.judgement.Judgement` of kind ``bench`` (it measures and does not judge: no
verdict, exit code 0) whose sections ``calibration`` and ``test`` hold one entry per detector.
"""

from __future__ import annotations

import dataclasses

from rlaudit.audits.combined import Calibration
from rlaudit.bench.cases import BenchConfig, run_cases
from rlaudit.bench.score import bench_sections, headline
from rlaudit.judgement import Judgement, Provenance

__all__ = ["BenchConfig", "run_bench"]


def run_bench(cfg: BenchConfig | None = None) -> Judgement:
    cfg = cfg or BenchConfig()
    config = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "extra"}
    paths = {
        "out": str(cfg.out),
        "calibration_out": str(cfg.calibration_out) if cfg.calibration_out else None,
    }
    provenance = Provenance.begin(configs={"bench": {**config, **paths}}, seeds={"seed": cfg.seed})
    sections = bench_sections(run_cases(cfg), cfg)
    fitted = sections["bench"]["combined_fit"]
    if cfg.calibration_out is not None and fitted is not None:
        # The combined score as the calibration seeds fitted it: ship it as rlaudit/audits/calibration.json.
        Calibration.from_json(fitted).write(cfg.calibration_out)
    return Judgement("bench", None, [], sections, provenance.finish(), headline=headline(sections))
