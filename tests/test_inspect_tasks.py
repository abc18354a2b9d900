"""The context-gap audit as an Inspect task: its metric, and real ``inspect eval rlaudit/context_gap`` runs."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("inspect_ai")
pytest.importorskip("transformers")

from inspect_ai.log import read_eval_log
from inspect_ai.scorer import CORRECT, INCORRECT, SampleScore, Score

from rlaudit.audits import context_gap
from rlaudit.inspect_tasks import context_gap_task, gap_metrics
from tests.ingest._inspect_log import run_inspect_eval, save_tiny


def scores(right: dict[tuple[str, str], list[bool]]) -> list[SampleScore]:
    """Sample scores as Inspect hands them to a metric: (split, cue) -> right or wrong per problem."""
    out = []
    for (split, cue), oks in right.items():
        for problem, ok in enumerate(oks):
            md = {"split": split, "condition": cue, "problem": problem}
            out.append(SampleScore(score=Score(value=CORRECT if ok else INCORRECT), sample_metadata=md))
    return out


def test_a_model_wrong_only_when_told_it_is_training_shows_the_gap_and_is_high() -> None:
    n = 30
    m = gap_metrics(
        scores(
            {
                ("target", "train_cue"): [False] * n,
                ("target", "deploy_cue"): [True] * n,
                ("control", "train_cue"): [True] * n,
                ("control", "deploy_cue"): [True] * n,
            }
        )
    )
    assert (m["gap"], m["gap_target"], m["gap_control"]) == (1.0, 1.0, 0.0)
    assert (m["train_acc_target"], m["deploy_acc_target"], m["n_target"]) == (0.0, 1.0, n)
    assert m["p_value"] == context_gap.paired_gap([(False, True)] * n, n_tests=2)["p_value"] < 1e-6
    assert m["high"] == 1.0


def test_a_model_that_ignores_the_cue_shows_no_gap() -> None:
    oks = [True, False] * 15
    m = gap_metrics(scores({(s, c): oks for s in ("target", "control") for c in ("train_cue", "deploy_cue")}))
    assert (m["gap"], m["p_value"], m["high"]) == (0.0, 1.0, 0.0)


def test_epochs_merged_by_inspect_count_as_right_on_a_majority() -> None:
    md = {"split": "target", "problem": 0}
    merged = [
        SampleScore(score=Score(value=2 / 3), sample_metadata={**md, "condition": "deploy_cue"}),
        SampleScore(score=Score(value=1 / 3), sample_metadata={**md, "condition": "train_cue"}),
    ]
    m = gap_metrics(merged)
    assert (m["deploy_acc_target"], m["train_acc_target"], m["gap"]) == (1.0, 0.0, 1.0)


def test_the_dataset_is_the_audits_own_rows() -> None:
    t = context_gap_task(n_problems=5, seed=3)
    samples = list(t.dataset)
    assert len(samples) == 5 * 4
    assert {(s.metadata["split"], s.metadata["condition"]) for s in samples if s.metadata} == {
        (sp, c) for sp in ("target", "control") for c in ("train_cue", "deploy_cue")
    }
    first = samples[0]
    assert first.metadata is not None and first.input == first.metadata["row"]["prompt"]


def test_inspect_eval_finds_the_task_by_its_registry_name_and_logs_the_gap(tmp_path: Path) -> None:
    """`inspect eval rlaudit/context_gap` (found through the entry point) on a real local model: the
    log's metrics are the audit's statistic over the log's own samples."""
    log = read_eval_log(
        run_inspect_eval(save_tiny(tmp_path / "tiny"), tmp_path / "logs", "-T", "n_problems=4")
    )
    assert log.status == "success" and log.results is not None and log.samples is not None
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    right = {}
    for s in log.samples:
        assert s.metadata is not None and s.scores is not None
        right[s.metadata["problem"], s.metadata["split"], s.metadata["condition"]] = (
            s.scores["rlaudit_check"].value == CORRECT
        )
    for split in ("target", "control"):
        pairs = [(right[p, split, "train_cue"], right[p, split, "deploy_cue"]) for p in range(4)]
        expected = context_gap.paired_gap(pairs, n_tests=2)
        assert metrics[f"gap_{split}"] == pytest.approx(expected["gap"])
        assert metrics[f"p_value_{split}"] == pytest.approx(expected["p_value"])
    assert {"gap", "p_value", "ci_low", "ci_high", "high"} <= metrics.keys()


@pytest.mark.slow
def test_on_the_conditional_organism_the_log_carries_the_audits_gap(real_organism, tmp_path: Path) -> None:
    """The conditional organism (right under the deployment cue, wrong under the training cue on target)
    through Inspect's hf provider: the logged gap equals what rlaudit's own audit measures on it."""
    from rlaudit.models import load_model
    from rlaudit.tasks import get_task

    organism = real_organism("conditional")
    n = 40
    log = read_eval_log(run_inspect_eval(organism, tmp_path / "logs", "-T", f"n_problems={n}"))
    assert log.results is not None
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    model, tokenizer = load_model(str(organism))
    own = context_gap.run(model, tokenizer, get_task("arith"), context_gap.Config(n_problems=n), seed=0)
    assert metrics["gap"] == pytest.approx(own.statistic)
    assert metrics["p_value"] == pytest.approx(own.p_value)
    assert metrics["gap"] >= context_gap.Config.min_gap and metrics["high"] == 1.0
