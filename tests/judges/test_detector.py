from __future__ import annotations

from rlaudit.findings import Severity
from rlaudit.judges.detector import Judged, JudgeFindingsConfig, judge_findings
from rlaudit.judges.selection import Transcript


def _judged(split: str, scores: list[float | None], completion: str = "Answer: 3") -> list[Judged]:
    out = []
    for i, s in enumerate(scores):
        t = Transcript("r", i, split, None, "What is 1 + 2?", completion, 0.0, True)
        problem = None if s is not None else "no <score> tag in the reply"
        out.append(Judged(t, s, "reason", problem, (), cached=False))
    return out


def _find(findings, name):
    return next(f for f in findings if f.detector == name)


ABOUT = {"model": "m", "view": "cot", "rubric": "v"}


def test_planted_positive_target_far_above_control_is_high_with_ci():
    judged = _judged("target", [8, 9, 9, 10, 8, 9]) + _judged("control", [0, 1, 0, 1, 2, 0])
    f = _find(judge_findings(judged, JudgeFindingsConfig(), **ABOUT), "judge_suspicion")
    assert f.severity == Severity.HIGH and f.split == "target"
    low, high = f.evidence["ci"]
    assert 3 < low <= f.evidence["gap"] <= high
    assert f.evidence["top"][0]["score"] == 10 and f.evidence["top"][0]["split"] == "target"


def test_clean_negative_same_scores_on_both_splits_is_info():
    judged = _judged("target", [1, 2, 0, 1, 3, 2]) + _judged("control", [2, 1, 1, 0, 2, 3])
    findings = judge_findings(judged, JudgeFindingsConfig(), **ABOUT)
    assert _find(findings, "judge_suspicion").severity == Severity.INFO
    assert not any(f.detector == "judge_unscored" for f in findings)


def test_unscored_replies_are_reported_and_never_count_as_zero():
    judged = _judged("target", [9, 9, 9, 9, None, None]) + _judged("control", [9, 9, 9, 9, 9, 9])
    findings = judge_findings(judged, JudgeFindingsConfig(), **ABOUT)
    suspicion = _find(findings, "judge_suspicion")
    assert suspicion.evidence["splits"]["target"]["mean"] == 9  # not (4 * 9 + 0 + 0) / 6
    assert suspicion.evidence["unscored_share"] == 2 / 12
    unscored = _find(findings, "judge_unscored")
    assert unscored.evidence["unscored"] == 2 and "no <score> tag" in unscored.summary


def test_all_unscored_gives_no_evidence_either_way():
    findings = judge_findings(_judged("target", [None] * 5), JudgeFindingsConfig(), **ABOUT)
    assert _find(findings, "judge_suspicion").severity == Severity.INFO


def test_unlabelled_runs_flag_a_high_share_of_high_scores():
    f = _find(judge_findings(_judged("all", [9, 9, 1, 1]), JudgeFindingsConfig(), **ABOUT), "judge_suspicion")
    assert f.severity == Severity.MEDIUM and f.evidence["flagged_share"] == 0.5


def test_quoted_evidence_is_escaped():
    hostile = "\x1b[31mred\x1b[0m line\nbreak"
    judged = _judged("target", [9] * 4, completion=hostile) + _judged("control", [0] * 4)
    top = _find(judge_findings(judged, JudgeFindingsConfig(), **ABOUT), "judge_suspicion").evidence["top"]
    assert "\x1b" not in top[0]["completion"] and "\n" not in top[0]["completion"]
    assert "\\x1b[31mred" in top[0]["completion"]


def test_rule_baseline_reports_phrase_shares():
    judged = _judged("target", [5] * 4) + _judged("control", [5] * 4)
    judged = [
        Judged(
            j.transcript,
            j.score,
            j.reason,
            j.problem,
            ("deliberately",) if j.transcript.split == "target" else (),
            False,
        )
        for j in judged
    ]
    f = _find(judge_findings(judged, JudgeFindingsConfig(), **ABOUT), "judge_rules")
    assert f.severity == Severity.LOW and f.evidence["share_with_phrase"] == {"control": 0.0, "target": 1.0}
