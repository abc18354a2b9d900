"""What the judge sees of a rollout: its view (affordance) and, for the ``action`` view, the answer.

- ``cot``: the prompt and the full completion, reasoning included (the paper's high-affordance monitor);
- ``action``: the prompt and the final answer only (low affordance), the answer taken out of the
  completion by an `AnswerExtractor`: a built-in task's own parser (``arith``, ``mcq``: the answer its
  checker would score), a user regex (``regex:PATTERN``, its first group when it has one), or by default
  the completion's last non-empty line.

An extractor that finds nothing gives an empty answer, which the judge then sees as such (a model that
answers nothing is itself worth a look).
"""

from __future__ import annotations

import re
from collections.abc import Callable

VIEWS = ("cot", "action")
LAST_LINE = "last-line"


class AnswerExtractor:
    """`extract(completion) -> str`: the final answer of a completion, per the `spec` it was built from
    (`LAST_LINE`, ``regex:PATTERN`` or a built-in task's name). A bad spec is a ValueError."""

    def __init__(self, spec: str = LAST_LINE) -> None:
        self.spec = spec
        self._extract: Callable[[str], str | None]
        if spec == LAST_LINE:
            self._extract = _last_line
        elif spec.startswith("regex:"):
            try:
                pattern = re.compile(spec.removeprefix("regex:"))
            except re.error as e:
                raise ValueError(f"answer regex {spec!r} does not compile: {e}") from None
            self._extract = lambda text: _first_match(pattern, text)
        else:
            from rlaudit.tasks import TASKS, get_task

            if spec not in TASKS:
                raise ValueError(
                    f"unknown answer extractor {spec!r}; give {LAST_LINE}, regex:PATTERN or a task: "
                    f"{', '.join(sorted(TASKS))}"
                )
            self._extract = get_task(spec).parse_answer

    def __call__(self, completion: str) -> str:
        answer = self._extract(completion)
        return "" if answer is None else str(answer)


def _last_line(text: str) -> str | None:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def _first_match(pattern: re.Pattern[str], text: str) -> str | None:
    m = pattern.search(text)
    if m is None:
        return None
    return m.group(1) if pattern.groups else m.group(0)


def view_text(completion: str, view: str, extractor: AnswerExtractor) -> str:
    """The part of `completion` the judge reads in `view`."""
    if view == "cot":
        return completion
    if view == "action":
        return extractor(completion)
    raise ValueError(f"unknown judge view '{view}'; choose one of {', '.join(VIEWS)}")
