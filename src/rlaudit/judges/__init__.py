"""Transcript monitors: a judge that reads what the model wrote, and a rule layer beside it.

    from rlaudit.judges import JudgeConfig, judge_store
    findings = judge_store(store, JudgeConfig(model="smollm2-135m", url="http://127.0.0.1:8080/v1"))

records (store) -> `selection` (a stratified sample) -> `views` (cot / action) -> `rubric` (quoted prompt,
versioned) -> a back-end (`openai_judge`, `hf_judge`; replies cached by `cache`) -> `rubric.parse_reply`
(strict: no score is unscored, never 0) -> `detector` (findings) -> the monitor's judgement.
``scoring="probability"`` swaps the rubric and the parser for `probability` (a yes/no question scored
10 x P(yes) from the judge's first-token probabilities): for small judges whose written score barely varies.
"""

from rlaudit.judges.backend import JudgeBackend, ProbabilityBackend, Reply
from rlaudit.judges.cache import CACHE_FILE, ReplyCache
from rlaudit.judges.detector import Judged, JudgeFindingsConfig, judge_findings
from rlaudit.judges.hf_judge import HFJudge, HFJudgeConfig
from rlaudit.judges.openai_judge import OpenAIJudge, OpenAIJudgeConfig
from rlaudit.judges.probability import PROBABILITY_RUBRIC_VERSION, ProbabilityConfig
from rlaudit.judges.rubric import RUBRIC_VERSION, Parsed, messages, parse_reply
from rlaudit.judges.rules import DEFAULT_PHRASES, RuleConfig, RuleMatcher
from rlaudit.judges.run import (
    SCORINGS,
    JudgeConfig,
    judge_store,
    judge_transcripts,
    make_backend,
    rubric_version,
)
from rlaudit.judges.selection import SelectionConfig, Transcript, select
from rlaudit.judges.views import VIEWS, AnswerExtractor, view_text

__all__ = [
    "CACHE_FILE",
    "DEFAULT_PHRASES",
    "PROBABILITY_RUBRIC_VERSION",
    "RUBRIC_VERSION",
    "SCORINGS",
    "VIEWS",
    "AnswerExtractor",
    "HFJudge",
    "HFJudgeConfig",
    "JudgeBackend",
    "JudgeConfig",
    "JudgeFindingsConfig",
    "Judged",
    "OpenAIJudge",
    "OpenAIJudgeConfig",
    "Parsed",
    "ProbabilityBackend",
    "ProbabilityConfig",
    "Reply",
    "ReplyCache",
    "RuleConfig",
    "RuleMatcher",
    "SelectionConfig",
    "Transcript",
    "judge_findings",
    "judge_store",
    "judge_transcripts",
    "make_backend",
    "messages",
    "parse_reply",
    "rubric_version",
    "select",
    "view_text",
]
