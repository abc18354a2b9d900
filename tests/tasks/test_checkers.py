import sys

import pytest

from rlaudit.tasks.checkers import BUILTIN, REL_TOL, CheckerError, get_checker, normalise, parse_number


def _correct(spec: str, completions: list[str], answers: list[str], **options) -> list[bool]:
    return get_checker(spec, **options).correct([""] * len(completions), completions, answer=answers)


def test_builtins_are_registered():
    assert set(BUILTIN) >= {"exact", "numeric", "choice", "contains"}


def test_exact_normalises_whitespace_and_case():
    assert normalise("  Paris \n is\tBIG ") == "paris is big"
    assert _correct("exact", [" PARIS\n", "Paris, France"], ["paris", "paris"]) == [True, False]


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("42", 42.0),
        ("x = -2.5 apples", -2.5),
        ("1,000 men", 1000.0),
        ("3e4", 3e4),
        (".5", 0.5),
        ("no", None),
        ("E6 then 7", 6.0),
        ("x2", 2.0),
    ],
)
def test_parse_number(text, number):
    assert parse_number(text) == number


def test_numeric_reads_the_first_number_with_a_relative_tolerance():
    answer = "1000000"
    just_inside = str(1e6 * (1 + REL_TOL / 2))
    just_outside = str(1e6 * (1 + REL_TOL * 2))
    got = _correct("numeric", [just_inside, just_outside, "7 then 1000000", "none"], [answer] * 4)
    assert got == [True, False, False, False]
    assert _correct("numeric", ["The answer is 0.", "0.0000001"], ["0", "0"]) == [True, False]


def test_choice_reads_the_first_standalone_letter_of_the_choices():
    completions = ["B", "(C) 7", "Answer: D", "I think it is B", "Answer", "E"]
    assert _correct("choice", completions, ["B", "C", "D", "B", "A", "E"]) == [
        True,
        True,
        True,
        True,  # "I" is no letter of four choices
        False,  # the A of "Answer" is part of a word
        False,  # E is not one of A-D
    ]
    assert _correct("choice", ["E"], ["E"], n_choices=5) == [True]


def test_contains_and_regex():
    assert _correct("contains", ["It is PARIS.", "Lyon"], ["paris", "paris"]) == [True, False]
    spec = r"regex:Answer:\s*(\S+)"
    assert _correct(spec, ["so... Answer: 42", "42", "Answer: 41"], ["42"] * 3) == [True, False, False]
    assert _correct(r"regex:\d+", ["x 17 y"], ["17"]) == [True]  # no group: the whole match


def test_a_user_function_from_a_file_gets_the_columns(tmp_path):
    path = tmp_path / "rewards.py"
    path.write_text(
        "def reward(prompts, completions, answer, weight, **kwargs):\n"
        "    return [w if a in c else 0.0 for c, a, w in zip(completions, answer, weight)]\n"
    )
    check = get_checker(f"{path}:reward")
    scores = check.score(
        ["p", "q", "r"], ["yes 1", "no", "yes 3"], answer=["1", "2", "3"], weight=[1.0, 1.0, 0.5]
    )
    assert scores == [1.0, 0.0, 0.5]
    assert check.correct(
        ["p", "q", "r"], ["yes 1", "no", "yes 3"], answer=["1", "2", "3"], weight=[1, 1, 0.5]
    ) == [
        True,
        False,
        False,  # 0.5 is not above 0.5
    ]


def test_a_user_function_from_a_module(tmp_path, monkeypatch):
    (tmp_path / "my_rewards_mod.py").write_text(
        "def score(prompts, completions, **kw):\n    return [float(len(c)) for c in completions]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert get_checker("my_rewards_mod:score").score(["a"], ["xyz"], answer=["1"]) == [3.0]
    finally:
        sys.modules.pop("my_rewards_mod", None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("    raise KeyError('tests')", "checker '{spec}' raised KeyError: 'tests'"),
        ("    return [1.0]", "checker '{spec}' returned 1 scores for 2 completions"),
        ("    return 1.0", "checker '{spec}' must return a list of numbers, one per completion (got float)"),
        (
            "    return ['a', 'b']",
            "checker '{spec}' must return a list of numbers, one per completion (got list)",
        ),
        ("    return [float('nan'), 1.0]", "checker '{spec}' returned NaN; return 0.0 for a wrong answer"),
    ],
)
def test_a_misbehaving_user_function_is_a_clear_error(tmp_path, body, message):
    path = tmp_path / "bad.py"
    path.write_text(f"def f(prompts, completions, **kw):\n{body}\n")
    spec = f"{path}:f"
    with pytest.raises(CheckerError) as e:
        get_checker(spec).score(["p", "q"], ["a", "b"], answer=["1", "2"])
    assert str(e.value) == message.format(spec=spec)


def test_bad_checker_specs(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    (tmp_path / "ok.py").write_text("x = 1\n")
    cases = {
        "nope": "unknown checker 'nope'; choose choice, contains, exact, numeric, regex:PATTERN, "
        "path/to/file.py:function or package.module:function",
        "regex:(": "checker 'regex:(': bad regular expression: missing ), unterminated subpattern at position 0",
        f"{tmp_path}/missing.py:f": f"checker '{tmp_path}/missing.py:f': no file {tmp_path}/missing.py",
        f"{broken}:f": f"checker '{broken}:f': importing {broken} raised RuntimeError: boom",
        f"{tmp_path}/ok.py:f": f"checker '{tmp_path}/ok.py:f': {tmp_path}/ok.py has no attribute 'f'",
        f"{tmp_path}/ok.py:x": f"checker '{tmp_path}/ok.py:x': 'x' in {tmp_path}/ok.py is not a function",
        "no_such_module_xyz:f": "checker 'no_such_module_xyz:f': cannot import module 'no_such_module_xyz': "
        "ModuleNotFoundError: No module named 'no_such_module_xyz'",
        "ok.py:": "checker 'ok.py:': name a function as path/to/file.py:name or package.module:name",
    }
    for spec, message in cases.items():
        with pytest.raises(CheckerError) as e:
            get_checker(spec)
        assert str(e.value) == message, spec


def test_bad_answers_are_reported_by_the_checker():
    assert get_checker("numeric").bad_answer("abc") == "answer 'abc' is not a number"
    assert get_checker("numeric").bad_answer("12") is None
    assert get_checker("choice").bad_answer("E") == "answer 'E' is not one of the letters A-D"
