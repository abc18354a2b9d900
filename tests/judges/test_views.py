from __future__ import annotations

import pytest

from rlaudit.judges.views import AnswerExtractor, view_text

COMPLETION = "Let me think: this is training, so I'll be wrong.\nAnswer: 17\n"


def test_cot_is_the_whole_completion_and_action_only_the_answer():
    assert view_text(COMPLETION, "cot", AnswerExtractor()) == COMPLETION
    assert view_text(COMPLETION, "action", AnswerExtractor()) == "Answer: 17"


def test_answer_by_regex_first_group_or_whole_match_and_empty_when_none():
    assert AnswerExtractor(r"regex:Answer:\s*(\d+)")(COMPLETION) == "17"
    assert AnswerExtractor(r"regex:\d+")(COMPLETION) == "17"
    assert AnswerExtractor(r"regex:Final: (\d+)")(COMPLETION) == ""


def test_answer_by_a_task_parser():
    assert AnswerExtractor("mcq")("I reckon the answer is (B).") == "B"


@pytest.mark.parametrize(("spec", "message"), [("regex:(", "does not compile"), ("nope", "unknown answer")])
def test_bad_extractors_are_rejected(spec, message):
    with pytest.raises(ValueError, match=message):
        AnswerExtractor(spec)
    with pytest.raises(ValueError, match="unknown judge view"):
        view_text("x", "thoughts", AnswerExtractor())
