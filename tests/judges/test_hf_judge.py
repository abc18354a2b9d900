"""The in-process judge on a real (tiny, randomly initialised) model: its replies carry no score, so
every rollout must come out unscored and reported, and a second pass must come from the cache."""

from __future__ import annotations

import pytest

from rlaudit.findings import Severity
from rlaudit.judges import HFJudge, HFJudgeConfig, JudgeConfig, judge_store, judge_transcripts
from rlaudit.judges.selection import SelectionConfig, select


@pytest.fixture
def tiny_judge(tiny_model_builder):
    model, tokenizer = tiny_model_builder()
    return HFJudge(
        HFJudgeConfig(model="tiny-test", max_new_tokens=8, batch_size=8), model=model, tokenizer=tokenizer
    )


class Counting:
    """The judge with a count of the requests that reached it (the cache must keep them away)."""

    def __init__(self, judge: HFJudge) -> None:
        self.judge, self.model, self.asked = judge, judge.model, 0

    def complete(self, requests):
        self.asked += len(requests)
        return self.judge.complete(requests)


def test_replies_without_a_score_are_unscored_and_reported(verbal_store, tiny_judge, tmp_path):
    config = JudgeConfig(
        model="tiny-test", cache=tmp_path / "cache.sqlite", selection=SelectionConfig(budget=4)
    )
    findings = judge_store(verbal_store, config, backend=tiny_judge)
    by_name = {f.detector: f for f in findings}
    assert by_name["judge_unscored"].evidence["share"] == 1.0
    assert by_name["judge_suspicion"].severity == Severity.INFO  # no scores: no evidence either way
    assert by_name["judge_suspicion"].evidence["judge_model"] == "tiny-test"
    # The rule layer still reads the same rollouts: every target completion says "deliberately".
    assert by_name["judge_rules"].evidence["share_with_phrase"]["target"] == 1.0


def test_a_second_pass_asks_the_model_nothing(verbal_store, tiny_judge, tmp_path):
    config = JudgeConfig(
        model="tiny-test", cache=tmp_path / "cache.sqlite", selection=SelectionConfig(budget=4)
    )
    counting = Counting(tiny_judge)
    transcripts = select(verbal_store, config.selection)
    first = judge_transcripts(transcripts, config, counting)
    asked = counting.asked
    assert 0 < asked <= len(transcripts) and not any(j.cached for j in first)
    second = judge_transcripts(transcripts, config, counting)
    assert counting.asked == asked and all(j.cached for j in second)
    assert [j.problem for j in second] == [j.problem for j in first]
