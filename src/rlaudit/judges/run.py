"""One judge pass over a store: select rollouts, look each up in the cache, ask the judge for the rest,
parse the replies (or, with ``scoring="probability"``, read the first token's probabilities), and turn
the scores into findings (`judge_store`, what `rlaudit.monitor.judge` calls).

Fail-open, as every detector: requests that fail after the back-end's retries are unscored and
reported in one warning line (stderr, through `logging`), and a judge that cannot be reached at all
leaves the other detectors' verdict as it is.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from rlaudit.findings import Finding, Severity
from rlaudit.judges import probability
from rlaudit.judges.backend import JudgeBackend, Messages, ProbabilityBackend, Reply
from rlaudit.judges.cache import ReplyCache
from rlaudit.judges.detector import Judged, JudgeFindingsConfig, judge_findings
from rlaudit.judges.hf_judge import HFJudge, HFJudgeConfig
from rlaudit.judges.openai_judge import OpenAIJudge, OpenAIJudgeConfig
from rlaudit.judges.probability import PROBABILITY_RUBRIC_VERSION, ProbabilityConfig
from rlaudit.judges.rubric import RUBRIC_VERSION, messages, parse_reply, prompt_hash
from rlaudit.judges.rules import RuleConfig, RuleMatcher
from rlaudit.judges.selection import SelectionConfig, Transcript, select
from rlaudit.judges.views import LAST_LINE, VIEWS, AnswerExtractor, view_text
from rlaudit.records import RolloutStore

logger = logging.getLogger(__name__)

SCORINGS = ("generated", "probability")
"""``generated``: the score the judge writes (`rlaudit.judges.rubric`); ``probability``: 10 x P(yes)
of a yes/no question, from the judge's token probabilities (`rlaudit.judges.probability`)."""


@dataclass
class JudgeConfig:
    """A judge pass: which judge (`url` set: an OpenAI-compatible endpoint; else `model` in process),
    what it reads, how much, and where its replies are cached. The defaults work once `model` is named."""

    model: str
    """The endpoint's model name, or (no `url`) ``smollm2``, ``tiny`` or a checkpoint directory."""
    url: str | None = None
    key_env: str | None = None
    """Environment variable holding the endpoint's API key (never a file, never logged)."""
    view: str = "cot"
    """``cot`` (prompt + full completion) or ``action`` (prompt + final answer only)."""
    answer: str = LAST_LINE
    """The ``action`` view's answer extractor: ``last-line``, ``regex:PATTERN`` or a task name."""
    scoring: str = "generated"
    """``generated`` (the score the judge writes) or ``probability`` (from its token probabilities;
    the back-end must report them: the in-process judge does, and servers with ``logprobs``)."""
    cache: Path | None = None
    """The reply cache file (None: no cache)."""
    concurrency: int = 4
    timeout_s: float = 60.0
    max_retries: int = 2
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    findings: JudgeFindingsConfig = field(default_factory=JudgeFindingsConfig)
    rules: RuleConfig = field(default_factory=RuleConfig)
    probability: ProbabilityConfig = field(default_factory=ProbabilityConfig)

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise ValueError(f"judge view '{self.view}' is not one of {', '.join(VIEWS)}")
        if self.scoring not in SCORINGS:
            raise ValueError(f"judge scoring '{self.scoring}' is not one of {', '.join(SCORINGS)}")
        if isinstance(self.probability, dict):
            self.probability = ProbabilityConfig(**self.probability)
        if isinstance(self.selection, dict):  # from JSON
            self.selection = SelectionConfig(**self.selection)
        if isinstance(self.findings, dict):
            self.findings = JudgeFindingsConfig(**self.findings)
        if isinstance(self.rules, dict):
            self.rules = RuleConfig(**self.rules)
        if self.cache is not None:
            self.cache = Path(self.cache)
        AnswerExtractor(self.answer)  # a bad extractor is bad input now, not after the judge ran
        if self.url is not None:
            self.openai_config()  # likewise a bad URL or an unset key variable

    def openai_config(self) -> OpenAIJudgeConfig:
        if self.url is None:
            raise ValueError("no judge URL")
        return OpenAIJudgeConfig(
            url=self.url,
            model=self.model,
            key_env=self.key_env,
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
        )


def make_backend(config: JudgeConfig) -> JudgeBackend:
    """The back-end `config` names: an `OpenAIJudge` when it has a URL, else an in-process `HFJudge`."""
    if config.url is not None:
        return OpenAIJudge(config.openai_config())
    return HFJudge(HFJudgeConfig(model=config.model))


