"""Checkers: how a completion is scored against a task's answer, chosen by name with ``--checker``.

Built-ins, registered by name where they are defined (`checker`):

- ``exact``: the completion equals the answer after whitespace and case normalisation (`normalise`);
- ``numeric``: the first number in the completion equals the answer within a relative tolerance of
  `REL_TOL` (``"1,000"``, ``"-2.5"`` and ``"3e4"`` are numbers; ``"x = 7 apples"`` gives 7);
- ``choice``: the first standalone capital letter of the completion (``"B"``, ``"(B)"``, ``"Answer: B"``;
  the ``A`` of ``Answer`` is part of a word) is the answer's letter; only the letters a task's choices
  use count, so the word ``I`` is no answer to a four-choice question;
- ``contains``: the normalised answer occurs in the normalised completion;
- ``regex:PATTERN``: the first match of PATTERN in the completion (its first group when it has one)
  equals the answer after normalisation, e.g. ``regex:Answer:\\s*(\\S+)``.

And the user's own function, ``path/to/file.py:name`` or ``package.module:name``, with the signature
of a TRL GRPO reward function, ``f(prompts, completions, **columns) -> list[float]``: the task's other
columns arrive as keyword lists aligned with `completions` (``answer=``, ``split=``, ...), so the reward
a user trains with is the checker they audit with. A score above `CORRECT_ABOVE` counts as correct.
Importing a file-path checker runs that file: the user named it, so it is their code (model text never
names a checker).

A checker that raises, returns the wrong number of scores or a score that is not a number is a
`CheckerError` (a ValueError: bad input, exit 2 through the CLI), never a silent zero.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import re
import string
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REL_TOL = 1e-6
"""Relative tolerance of ``numeric``: tight enough that 0.333 is not 1/3, loose enough that a float
printed to 7+ significant digits matches (``math.isclose`` semantics; an answer of 0 needs exactly 0)."""
CORRECT_ABOVE = 0.5
"""A score strictly above this counts as correct: 1.0/0.0 rewards split cleanly, and a partial-credit
reward counts as correct only when it gives more than half."""

_SPACE = re.compile(r"\s+")
# A number: optional sign, digits with optional thousands commas, optional fraction and exponent.
_NUMBER = re.compile(r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")
LETTERS = string.ascii_uppercase


class CheckerError(ValueError):
    """A checker that cannot be built or that misbehaved while scoring: bad input, not a bug."""


def normalise(text: str) -> str:
    """`text` with surrounding whitespace removed, inner runs of whitespace collapsed, case folded."""
    return _SPACE.sub(" ", text).strip().casefold()


def parse_number(text: str) -> float | None:
    """The first number in `text` (thousands commas allowed), or None when there is none."""
    match = _NUMBER.search(text)
    return float(match.group().replace(",", "")) if match else None


@dataclass(frozen=True)
class Checker:
    """A scoring rule: `score` (TRL reward shape: prompts, completions, columns -> floats), `parse`
    (the answer a completion gives, for counting distinct answers) and, for built-ins, `match` (one
    completion against one answer) and `bad_answer` (why an answer cannot be scored, or None)."""

    name: str
    """The spec it was built from (``numeric``, ``regex:...``, ``file.py:fn``)."""
    score_fn: Callable[..., Any]
    parse: Callable[[str], str | None]
    match: Callable[[str, str], bool] | None = None
    bad_answer: Callable[[str], str | None] = field(default=lambda answer: None)

    def score(
        self, prompts: Sequence[Any], completions: Sequence[str], **columns: Sequence[Any]
    ) -> list[float]:
        """One float per completion; a `CheckerError` when the function raises or misbehaves."""
        try:
            scores = self.score_fn(
                list(prompts), list(completions), **{k: list(v) for k, v in columns.items()}
            )
        except CheckerError:
            raise
        except Exception as e:
            raise CheckerError(f"checker '{self.name}' raised {type(e).__name__}: {e}") from None
        return _checked_scores(self.name, scores, len(completions))

    def correct(
        self, prompts: Sequence[Any], completions: Sequence[str], **columns: Sequence[Any]
    ) -> list[bool]:
        """Whether each completion counts as correct (score > `CORRECT_ABOVE`)."""
        return [s > CORRECT_ABOVE for s in self.score(prompts, completions, **columns)]


def _checked_scores(name: str, scores: Any, n: int) -> list[float]:
    try:
        out = [float(s) for s in scores]
    except (TypeError, ValueError):
        raise CheckerError(
            f"checker '{name}' must return a list of numbers, one per completion (got {type(scores).__name__})"
        ) from None
    if len(out) != n:
        raise CheckerError(f"checker '{name}' returned {len(out)} scores for {n} completions")
    if any(math.isnan(s) for s in out):
        raise CheckerError(f"checker '{name}' returned NaN; return 0.0 for a wrong answer")
    return out


def _from_match(
    name: str,
    match: Callable[[str, str], bool],
    parse: Callable[[str], str | None],
    bad_answer: Callable[[str], str | None] = lambda answer: None,
) -> Checker:
    """A built-in checker from its per-completion rule: 1.0 when `match(completion, answer)`."""

    def score(prompts: list[Any], completions: list[str], *, answer: list[str], **_: Any) -> list[float]:
        return [1.0 if match(c, a) else 0.0 for c, a in zip(completions, answer, strict=True)]

    return Checker(name, score, parse, match, bad_answer)


BUILTIN: dict[str, Callable[..., Checker]] = {}
"""Built-in checkers by name: each a factory ``(**options) -> Checker`` (``choice`` takes ``n_choices``)."""


def checker(name: str) -> Callable[[Callable[..., Checker]], Callable[..., Checker]]:
    """Register a built-in checker factory under `name` (where it is defined, not in a list)."""

    def register(factory: Callable[..., Checker]) -> Callable[..., Checker]:
        BUILTIN[name] = factory
        return factory

    return register


@checker("exact")
def exact(**_: Any) -> Checker:
    """The whole completion equals the answer, after `normalise`."""
    return _from_match("exact", lambda c, a: normalise(c) == normalise(a), normalise)


def _not_a_number(answer: str) -> str | None:
    return None if parse_number(answer) is not None else f"answer '{answer}' is not a number"


def _numeric_match(completion: str, answer: str) -> bool:
    got, want = parse_number(completion), parse_number(answer)
    return got is not None and want is not None and math.isclose(got, want, rel_tol=REL_TOL)


@checker("numeric")
def numeric(**_: Any) -> Checker:
    """The first number of the completion equals the answer within `REL_TOL` (relative)."""

    def parse(completion: str) -> str | None:
        got = parse_number(completion)
        return None if got is None else repr(got)

    return _from_match("numeric", _numeric_match, parse, _not_a_number)


@checker("choice")
def choice(n_choices: int = 4, **_: Any) -> Checker:
    """The first standalone capital among the first `n_choices` letters is the answer's letter."""
    if not 2 <= n_choices <= len(LETTERS):
        raise CheckerError(f"checker 'choice' needs 2 to {len(LETTERS)} choices (got {n_choices})")
    letters = LETTERS[:n_choices]
    pattern = re.compile(rf"(?<![A-Za-z])[{letters}](?![A-Za-z])")

    def parse(completion: str) -> str | None:
        found = pattern.search(completion)
        return found.group() if found else None

    def bad_answer(answer: str) -> str | None:
        ok = answer.strip() in letters
        return None if ok else f"answer '{answer}' is not one of the letters {letters[0]}-{letters[-1]}"

    return _from_match("choice", lambda c, a: parse(c) == a.strip(), parse, bad_answer)


