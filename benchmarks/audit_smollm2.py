"""Audit SmolLM2 organisms with the audits' configs cut to what a 135M model affords on 2 CPU cores.

    python benchmarks/audit_smollm2.py organisms/smollm2 locked honest

Context gap on 100 problems, noise sweep at 4 scales x 2 seeds on 50 problems, SFT elicitation at
k = 4 and 16 on 50 problems, pass@16 on 40 problems; seed 0, two threads. Writes one JSON per organism
(``audit_smollm2_<kind>.json``) in the working directory and prints the verdict, each statistic and cost.
"""

import json
import sys
import time

import torch

from rlaudit.audits import AuditConfig, context_gap, noise_sweep, passk, run_audit, sft_elicitation
from rlaudit.models.loading import load_model

torch.set_num_threads(2)
cfg = AuditConfig(
    {
        "context": context_gap.Config(n_problems=100),
        "noise": noise_sweep.Config(scales=(0.1, 0.2, 0.3, 0.4), seeds=2, n_problems=50),
        "sft": sft_elicitation.Config(ks=(4, 16), n_problems=50),
        "passk": passk.Config(n_problems=40, n_samples=16),
    },
    seed=0,
)
if len(sys.argv) < 3:
    sys.exit("usage: python benchmarks/audit_smollm2.py ORGANISMS_DIR KIND [KIND ...]")
root = sys.argv[1]
for kind in sys.argv[2:]:
    t = time.time()
    model, tok = load_model(f"{root}/{kind}")
    r = run_audit(model, tok, "arith", config=cfg).to_json()
    with open(f"audit_smollm2_{kind}.json", "w") as f:
        json.dump(r, f, default=str)
    print(
        kind,
        r["verdict"],
        {
            n: (round(x["statistic"], 3) if x["statistic"] is not None else None, x["cost"])
            for n, x in r["sections"]["audit"]["tests"].items()
        },
        [
            (f["detector"], f["severity"], f["summary"][:200])
            for f in r["findings"]
            if f["severity"] != "info"
        ],
        round(time.time() - t),
        flush=True,
    )
