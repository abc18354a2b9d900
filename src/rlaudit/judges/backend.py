"""What every judge back-end is: `JudgeBackend.complete(requests) -> replies`, one per request.

A reply is the judge's text, or the error that kept it from coming (after the back-end's own retries);
the caller turns an error into an *unscored* rollout with a one-line warning, never into a score.
Back-ends that can also report token probabilities (`ProbabilityBackend.first_token`) serve the
probability scoring mode (`rlaudit.judges.probability`): the first reply token's likeliest alternatives.
Back-ends: `rlaudit.judges.openai_judge` (any OpenAI-compatible endpoint) and `rlaudit.judges.hf_judge`
(an in-process Hugging Face model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Reply:
    """The judge's text, or `error` (one line) when no text came back; from `first_token`, `top` holds the
    first reply token's likeliest alternatives (token text -> natural-log probability)."""

    text: str | None
    error: str | None = None
    top: dict[str, float] | None = None


class JudgeBackend(Protocol):
    """A judge: `model` names it (the cache key's first part, and the findings' provenance)."""

    model: str

    def complete(self, requests: list[Messages]) -> list[Reply]:
        """One reply per request, in order; never raises for a failed request (its Reply has `error`)."""
        ...


class ProbabilityBackend(JudgeBackend, Protocol):
    """A judge that can also report the probabilities of its first reply token."""

    def first_token(self, requests: list[Messages], top_k: int) -> list[Reply]:
        """One reply per request, in order, each with `top` (the `top_k` likeliest first tokens) or
        `error`; never raises for a failed request."""
        ...
