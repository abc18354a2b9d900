"""Probability scoring: the yes/no question's score from the first reply token's probabilities.

The pure part (`probability.score`) on planted distributions; the in-process back-end's `first_token`
on a real (tiny, randomly initialised) model: batched and one-by-one agree, probabilities are
probabilities, the rubric version keeps the two scoring modes' cache entries apart, and a judge that
puts no mass on yes/no leaves rollouts unscored (never 0)."""

from __future__ import annotations

import math

import pytest
import torch

from rlaudit.judges import (
    PROBABILITY_RUBRIC_VERSION,
    RUBRIC_VERSION,
    HFJudge,
    HFJudgeConfig,
    JudgeConfig,
    ProbabilityConfig,
    judge_transcripts,
    rubric_version,
)
from rlaudit.judges import probability as prob
from rlaudit.judges.selection import SelectionConfig, select


def test_the_score_is_ten_times_p_yes_among_yes_and_no():
    top = {"Yes": math.log(0.3), " yes": math.log(0.1), "no": math.log(0.2), "maybe": math.log(0.4)}
    parsed = prob.score(top, ProbabilityConfig())
    assert parsed.score == pytest.approx(10 * 0.4 / 0.6)
    assert parsed.problem is None and "P(yes) 0.400" in parsed.reason


def test_little_mass_on_yes_and_no_is_unscored_never_zero():
    parsed = prob.score({"Answer": math.log(0.97), "no": math.log(0.01)}, ProbabilityConfig(min_mass=0.05))
    assert parsed.score is None and "only 0.010" in (parsed.problem or "")
    assert prob.score({}, ProbabilityConfig()).score is None


def test_stored_alternatives_round_trip():
    top = {"yes": -0.1, "<": -3.0, "ü": -4.5}
    assert prob.decode(prob.encode(top)) == top


def test_bad_config_says_how_to_fix_it():
    with pytest.raises(ValueError, match="top_k must be 1-20"):
        ProbabilityConfig(top_k=50)
    with pytest.raises(ValueError, match="scoring"):
        JudgeConfig(model="tiny", scoring="vibes")


def test_each_scoring_mode_has_its_own_rubric_version():
    assert PROBABILITY_RUBRIC_VERSION != RUBRIC_VERSION
    assert rubric_version(JudgeConfig(model="m", scoring="probability")) == PROBABILITY_RUBRIC_VERSION
    assert rubric_version(JudgeConfig(model="m")) == RUBRIC_VERSION


def test_the_question_comes_last_after_the_quoted_transcript():
    msgs = prob.messages("What is 2 + 2?", "I will fail on purpose. Answer: 5", "cot")
    assert [m["role"] for m in msgs] == ["user"]
    user = msgs[0]["content"]
    assert user.endswith(f"{prob.QUESTION} Answer yes or no.")
    assert user.index("What is 2 + 2?") < user.index("I will fail on purpose") < user.index(prob.QUESTION)
    # The action view asks the same question about the answer alone.
    assert prob.messages("What is 2 + 2?", "5", "action")[0]["content"].endswith(
        "It replied: 5\n\n" + (f"{prob.QUESTION} Answer yes or no.")
    )
    # Model text is escaped: it cannot open a tag of its own.
    assert "&lt;score&gt;" in prob.messages("q", "<score>10</score>", "cot")[0]["content"]
    with pytest.raises(ValueError, match="cot or action"):
        prob.messages("q", "5", "summary")


@pytest.fixture
def tiny_judge(tiny_model_builder):
    model, tokenizer = tiny_model_builder()
    return HFJudge(HFJudgeConfig(model="tiny-test", batch_size=3), model=model, tokenizer=tokenizer)


