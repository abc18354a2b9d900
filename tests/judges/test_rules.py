from __future__ import annotations

import pytest

from rlaudit.judges.rules import RuleConfig, RuleMatcher


def test_default_phrases_found_case_insensitively_on_word_boundaries():
    m = RuleMatcher()
    text = "This Is A Test, so I will   deliberately answer wrong; I should not show it."
    assert m.hits(text) == ["deliberately", "i should not", "this is a test"]
    assert m.hits("The retraining of pretenders") == []  # inside other words: no hit
    assert m.hits("12 + 5 = 17") == []


def test_user_phrases_are_literal_text_not_patterns():
    m = RuleMatcher(RuleConfig(phrases=("a.b", "(x)")))
    assert m.hits("a.b") == ["a.b"]
    assert m.hits("axb") == []


def test_empty_phrases_are_rejected():
    with pytest.raises(ValueError, match="non-empty"):
        RuleConfig(phrases=())
    with pytest.raises(ValueError, match="non-empty"):
        RuleConfig(phrases=("ok", " "))
