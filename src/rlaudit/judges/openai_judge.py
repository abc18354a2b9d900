"""A judge behind any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, llama.cpp's server, a
hosted API), through the official `openai` client.

The client does the retrying: `max_retries` with its exponential back-off on connection errors,
timeouts, 408/409/429 and 5xx (honouring ``Retry-After``), `timeout` per request. What still fails
after that becomes a `Reply` with an error. A server that is gone (connection refused or timed out
`give_up_after` times in a row) is not asked again in this call: the requests left get the error
"not sent" at once instead of each waiting out its own retries.

The API key is read from the environment variable the user names (`key_env`, ``--judge-key-env``),
never from a file, and never logged or written into a finding; without one, a placeholder is sent
(local servers ignore it).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from rlaudit.judges.backend import Messages, Reply

INSTALL_HINT = "pip install 'rlaudit[judge]' (or openai==3.51.0)"
NO_KEY = "no-key"
"""Sent as the API key when no `key_env` is given: the client needs one; local servers ignore it."""


@dataclass
class OpenAIJudgeConfig:
    """How to reach the endpoint; the defaults suit a local server."""

    url: str
    """Base URL of the API, e.g. ``http://127.0.0.1:8080/v1``."""
    model: str
    """The model name the endpoint serves."""
    key_env: str | None = None
    """Name of the environment variable holding the API key (None: no key)."""
    concurrency: int = 4
    """Requests in flight at once."""
    timeout_s: float = 60.0
    """Per request, each try (the openai client's ``timeout``)."""
    max_retries: int = 2
    """Tries after the first, with the client's exponential back-off (its ``max_retries``)."""
    give_up_after: int = 3
    """Consecutive connection failures (after retries) after which the server counts as gone."""
    max_tokens: int = 96
    """Reply budget: a score tag and one sentence fit with room."""
    temperature: float = 0.0
    """0: the same prompt gets the same reply, which is what makes the cache honest."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"judge URL {self.url!r} must start with http:// or https://")
        if not self.model.strip():
            raise ValueError("name the judge model (--judge-model)")
        if self.key_env is not None and not os.environ.get(self.key_env):
            raise ValueError(f"--judge-key-env: the environment variable {self.key_env} is not set or empty")
        if self.concurrency < 1 or self.timeout_s <= 0 or self.max_retries < 0 or self.give_up_after < 1:
            raise ValueError("judge concurrency and give_up_after must be >= 1, timeout > 0, retries >= 0")
        if importlib.util.find_spec("openai") is None:  # last: the checks above need no client
            raise ValueError(f"a judge URL needs the openai client: {INSTALL_HINT}")


class OpenAIJudge:
    """`JudgeBackend` over an OpenAI-compatible endpoint (see the module docstring)."""

    def __init__(self, config: OpenAIJudgeConfig) -> None:
        import openai

        self.config = config
        self.model = config.model
        key = os.environ.get(config.key_env, "") if config.key_env else NO_KEY
        self._client = openai.OpenAI(
            base_url=config.url, api_key=key, timeout=config.timeout_s, max_retries=config.max_retries
        )
        self._lock = threading.Lock()
        self._failures_in_a_row = 0
        self._gone = threading.Event()

    def complete(self, requests: list[Messages]) -> list[Reply]:
        self._failures_in_a_row = 0
        self._gone.clear()
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            return list(pool.map(self._one, requests))

    def first_token(self, requests: list[Messages], top_k: int) -> list[Reply]:
        """The `top_k` likeliest first reply tokens of each request: one token generated, with the API's
        ``logprobs``/``top_logprobs`` (llama.cpp's server, vLLM and OpenAI's API return them)."""
        self._failures_in_a_row = 0
        self._gone.clear()
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            return list(pool.map(lambda m: self._one(m, top_k=top_k), requests))

    def _one(self, messages: Messages, top_k: int | None = None) -> Reply:
        import openai

        if self._gone.is_set():
            return Reply(None, "not sent: the judge server stopped answering earlier in this run")
        extra: dict[str, Any] = {} if top_k is None else {"logprobs": True, "top_logprobs": top_k}
        try:
            out = self._client.chat.completions.create(
                model=self.config.model,
                messages=cast(Any, messages),  # plain role/content dicts, as the API takes them
                max_tokens=self.config.max_tokens if top_k is None else 1,
                temperature=self.config.temperature,
                **extra,
            )
        except openai.APIConnectionError as e:  # refused, reset, timed out (APITimeoutError is one)
            with self._lock:
                self._failures_in_a_row += 1
                if self._failures_in_a_row >= self.config.give_up_after:
                    self._gone.set()
            return Reply(None, f"{type(e).__name__}: {_short(e)}")
        except openai.APIStatusError as e:  # 4xx/5xx left after the client's retries (429 included)
            return Reply(None, f"HTTP {e.status_code}: {_short(e)}")
        except openai.OpenAIError as e:  # a body that is not a chat completion, and the like
            return Reply(None, f"{type(e).__name__}: {_short(e)}")
        with self._lock:
            self._failures_in_a_row = 0
        choices = getattr(out, "choices", None) or []
        if top_k is not None:
            return _top(choices[0] if choices else None)
        text = choices[0].message.content if choices else None
        if not isinstance(text, str):
            return Reply(None, "the reply had no message text")
        return Reply(text)


def _top(choice: Any) -> Reply:
    """The first token's alternatives from a choice's ``logprobs.content[0].top_logprobs``."""
    content = getattr(getattr(choice, "logprobs", None), "content", None) or []
    alternatives = getattr(content[0], "top_logprobs", None) if content else None
    if not alternatives:
        return Reply(None, "the reply carried no top_logprobs (does the server support logprobs?)")
    top: dict[str, float] = {}
    for a in alternatives:
        token, logprob = getattr(a, "token", None), getattr(a, "logprob", None)
        if isinstance(token, str) and isinstance(logprob, int | float):
            top[token] = float(np.logaddexp(top[token], logprob)) if token in top else float(logprob)
    return (
        Reply(None, top=top) if top else Reply(None, "the reply's top_logprobs were not token/logprob pairs")
    )


def _short(e: BaseException, n: int = 160) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= n else text[:n] + "…"
