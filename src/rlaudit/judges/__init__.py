"""Transcript monitors: a judge that reads what the model wrote, and a rule layer beside it.

    from rlaudit.judges import JudgeConfig, judge_store
    findings = judge_store(store, JudgeConfig(model="smollm2-135m", url="http://127.0.0.1:8080/v1"))

records (store) -> `selection` (a stratified sample) -> `views` (cot / action) -> `rubric` (quoted prompt,
versioned) -> a back-end (`openai_judge`, `hf_judge`; replies cached by `cache`) -> `rubric.parse_reply`
(strict: no score is unscored, never 0) -> `detector` (findings) -> the monitor's judgement.
"""

from rlaudit.judges.backend import JudgeBackend, Reply
from rlaudit.judges.cache import CACHE_FILE, ReplyCache
from rlaudit.judges.detector import Judged, JudgeFindingsConfig, judge_findings
from rlaudit.judges.hf_judge import HFJudge, HFJudgeConfig
from rlaudit.judges.openai_judge import OpenAIJudge, OpenAIJudgeConfig
from rlaudit.judges.rubric import RUBRIC_VERSION, Parsed, messages, parse_reply
from rlaudit.judges.rules import DEFAULT_PHRASES, RuleConfig, RuleMatcher
from rlaudit.judges.run import JudgeConfig, judge_store, judge_transcripts, make_backend
from rlaudit.judges.selection import SelectionConfig, Transcript, select
from rlaudit.judges.views import VIEWS, AnswerExtractor, view_text

__all__ = [
    "CACHE_FILE",
    "DEFAULT_PHRASES",
    "RUBRIC_VERSION",
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
    "select",
    "view_text",
]