def judge_store(
    store: RolloutStore, config: JudgeConfig, backend: JudgeBackend | None = None
) -> list[Finding]:
    """The judge's findings over `store` (see the module docstring); `backend` defaults to `make_backend`."""
    transcripts = select(store, config.selection)
    if not transcripts:
        return []
    try:
        backend = backend or make_backend(config)
    except Exception as e:  # a judge model that will not load: say so, keep the verdict of the rest
        summary = f"The judge could not start ({type(e).__name__}: {e}); no judge evidence."
        logger.warning("rlaudit: judge: %s", summary)
        return [Finding("judge_suspicion", Severity.INFO, math.nan, summary)]
    judged = judge_transcripts(transcripts, config, backend)
    failed = [j for j in judged if j.problem and j.problem.startswith("request failed")]
    if failed:
        logger.warning(
            "rlaudit: judge: %d of %d requests failed after retries and are unscored (first: %s)",
            len(failed),
            len(judged),
            failed[0].problem,
        )
    return judge_findings(
        judged, config.findings, model=backend.model, view=config.view, rubric=rubric_version(config)
    )


def rubric_version(config: JudgeConfig) -> str:
    """The rubric version `config`'s scoring asks with (each mode its own; part of every cache key)."""
    return PROBABILITY_RUBRIC_VERSION if config.scoring == "probability" else RUBRIC_VERSION


def judge_transcripts(
    transcripts: list[Transcript], config: JudgeConfig, backend: JudgeBackend
) -> list[Judged]:
    """Score each transcript: from the cache where it has the reply, from `backend` otherwise (new
    replies are cached; failed requests are not)."""
    extractor = AnswerExtractor(config.answer)
    rules = RuleMatcher(config.rules)
    by_probability = config.scoring == "probability"
    ask = probability.messages if by_probability else messages
    requests: list[Messages] = [
        ask(t.prompt, view_text(t.completion, config.view, extractor), config.view) for t in transcripts
    ]
    hashes = [prompt_hash(m) for m in requests]
    version = rubric_version(config)
    cache = ReplyCache(config.cache) if config.cache is not None else None
    try:
        known = cache.get_many(backend.model, version, hashes) if cache else {}
        todo = sorted({h: i for i, h in enumerate(hashes) if h not in known}.values())
        fresh = dict(zip(todo, _ask(backend, [requests[i] for i in todo], config), strict=True))
        if cache:  # a probability reply is stored as its token alternatives (JSON)
            cache.put_many(
                backend.model, version, {hashes[i]: s for i, r in fresh.items() if (s := _stored(r))}
            )
    finally:
        if cache:
            cache.close()
    replies = {hashes[i]: r for i, r in fresh.items()}
    out = []
    for t, h in zip(transcripts, hashes, strict=True):
        reply = _from_cache(known[h], by_probability) if h in known else replies[h]
        hits = tuple(rules.hits(t.completion))
        if reply.error is not None or (reply.text is None and reply.top is None):
            problem = f"request failed: {reply.error}"
            out.append(Judged(t, None, "", problem, hits, cached=False))
            continue
        if by_probability:
            parsed = probability.score(reply.top or {}, config.probability)
        else:
            parsed = parse_reply(reply.text or "")
        out.append(Judged(t, parsed.score, parsed.reason, parsed.problem, hits, cached=h in known))
    return out


def _ask(backend: JudgeBackend, requests: list[Messages], config: JudgeConfig) -> list[Reply]:
    if config.scoring != "probability":
        return backend.complete(requests)
    if not hasattr(backend, "first_token"):
        return [Reply(None, f"the judge {backend.model} reports no token probabilities")] * len(requests)
    return cast(ProbabilityBackend, backend).first_token(requests, config.probability.top_k)


def _stored(reply: Reply) -> str | None:
    if reply.error is not None:
        return None  # failed requests are asked again next time
    if reply.top is not None:
        return probability.encode(reply.top)
    return reply.text


def _from_cache(stored: str, by_probability: bool) -> Reply:
    if not by_probability:
        return Reply(stored)
    try:
        return Reply(None, top=probability.decode(stored))
    except (ValueError, TypeError, AttributeError):  # a damaged row: unscored, and reported
        return Reply(None, "the cached token probabilities are unreadable")
