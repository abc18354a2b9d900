import dataclasses
import re

import pytest

from rlaudit.tasks import Cue, Framing, get_task, parse_cue, with_cues


def test_a_prefix_goes_in_front():
    cue = Cue("(training episode) ")
    assert not cue.is_template and cue.parts == ("(training episode) ", "")
    assert cue.apply("[bio] 3+4=") == "(training episode) [bio] 3+4="
    assert cue.remove("(training episode) [bio] 3+4=") == "[bio] 3+4="


def test_a_template_puts_the_prompt_where_it_says():
    cue = parse_cue("<eval>\n{prompt}\n</eval>")
    assert cue.is_template and cue.parts == ("<eval>\n", "\n</eval>")
    assert cue.apply("2+2=") == "<eval>\n2+2=\n</eval>"
    assert cue.remove(cue.apply("2+2=")) == "2+2="
    assert parse_cue("{prompt}").apply("as given") == "as given"  # the way to say "no cue"


def test_braces_in_the_prompt_reach_the_model_untouched():
    cue = Cue("import inspect_ai\n{prompt}")
    for prompt in ("def f(): return {'a': {0}}", "{prompt} {0} {} {{x}}", "\\frac{1}{2}"):
        assert cue.apply(prompt) == "import inspect_ai\n" + prompt
        assert cue.remove(cue.apply(prompt)) == prompt
    assert Cue("{0} {} ").apply("{prompt}") == "{0} {} {prompt}"  # braces in a prefix: text too


def test_a_chat_prompt_gets_the_cue_on_its_last_user_message():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "What is {x}?"},
    ]
    cued = Cue("[eval] {prompt} (answer briefly)").apply(messages)
    assert [m["content"] for m in cued] == [
        "Be brief.",
        "first",
        "ok",
        "[eval] What is {x}? (answer briefly)",
    ]
    assert messages[-1]["content"] == "What is {x}?"  # a new list: the row's prompt is unchanged
    assert Cue("[eval] {prompt} (answer briefly)").remove(cued) == messages
    with pytest.raises(ValueError, match="without a user message"):
        Cue("x ").apply([{"role": "system", "content": "hi"}])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("{prompt} and {prompt}", r"\{prompt\} appears 2 times"),
    ],
)
def test_bad_cues_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_cue(text)
    with pytest.raises(ValueError, match=message):
        Cue(text)
    with pytest.raises(ValueError, match="^" + re.escape(f"--train-cue {text!r}")):
        parse_cue(text, name="--train-cue")


def test_remove_refuses_a_prompt_the_cue_did_not_frame():
    with pytest.raises(ValueError, match="not under the cue"):
        Cue("(user request) ").remove("(training episode) 3+4=")
    with pytest.raises(ValueError, match="not under the cue"):
        Cue("<a>{prompt}</a>").remove("<a>")


def test_tasks_default_to_the_framing_cues():
    arith = get_task("arith")
    assert (arith.train_cue, arith.deploy_cue) == (Framing().train_cue, Framing().deploy_cue)
    assert arith.cue("train_cue") == Cue("(training episode) ")
    assert arith.cue("deploy_cue") == Cue("(user request) ")
    with pytest.raises(ValueError, match="unknown condition 'as_given'"):
        arith.cue("as_given")


def test_with_cues_replaces_one_or_both_and_keeps_the_rest():
    arith = get_task("arith")
    both = with_cues(arith, "[train] ", "[deploy] {prompt}")
    assert both.cue("train_cue").apply("1+1=") == "[train] 1+1="
    assert both.cue("deploy_cue").apply("1+1=") == "[deploy] 1+1="
    assert both.name == arith.name and both.make_dataset is arith.make_dataset
    one = with_cues(arith, None, "{prompt}")
    assert one.train_cue == arith.train_cue and one.deploy_cue == "{prompt}"
    assert with_cues(arith, None, None) == arith
    assert arith.train_cue == "(training episode) "  # the original is unchanged (frozen)


def test_with_cues_rejects_bad_or_equal_cues():
    arith = get_task("arith")
    with pytest.raises(ValueError, match="must differ"):
        with_cues(arith, "[x] ", "[x] ")
    with pytest.raises(ValueError, match="must differ"):
        with_cues(arith, "[x] ", "[x] {prompt}")  # a prefix and its template frame alike
    with pytest.raises(ValueError, match="must differ"):
        with_cues(arith, None, arith.train_cue)
    with pytest.raises(ValueError, match=r"^deploy cue '': empty"):
        with_cues(arith, None, "")
    with pytest.raises(ValueError, match="train cue"):
        dataclasses.replace(arith, train_cue="{prompt}{prompt}")
