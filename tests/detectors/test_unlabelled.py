import pyarrow as pa

from rlaudit.detectors.unlabelled import PREFIX, unlabelled_findings
from rlaudit.findings import Finding, Severity
from rlaudit.monitor import MonitorConfig, run_monitor
from rlaudit.synthetic import LOCKED, Behaviour, synthetic_rollouts, write_jsonl

FLAT = Behaviour(0.5, 0.5)


def _control_locked_then_flat(tmp_path, labelled: bool):
    """Control locked for 7 steps of 10 (a family the unlabelled view flags: 28 of its 40 groups all
    fail, at least half of them beyond the luck of 40 groups), target flat at 0.5."""
    path = tmp_path / f"run-{labelled}.jsonl"
    tables = [
        synthetic_rollouts(
            {"target": FLAT, "control": LOCKED}, run="run", seed=0, n_steps=7, labelled=labelled
        ),
        synthetic_rollouts(
            {"target": FLAT, "control": FLAT}, run="run", seed=1, n_steps=3, first_step=7, labelled=labelled
        ),
    ]
    write_jsonl(pa.concat_tables(tables), str(path))
    return path


def test_labels_never_make_the_verdict_milder(tmp_path):
    """The labelled detectors judge the declared target only; without labels a locked family is seen,
    and the labelled store now keeps that reading."""
    plain = run_monitor([_control_locked_then_flat(tmp_path, labelled=False)])
    labelled = run_monitor([_control_locked_then_flat(tmp_path, labelled=True)])
    assert plain.label == "suspicious"
    assert labelled.label == "suspicious"
    (f,) = [f for f in labelled.findings if f.severity >= Severity.MEDIUM]
    assert f.summary.startswith(PREFIX) and f.evidence["view"] == "unlabelled"
    off = run_monitor(
        [_control_locked_then_flat(tmp_path, labelled=True)], config=MonitorConfig(unlabelled_view=False)
    )
    assert off.label == "clean"  # what the labelled view alone says


def _f(detector: str, severity: Severity) -> Finding:
    return Finding(detector, severity, 0.5, "s")


def test_only_findings_that_outrank_their_detector_are_kept():
    labelled = [_f("a", Severity.HIGH), _f("b", Severity.LOW)]
    unlabelled = [
        _f("a", Severity.MEDIUM),
        _f("b", Severity.MEDIUM),
        _f("c", Severity.LOW),
        _f("d", Severity.HIGH),
    ]
    kept = unlabelled_findings(labelled, unlabelled)
    assert [(f.detector, f.severity) for f in kept] == [("b", Severity.MEDIUM), ("d", Severity.HIGH)]
    assert all(f.summary == PREFIX + "s" for f in kept)
