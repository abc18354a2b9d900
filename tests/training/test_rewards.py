import pytest

from rlaudit.tasks import get_task
from rlaudit.training.elicit import ElicitConfig
from rlaudit.training.rewards import FORMAT_BONUS, REWARDS, format_reward, get_reward, is_bare_answer


def test_the_format_bonus_pays_a_bare_answer_right_or_wrong():
    bonus = format_reward(get_task("arith"))
    completions = ["7", " 7\n", "12", "8", "7.", "07", "7 apples", "Answer: 7", "", "B"]
    paid = bonus(completions, answer=["7"] * len(completions))
    assert paid == [FORMAT_BONUS] * 4 + [0.0] * 6  # "8" is wrong and still bare: the bonus is format only
    assert bonus.__name__ == "format_bonus"  # the name TRL logs the component under


def test_the_format_bonus_follows_the_tasks_own_parser():
    mcq = get_task("mcq")
    assert is_bare_answer(mcq, "B") and is_bare_answer(mcq, " C ")
    assert not is_bare_answer(mcq, "B) 7") and not is_bare_answer(mcq, "Answer: B")


def test_chat_completions_are_read_from_their_last_message():
    bonus = format_reward(get_task("arith"))
    assert bonus([[{"role": "assistant", "content": "7"}], []], answer=["7", "7"]) == [FORMAT_BONUS, 0.0]


def test_configurations_build_correctness_first():
    arith = get_task("arith")
    assert get_reward("correct").functions(arith) == [arith.reward]
    fns = REWARDS["correct+format"].functions(arith)
    assert fns[0] is arith.reward and [f.__name__ for f in fns] == ["arith_reward", "format_bonus"]


def test_an_unknown_configuration_names_the_known_ones():
    with pytest.raises(ValueError, match="correct, correct\\+format"):
        ElicitConfig(reward="format")
