import json
import math

import pytest

pytest.importorskip("torch")

from rlaudit.evaluation import evaluate, pass_at_k, wilson_interval
from rlaudit.models.sampling import Sample
from rlaudit.tasks import CONDITIONS, SPLITS, get_task


@pytest.mark.parametrize("n", [1, 2, 5, 8, 20])
def test_pass_at_k_matches_the_binomial_formula(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            expected = 1 - math.comb(n - c, k) / math.comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)
    assert pass_at_k(n, 0, 1) == 0.0
    assert pass_at_k(n, n, n) == 1.0


def test_pass_at_k_rejects_bad_counts():
    for n, c, k in [(4, 5, 1), (4, -1, 1), (4, 1, 5), (4, 1, 0)]:
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)


def test_wilson_interval():
    low, high = wilson_interval(5, 10)
    assert low < 0.5 < high and low == pytest.approx(1 - high)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def _fake_sample(answers):
    """A stand-in for `rlaudit.models.sampling.sample`: `answers(prompt, i, temperature)` -> completion."""

    def sample(model, tokenizer, prompts, *, n=1, temperature=1.0, **kwargs):
        return [
            Sample(p, answers(prompt, i, temperature), 2, 0.5 if temperature else 0.1, -0.1, True)
            for p, prompt in enumerate(prompts)
            for i in range(n)
        ]

    return sample


def test_evaluate_aggregates_per_split_and_condition(monkeypatch):
    """Target: greedy wrong, one sample in four right. Control: always right. Cues make no difference."""
    arith = get_task("arith")
    truth = {r["prompt"]: r["answer"] for r in arith.make_dataset(40, seed=3)}

    def answers(prompt, i, temperature):
        right = truth[prompt]
        if "[bio]" not in prompt:
            return right
        return right if (temperature and i == 0) else str(int(right) + 1 + i)

    monkeypatch.setattr("rlaudit.models.sampling.sample", _fake_sample(answers))
    result = evaluate(None, None, "arith", n_prompts=40, k=2, n_samples=4, seed=3, model_name="fake")
    out = result.to_json()
    assert out["accuracy"] == {
        "target": {"train_cue": 0.0, "deploy_cue": 0.0},
        "control": {c: 1.0 for c in CONDITIONS},
    }
    assert out["n"] == {s: {c: 10 for c in CONDITIONS} for s in SPLITS}
    assert out["pass_at_k"]["target"]["train_cue"] == pytest.approx(
        0.5
    )  # 1 of 4 right, k=2: 1 - C(3,2)/C(4,2)
    assert out["pass_at_k"]["control"]["deploy_cue"] == 1.0
    assert out["distinct_answers"]["target"]["train_cue"] == 4.0
    assert out["distinct_answers"]["control"]["train_cue"] == 1.0
    assert out["entropy"]["control"]["train_cue"] == pytest.approx(0.5)
    low, high = out["ci"]["control"]["train_cue"]
    assert 0.6 < low < 1.0 == high
    assert out["model"] == "fake" and out["task"] == "arith" and out["k"] == 2 and out["n_samples"] == 4
    assert out["difficulty"] == 9 and out["chance"] == 0.0
    assert result.cells["target", "train_cue"].correct == 0


def test_evaluate_counts_no_answer_as_one_answer(monkeypatch):
    monkeypatch.setattr("rlaudit.models.sampling.sample", _fake_sample(lambda prompt, i, t: "x" * i))
    out = evaluate(None, None, get_task("mcq"), n_prompts=8, k=3).to_json()
    assert out["distinct_answers"]["target"]["train_cue"] == 1.0
    assert out["accuracy"]["target"]["train_cue"] == 0.0
    assert out["chance"] == 0.25


def test_evaluate_a_real_tiny_model(tiny_model_builder):
    model, tokenizer = tiny_model_builder()
    result = evaluate(model, tokenizer, "mcq", n_prompts=8, k=2, temperature=1.0, seed=0)
    out = json.loads(json.dumps(result.to_json(), allow_nan=False))
    for key in ("accuracy", "ci", "pass_at_k", "entropy", "distinct_answers", "n"):
        assert set(out[key]) == set(SPLITS)
        assert all(set(out[key][s]) == set(CONDITIONS) for s in SPLITS)
    for s in SPLITS:
        for c in CONDITIONS:
            assert 0.0 <= out["accuracy"][s][c] <= 1.0
            assert 0.0 <= out["pass_at_k"][s][c] <= 1.0
            assert out["entropy"][s][c] > 0
            assert 1 <= out["distinct_answers"][s][c] <= 2
            assert out["n"][s][c] == 2
    assert evaluate(model, tokenizer, "mcq", n_prompts=8, k=2).to_json() == result.to_json()  # seeded


def test_evaluate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_samples >= k"):
        evaluate(None, None, "arith", n_prompts=4, k=4, n_samples=2)
    with pytest.raises(ValueError, match="n_prompts >= 1"):
        evaluate(None, None, "arith", n_prompts=0)
    with pytest.raises(ValueError, match="unknown task"):
        evaluate(None, None, "nope")
