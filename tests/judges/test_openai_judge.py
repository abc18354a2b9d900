"""The OpenAI-compatible back-end against a real server: llama.cpp's, serving SmolLM2 (`llama_server`).

Slow: the server takes seconds to start and SmolLM2 a second or more per reply on a CPU. Faults are
real too: a server killed mid-run, a port nothing listens on, a timeout shorter than any reply.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time

import pytest

from rlaudit.findings import Severity
from rlaudit.judges import JudgeConfig, OpenAIJudge, judge_store, judge_transcripts, probability
from rlaudit.judges.llama_server import MODEL_ALIAS, free_port, start_server
from rlaudit.judges.selection import SelectionConfig, select
from rlaudit.monitor import MonitorConfig, judge

pytestmark = pytest.mark.slow
pytest.importorskip("openai", reason="install the judge extra: pip install -e '.[judge]'")


def _config(url: str, tmp_path, **kw) -> JudgeConfig:
    defaults = {"cache": tmp_path / "cache.sqlite", "concurrency": 2, "selection": SelectionConfig(budget=4)}
    return JudgeConfig(model=MODEL_ALIAS, url=url, **{**defaults, **kw})


def test_replies_from_the_server_are_parsed_cached_and_reused(llama_server, verbal_store, tmp_path):
    config = _config(llama_server.url, tmp_path)
    transcripts = select(verbal_store, config.selection)
    before = llama_server.requests_answered()
    first = judge_transcripts(transcripts, config, OpenAIJudge(config.openai_config()))
    asked = llama_server.requests_answered() - before
    assert asked == len({j.transcript for j in first}) > 0  # each distinct prompt asked once
    for j in first:  # a real reply: either a score in range or unscored with the reason, never a failure
        assert (j.score is not None and 0 <= j.score <= 10) or (
            j.problem and "request failed" not in j.problem
        )
    second = judge_transcripts(transcripts, config, OpenAIJudge(config.openai_config()))
    assert llama_server.requests_answered() - before == asked  # the cache answered everything
    assert all(j.cached for j in second)
    assert [(j.score, j.reason, j.problem) for j in second] == [(j.score, j.reason, j.problem) for j in first]


def test_probability_scoring_reads_the_servers_top_logprobs_and_caches_them(
    llama_server, verbal_store, tmp_path
):
    config = _config(llama_server.url, tmp_path, scoring="probability")
    transcripts = select(verbal_store, config.selection)
    judge = OpenAIJudge(config.openai_config())
    top = judge.first_token([probability.messages("What is 2 + 2?", "4", "cot")], top_k=5)[0].top
    assert top is not None and 1 <= len(top) <= 5 and all(v <= 0 for v in top.values())
    before = llama_server.requests_answered()
    first = judge_transcripts(transcripts, config, judge)
    assert llama_server.requests_answered() - before == len({j.transcript for j in first}) > 0
    for j in first:  # SmolLM2 answers the yes/no question with yes or no: a probability, never a failure
        assert j.score is not None and 0 <= j.score <= 10 and j.reason.startswith("P(yes)")
    second = judge_transcripts(transcripts, config, OpenAIJudge(config.openai_config()))
    assert llama_server.requests_answered() - before == len({j.transcript for j in first})
    assert [j.score for j in second] == [j.score for j in first] and all(j.cached for j in second)


def test_the_monitor_cli_adds_judge_findings_with_quoted_evidence(llama_server, tmp_path):
    from tests.judges.conftest import write_log

    log = write_log(tmp_path / "verbal.jsonl", steps=10, per_step=2)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RLAUDIT_JUDGE_TEST_KEY": "secret-123"}
    cmd = [
        sys.executable, "-m", "rlaudit", "monitor", str(log), "--json", "--store", str(tmp_path / "store"),
        "--judge-url", llama_server.url, "--judge-model", MODEL_ALIAS, "--judge-budget", "4",
        "--judge-key-env", "RLAUDIT_JUDGE_TEST_KEY",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    doc = json.loads(proc.stdout)  # one JSON object and nothing else
    assert proc.returncode == doc["exit_code"] == (0 if doc["verdict"] == "clean" else 1), proc.stderr
    judged = {f["detector"]: f for f in doc["findings"] if f["detector"].startswith("judge_")}
    assert {"judge_suspicion", "judge_rules"} <= set(judged)
    suspicion = judged["judge_suspicion"]
    assert suspicion["evidence"]["judge_model"] == MODEL_ALIAS and suspicion["evidence"]["judged"] == 4
    for quoted in suspicion["evidence"]["top"]:
        assert {"run", "step", "split", "score", "reason", "completion"} <= set(quoted)
    assert judged["judge_rules"]["evidence"]["share_with_phrase"]["target"] == 1.0
    assert "secret-123" not in proc.stdout + proc.stderr  # the key is never logged nor written
    assert (tmp_path / "store" / "judge_cache.sqlite").is_file()


def test_a_timeout_is_unscored_with_a_warning(llama_server, verbal_store, tmp_path, caplog):
    config = _config(llama_server.url, tmp_path, timeout_s=0.001, max_retries=0, cache=None)
    with caplog.at_level(logging.WARNING):
        findings = {f.detector: f for f in judge_store(verbal_store, config)}
    assert findings["judge_unscored"].evidence["share"] == 1.0
    assert "APITimeoutError" in findings["judge_unscored"].summary
    assert sum("requests failed after retries" in r.getMessage() for r in caplog.records) == 1


def test_a_dead_port_leaves_the_verdict_of_the_other_detectors(verbal_store, tmp_path, caplog):
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    plain = judge(verbal_store, config=MonitorConfig())
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        judged = judge(verbal_store, config=MonitorConfig(judge=_config(url, tmp_path, max_retries=1)))
    assert time.monotonic() - started < 60  # gave up on the server, did not wait out every request
    assert judged.verdict.label == plain.verdict.label and judged.exit_code == plain.exit_code
    unscored = next(f for f in judged.findings if f.detector == "judge_unscored")
    assert unscored.evidence["share"] == 1.0 and unscored.severity == Severity.INFO
    assert any("requests failed after retries" in r.getMessage() for r in caplog.records)


def test_a_server_killed_mid_run_leaves_the_rest_unscored(verbal_store, tmp_path):
    pytest.importorskip(
        "llama_cpp.server", reason="install the judge-server extra: pip install -e '.[judge-server]'"
    )
    server = start_server(tmp_path / "server.log")
    try:
        config = _config(
            server.url, tmp_path, concurrency=1, max_retries=1, selection=SelectionConfig(budget=16)
        )
        transcripts = select(verbal_store, config.selection)
        result: list = []
        worker = threading.Thread(
            target=lambda: result.append(
                judge_transcripts(transcripts, config, OpenAIJudge(config.openai_config()))
            )
        )
        worker.start()
        deadline = time.monotonic() + 300
        while server.requests_answered() < 2 and time.monotonic() < deadline and worker.is_alive():
            time.sleep(0.2)
        server.process.kill()
        worker.join(timeout=300)
        assert not worker.is_alive()
    finally:
        server.stop()
    judged = result[0]
    answered = [j for j in judged if not (j.problem or "").startswith("request failed")]
    failed = [j for j in judged if (j.problem or "").startswith("request failed")]
    assert len(answered) >= 2 and failed  # some replies before the kill, none after
    assert any("not sent" in (j.problem or "") for j in failed)  # gave up on the dead server
    assert all(j.score is None for j in failed)
