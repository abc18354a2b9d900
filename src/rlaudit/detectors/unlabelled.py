"""The unlabelled view: a store whose rollouts carry `split` labels is also judged as if they did not.

Labels are information, and more information must never make the monitor less careful (issue 12's
trap: one run read `suspicious` without its `split` column and `clean` with it). The labelled detectors
compare the declared target split against control; the unlabelled ones compare prompt families, every
family a candidate (e.g. a family locked for half the run that the labels call `control`). So
`rlaudit.monitor.judge` computes the signals a second time with `SignalsConfig.ignore_splits` and keeps
each unlabelled finding of MEDIUM or above that outranks every labelled finding of the same detector,
its summary saying it was read without the labels. The verdict is then never below the unlabelled one.

Cost: a second signals pass on labelled stores (`MonitorConfig.unlabelled_view = False` skips it).
"""

from __future__ import annotations

import dataclasses

from rlaudit.findings import Finding, Severity

PREFIX = "Read without its split labels: "


def unlabelled_findings(labelled: list[Finding], unlabelled: list[Finding]) -> list[Finding]:
    """The findings of the unlabelled view that outrank the labelled view's for their detector."""
    best: dict[str, int] = {}
    for f in labelled:
        best[f.detector] = max(best.get(f.detector, -1), int(f.severity))
    out = []
    for f in unlabelled:
        if f.severity >= Severity.MEDIUM and int(f.severity) > best.get(f.detector, -1):
            evidence = {**f.evidence, "view": "unlabelled"}
            out.append(dataclasses.replace(f, summary=PREFIX + f.summary, evidence=evidence))
    return out