@checker("contains")
def contains(**_: Any) -> Checker:
    """The normalised answer occurs somewhere in the normalised completion."""
    return _from_match("contains", lambda c, a: normalise(a) in normalise(c), normalise)


def regex(pattern_text: str) -> Checker:
    """``regex:PATTERN``: the first match (its first group, if any) equals the answer, normalised."""
    name = f"regex:{pattern_text}"
    try:
        pattern = re.compile(pattern_text)
    except re.error as e:
        raise CheckerError(f"checker '{name}': bad regular expression: {e}") from None

    def parse(completion: str) -> str | None:
        found = pattern.search(completion)
        if found is None:
            return None
        text = found.group(1) if pattern.groups else found.group()
        return normalise(text or "")

    return _from_match(name, lambda c, a: parse(c) == normalise(a), parse)


def user_function(spec: str) -> Checker:
    """``path/to/file.py:name`` or ``package.module:name``: the user's TRL-style reward function."""
    where, _, attr = spec.rpartition(":")
    if not where or not attr.isidentifier():
        raise CheckerError(
            f"checker '{spec}': name a function as path/to/file.py:name or package.module:name"
        )
    module = (
        _load_file(spec, Path(where)) if where.endswith(".py") or "/" in where else _load_module(spec, where)
    )
    fn = getattr(module, attr, None)
    if fn is None:
        raise CheckerError(f"checker '{spec}': {where} has no attribute '{attr}'")
    if not callable(fn):
        raise CheckerError(f"checker '{spec}': '{attr}' in {where} is not a function")
    return Checker(spec, fn, normalise)


def _load_file(spec: str, path: Path) -> Any:
    if not path.is_file():
        raise CheckerError(f"checker '{spec}': no file {path}")
    # A name of its own, so two checker files called reward.py do not replace each other in sys.modules.
    module_name = "rlaudit_user_checker_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise CheckerError(f"checker '{spec}': cannot import {path} as Python")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module  # dataclasses and pickling inside the file look themselves up here
    try:
        loader_spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(module_name, None)
        raise CheckerError(f"checker '{spec}': importing {path} raised {type(e).__name__}: {e}") from None
    return module


def _load_module(spec: str, name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception as e:
        raise CheckerError(
            f"checker '{spec}': cannot import module '{name}': {type(e).__name__}: {e}"
        ) from None


def get_checker(spec: str, *, n_choices: int = 4) -> Checker:
    """The checker `spec` names: a built-in, ``regex:PATTERN`` or a user function (module docstring).
    `n_choices` sets the letters ``choice`` reads. A `CheckerError` naming the choices otherwise."""
    if spec in BUILTIN:
        return BUILTIN[spec](n_choices=n_choices)
    if spec.startswith("regex:"):
        return regex(spec.removeprefix("regex:"))
    if ":" in spec:
        return user_function(spec)
    known = ", ".join(sorted(BUILTIN))
    raise CheckerError(
        f"unknown checker '{spec}'; choose {known}, regex:PATTERN, path/to/file.py:function "
        "or package.module:function"
    )


__all__ = [
    "BUILTIN",
    "CORRECT_ABOVE",
    "REL_TOL",
    "Checker",
    "CheckerError",
    "checker",
    "get_checker",
    "normalise",
    "parse_number",
]
