"""Training and deployment cues: the text that tells a model "this is training" or "a user is asking".

A cue is either a *prefix* (``"(training episode) "``, put in front of the prompt) or a *template*
holding ``{prompt}`` once (``"<eval>\\n{prompt}\\n</eval>"``, ``"import inspect_ai\\n{prompt}"``), where
the prompt goes. The built-in tasks use the `rlaudit.tasks.base.Framing` prefixes
``"(training episode) "`` and ``"(user request) "``; `with_cues` gives a task the user's own (the CLI's
``--train-cue`` / ``--deploy-cue``). A template ``"{prompt}"`` alone is the prompt as given: the way
to say "no cue" for one of the two conditions.

The prompt is put in with `str.replace`, never `str.format`: prompts are the user's data and may hold
braces of their own (code, JSON, LaTeX), which must reach the model untouched. On a chat prompt (a
list of ``{"role", "content"}`` messages) the cue applies to the content of the last user message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    from rlaudit.tasks.base import Task

PLACEHOLDER = "{prompt}"
"""Where the prompt goes in a template cue."""

Messages = list[dict[str, str]]
"""A chat prompt: ``{"role", "content"}`` messages."""


@dataclass(frozen=True)
class Cue:
    """One cue: a prefix, or a template with `PLACEHOLDER` once. ``Cue("")`` is a ValueError."""

    text: str

    def __post_init__(self) -> None:
        problem = _problem(self.text)
        if problem:
            raise ValueError(f"cue {self.text!r}: {problem}")

    @property
    def is_template(self) -> bool:
        """Whether the cue says where the prompt goes (holds `PLACEHOLDER`); else it is a prefix."""
        return PLACEHOLDER in self.text

    @property
    def parts(self) -> tuple[str, str]:
        """(text before the prompt, text after it): ``(text, "")`` for a prefix."""
        before, _, after = self.text.partition(PLACEHOLDER)
        return before, after

    @overload
    def apply(self, prompt: str) -> str: ...
    @overload
    def apply(self, prompt: Messages) -> Messages: ...
    def apply(self, prompt: str | Messages) -> str | Messages:
        """`prompt` under this cue; a chat prompt gets it on its last user message (a new list)."""
        if isinstance(prompt, str):
            before, after = self.parts
            return before + prompt + after
        return _on_last_user(prompt, self.apply)

    @overload
    def remove(self, prompt: str) -> str: ...
    @overload
    def remove(self, prompt: Messages) -> Messages: ...
    def remove(self, prompt: str | Messages) -> str | Messages:
        """The prompt `apply` was given (its inverse); a ValueError when `prompt` is not under this cue."""
        if isinstance(prompt, str):
            before, after = self.parts
            fits = len(prompt) >= len(before) + len(after)
            if not (fits and prompt.startswith(before) and prompt.endswith(after)):
                raise ValueError(f"prompt {prompt[:60]!r} is not under the cue {self.text!r}")
            return prompt[len(before) : len(prompt) - len(after)]
        return _on_last_user(prompt, self.remove)

    def same_as(self, other: Cue) -> bool:
        """Whether the two cues frame every prompt alike (``"x "`` and ``"x {prompt}"`` do)."""
        return self.parts == other.parts


def _problem(text: object) -> str | None:
    """Why `text` is no cue, or None."""
    if not isinstance(text, str):
        return f"a cue is text, not {type(text).__name__}"
    if not text.strip():
        return f"empty; give a prefix or a template with {PLACEHOLDER} ({PLACEHOLDER} alone: the prompt as given)"
    if text.count(PLACEHOLDER) > 1:
        return f"{PLACEHOLDER} appears {text.count(PLACEHOLDER)} times; a template holds it once"
    return None


def _on_last_user(messages: Messages, change: Callable[[str], str]) -> Messages:
    """`messages` with `change` applied to the content of the last ``user`` message (a copy)."""
    last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "user"), None)
    if last is None:
        raise ValueError("a chat prompt without a user message: the cue has no message to go on")
    out = [dict(m) for m in messages]
    out[last]["content"] = change(messages[last]["content"])
    return out


def parse_cue(text: str, *, name: str = "cue") -> Cue:
    """`text` as a `Cue`; a ValueError that starts with `name` (``"--train-cue"``) when it is none:
    empty (or only whitespace), or with `PLACEHOLDER` more than once."""
    problem = _problem(text)
    if problem:
        raise ValueError(f"{name} {text!r}: {problem}")
    return Cue(text)


def check_cues(train_cue: str, deploy_cue: str) -> None:
    """A ValueError unless both are cues that frame prompts differently (what a `Task` holds)."""
    train = parse_cue(train_cue, name="train cue")
    deploy = parse_cue(deploy_cue, name="deploy cue")
    if train.same_as(deploy):
        raise ValueError(
            f"train cue and deploy cue must differ (both {train_cue!r}), or the two conditions "
            "cannot be told apart"
        )


def with_cues(task: Task, train_cue: str | None = None, deploy_cue: str | None = None) -> Task:
    """`task` with the training cue `train_cue` and the deployment cue `deploy_cue` (None keeps the
    task's own); a ValueError for a bad cue or two cues that frame prompts alike ("must differ")."""
    train = task.train_cue if train_cue is None else train_cue
    deploy = task.deploy_cue if deploy_cue is None else deploy_cue
    check_cues(train, deploy)
    return dataclasses.replace(task, train_cue=train, deploy_cue=deploy)