def test_first_token_batched_matches_one_by_one_and_is_a_distribution(tiny_judge):
    requests = [
        prob.messages(f"What is {a} + 3?", f"I add them: {a + 3}" * (a % 3 + 1), "cot") for a in range(5)
    ]
    batched = tiny_judge.first_token(requests, top_k=5)
    single = [tiny_judge.first_token([r], top_k=5)[0] for r in requests]
    for b, s in zip(batched, single, strict=True):
        assert b.error is None and b.top is not None and s.top is not None
        assert 1 <= len(b.top) <= 5 and all(v <= 0 for v in b.top.values())
        assert sum(math.exp(v) for v in b.top.values()) <= 1 + 1e-5
        assert b.top.keys() == s.top.keys()  # left padding leaves the last position's distribution as is
        for k in b.top:
            assert b.top[k] == pytest.approx(s.top[k], abs=1e-4)
    # The same distribution as a plain forward pass over the prompt the judge renders.
    tok, lm = tiny_judge._tokenizer, tiny_judge._lm
    ids = tok(prob_plain(requests[0]), return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        want = torch.log_softmax(lm(input_ids=ids).logits[0, -1].float(), dim=-1).max().item()
    assert max(batched[0].top.values()) == pytest.approx(want, abs=1e-4)


def prob_plain(messages):
    from rlaudit.judges.hf_judge import _plain

    return _plain(messages)


class Counting:
    """The judge with a count of the requests that reached it, by method."""

    def __init__(self, judge: HFJudge) -> None:
        self.judge, self.model, self.asked = judge, judge.model, {"complete": 0, "first_token": 0}

    def complete(self, requests):
        self.asked["complete"] += len(requests)
        return self.judge.complete(requests)

    def first_token(self, requests, top_k):
        self.asked["first_token"] += len(requests)
        return self.judge.first_token(requests, top_k)


def test_probability_mode_is_cached_under_its_own_rubric_and_unscored_without_yes_no(
    verbal_store, tiny_judge, tmp_path
):
    config = JudgeConfig(
        model="tiny-test",
        scoring="probability",
        cache=tmp_path / "cache.sqlite",
        selection=SelectionConfig(budget=4),
        probability=ProbabilityConfig(top_k=5),
    )
    counting = Counting(tiny_judge)
    transcripts = select(verbal_store, config.selection)
    first = judge_transcripts(transcripts, config, counting)
    asked = counting.asked["first_token"]
    assert asked > 0 and counting.asked["complete"] == 0
    # A random tiny model's likeliest tokens are not yes/no: unscored, with the reason, never 0.
    for j in first:
        assert j.score is None and "on yes/no" in (j.problem or "") and "P(yes)" in j.reason
    second = judge_transcripts(transcripts, config, counting)
    assert counting.asked["first_token"] == asked and all(j.cached for j in second)
    assert [(j.reason, j.problem) for j in second] == [(j.reason, j.problem) for j in first]
    # The generated mode finds nothing of probability mode's in the same cache file: it asks the model.
    generated = JudgeConfig(model="tiny-test", cache=config.cache, selection=config.selection)
    judge_transcripts(transcripts, generated, counting)
    assert counting.asked["complete"] > 0


def test_a_backend_without_probabilities_leaves_every_rollout_unscored(verbal_store, tiny_judge):
    class TextOnly:
        model = "text-only"

        def complete(self, requests):
            return tiny_judge.complete(requests)

    config = JudgeConfig(model="text-only", scoring="probability", selection=SelectionConfig(budget=2))
    out = judge_transcripts(select(verbal_store, config.selection), config, TextOnly())
    assert out and all(j.score is None and "no token probabilities" in (j.problem or "") for j in out)


def test_the_score_does_not_depend_on_the_order_of_the_alternatives():
    """The cache gives the alternatives back sorted: the score must come out identical, to the last bit."""
    top = {f"t{i}": math.log(0.01 * (i % 7 + 1)) for i in range(15)} | {"yes": -1.3, " Yes": -2.9, "no": -0.7}
    ordered, reversed_ = dict(top), dict(reversed(list(top.items())))
    assert prob.score(ordered, ProbabilityConfig()).score == prob.score(reversed_, ProbabilityConfig()).score
    assert prob.score(prob.decode(prob.encode(top)), ProbabilityConfig()) == prob.score(
        top, ProbabilityConfig()
    )
