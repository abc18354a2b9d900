"""Inspect AI evaluation logs: ``inspect eval`` writes one ``LOG.eval`` file (a zip) per task and model.

Read through Inspect's own reader (`inspect_ai.log.read_eval_log_samples`, attachments resolved), one
rollout per sample and epoch:

- **prompt**: what the model saw before its first reply: the one user message's text, or, for a chat
  (a system message, several turns, a solver's template), the messages as a JSON list of
  ``{"role", "content"}``;
- **completion**: the model's reply, its reasoning first (``<think>...</think>``, unless the provider
  redacted it) so a transcript monitor sees the chain of thought; an agent transcript (several
  assistant and tool messages) as ``role: text`` lines;
- **reward**: the first scorer's value (Inspect lists the scorers in the task's order): ``C``/``I``/
  ``P``/``N`` as Inspect's `value_to_float` reads them (1, 0, 0.5, 0), true/false, numbers. A value
  that is none of these (free text, a dict of several values) is *unscored* (NaN), never read as 0;
  every scalar scorer is kept in ``rewards``. **correct** when the first score is ``C``/``I`` or a bool;
- **split**, **condition**, **answer**, **step**, **correct** from the sample's metadata when it holds
  them (the target when it does not give the answer); other metadata keys are kept as extra columns;
- **step** 0 unless the metadata gives one (an eval is one checkpoint); the epochs of one sample share
  its ``prompt_id`` (the sample id), so they form one group, as a GRPO group of one prompt does;
- **run**: ``task/run_id`` of the eval (several logs of one ``inspect eval`` call with several models
  share a run id: the model name is added when the logs of a folder would clash).

**A log that grew** (an eval still running when it was first ingested, or re-run with more samples
into the same log): every sample is keyed by the log's eval id, its sample id and its epoch (the
``inspect_eval_id``, ``inspect_sample_id`` and ``inspect_epoch`` columns); re-ingesting a changed log
into the same store adds only the samples whose key the store does not hold yet. A sample already
stored is not updated (a store is append-only); rows stored before the eval id was recorded carry no
key and are not matched.

A sample that ended in an error is kept, unscored, with a note. Limits as for the other formats
(`rlaudit.ingest.limits`): each zip member is at most `MAX_RECORD_BYTES` uncompressed (read before
Inspect inflates anything) and nested at most `MAX_DEPTH` deep. Only ``.eval`` logs are read; an old
``.json`` log converts with ``inspect log convert --to eval``.
"""

from __future__ import annotations

import json
import math
import zipfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rlaudit.ingest._common import Pending, append_all
from rlaudit.ingest.jsonl import FALLBACK_ROWS, _table
from rlaudit.ingest.limits import MAX_DEPTH, MAX_RECORD_BYTES, depth_bound, exact_depth
from rlaudit.records import FIELDS, RecordError, RolloutStore, normalize

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog, EvalSample

    from rlaudit.ingest import IngestResult

SUFFIX = ".eval"
INSTALL_HINT = "reading Inspect AI logs needs inspect-ai: pip install 'rlaudit[inspect]'"

# Record fields a sample's metadata may set, and the Python types each accepts.
_FROM_METADATA: dict[str, tuple[type, ...]] = {
    "split": (str,),
    "condition": (str,),
    "answer": (str,),
    "step": (int,),
    "correct": (bool,),
}
# Columns rlaudit fills itself: a metadata key of one of these names is kept as ``meta_<key>``.
_OWN = {
    *FIELDS, "extra", "source", "row", "inspect_epoch", "inspect_sample_id", "inspect_model", "inspect_eval_id",
}  # fmt: skip


def ingest_inspect(path: Path, store: RolloutStore, *, run: str | None, result: IngestResult) -> None:
    """Ingest one ``.eval`` log or a folder of them (each log its own run); all or nothing."""
    try:
        import inspect_ai.log  # noqa: F401  (the optional dependency: fail early, with the fix)
    except ImportError:
        raise RecordError(f"{path}: {INSTALL_HINT}") from None
    if path.is_dir():
        files = sorted(path.glob(f"*{SUFFIX}"))
        if not files:
            raise RecordError(f"{path}: no Inspect logs (*{SUFFIX}) in this folder")
    else:
        files = [path]
    headers = [(f, _header(f)) for f in files]
    names = _run_names([h for _, h in headers]) if run is None else [run] * len(headers)
    pending = []
    for (f, header), name in zip(headers, names, strict=True):
        if store.plan(f) is None:
            result.files_skipped += 1
            continue
        if header.status == "started":
            result.notes.append(f"{f.name}: the eval was still running; its finished samples are read")
        stored = _stored_keys(store, header.eval.eval_id)
        produce = partial(
            _read, f, run=name, model=header.eval.model, eval_id=header.eval.eval_id, stored=stored,
            notes=result.notes,
        )  # fmt: skip
        pending.append(Pending(f, "inspect", produce, n_bytes=f.stat().st_size))
    append_all(store, pending, result)


def _header(f: Path) -> EvalLog:
    """The log's header (task, run id, model, status), after the zip's limits are checked."""
    from inspect_ai.log import read_eval_log

    if f.suffix != SUFFIX:
        raise RecordError(
            f"{f}: not an Inspect .eval log (a .json log converts: inspect log convert --to eval)"
        )
    _check_zip(f)
    try:
        return read_eval_log(f, header_only=True, format="eval")
    except Exception as e:  # Inspect's reader raises anything from KeyError to pydantic's errors
        raise RecordError(f"{f}: not a readable Inspect log header ({_reason(e)})") from None


def _check_zip(f: Path) -> None:
    """The limits, on the zip's own table of contents and raw members, before Inspect parses them."""
    try:
        with zipfile.ZipFile(f) as z:
            members = z.infolist()
            for m in members:
                if m.file_size > MAX_RECORD_BYTES:
                    raise RecordError(
                        f"{f}: member {m.filename!r} inflates to {m.file_size} bytes, over the limit of "
                        f"{MAX_RECORD_BYTES}"
                    )
            for m in members:
                if m.filename.endswith(".json"):
                    data = z.read(m)
                    if (
                        depth_bound(data) > MAX_DEPTH
                        and exact_depth(data.decode("utf-8", "replace")) > MAX_DEPTH
                    ):
                        raise RecordError(
                            f"{f}: member {m.filename!r} is nested more than {MAX_DEPTH} levels deep (the limit)"
                        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as e:
        raise RecordError(f"{f}: not an Inspect .eval log (not a readable zip: {e})") from None


def _run_names(headers: list[EvalLog]) -> list[str]:
    """``task/run_id`` per log; ``task/model/run_id`` where two logs would share a name."""
    base = [f"{h.eval.task}/{h.eval.run_id}" for h in headers]
    return [
        f"{h.eval.task}/{h.eval.model}/{h.eval.run_id}" if base.count(b) > 1 else b
        for h, b in zip(headers, base, strict=True)
    ]


def _stored_keys(store: RolloutStore, eval_id: str) -> set[tuple[str, int]]:
    """(sample id, epoch) of the rows of eval `eval_id` the store holds already (bound parameter: the
    id comes from the log, untrusted)."""
    if store.is_empty():
        return set()
    con = store.connect()
    try:
        rows = con.execute(
            "SELECT DISTINCT json_extract_string(extra, '$.inspect_sample_id'), "
            "CAST(json_extract(extra, '$.inspect_epoch') AS BIGINT) FROM rollouts "
            "WHERE json_extract_string(extra, '$.inspect_eval_id') = ?",
            [eval_id],
        ).fetchall()
    finally:
        con.close()
    return {(str(sid), int(epoch)) for sid, epoch in rows if sid is not None and epoch is not None}


def _read(
    f: Path, *, run: str, model: str, eval_id: str, stored: set[tuple[str, int]], notes: list[str]
) -> list[pa.Table]:
    """The log's samples not in `stored` as normalized tables; a RecordError naming the file, sample and
    field."""
    from inspect_ai.log import read_eval_log_samples

    rows: list[dict[str, Any]] = []
    errored = unscored = skipped = 0
    try:
        for sample in read_eval_log_samples(f, all_samples_required=False, resolve_attachments=True):
            if (str(sample.id), sample.epoch) in stored:
                skipped += 1
                continue
            row = _record(sample, f, model=model, notes=notes)
            row["inspect_eval_id"] = eval_id
            errored += sample.error is not None
            unscored += math.isnan(row["reward"])
            rows.append(row)
    except RecordError:
        raise
    except Exception as e:
        raise RecordError(
            f"{f}: sample {len(rows) + 1}: not a readable Inspect sample ({_reason(e)})"
        ) from None
    if skipped:
        notes.append(f"{f.name}: {skipped} sample(s) of this eval already stored; {len(rows)} new")
    if not rows:
        if skipped:
            return []
        raise RecordError(f"{f}: no samples (the eval logged none)")
    if errored:
        notes.append(f"{f.name}: {errored} sample(s) ended in an error; kept unscored")
    if unscored > errored:
        notes.append(f"{f.name}: {unscored - errored} sample(s) without a numeric first score; kept unscored")
    return [
        # Row numbers go on after the samples stored before, so (source, row) stays unique.
        normalize(_table(rows[i : i + FALLBACK_ROWS]), source=str(f), first_row=skipped + i + 1, run=run)
        for i in range(0, len(rows), FALLBACK_ROWS)
    ]


def _record(sample: EvalSample, f: Path, *, model: str, notes: list[str]) -> dict[str, Any]:
    where = f"{f}: sample {sample.id!r} epoch {sample.epoch}"
    prompt, completion = _transcript(sample)
    scores = sample.scores or {}
    values = {name: _score_value(s.value) for name, s in scores.items()}
    first = next(iter(scores.values()), None)
    reward = math.nan if sample.error is not None or first is None else values[next(iter(scores))]
    record: dict[str, Any] = {
        "step": 0,
        "prompt": prompt,
        "completion": completion,
        "reward": reward,
        "prompt_id": str(sample.id),
        "rewards": {k: v for k, v in values.items() if not math.isnan(v)} or None,
        "answer": _target(sample.target),
        "inspect_epoch": sample.epoch,
        "inspect_sample_id": str(sample.id),
        "inspect_model": model,
    }
    if (
        first is not None
        and sample.error is None
        and (first.value in ("C", "I") or isinstance(first.value, bool))
    ):
        record["correct"] = first.value in ("C", True)
    if sample.output is not None and sample.output.usage is not None:
        record["n_tokens"] = sample.output.usage.output_tokens
    for key, value in (sample.metadata or {}).items():
        if key in _FROM_METADATA:
            record[key] = _metadata_field(key, value, where)
        elif key in _OWN:
            record[f"meta_{key}"] = value
        else:
            record[key] = value
    return record


def _metadata_field(key: str, value: Any, where: str) -> Any:
    """A record field from the sample's metadata, type-checked (a wrong type is bad input)."""
    if value is None:
        return None
    kinds = _FROM_METADATA[key]
    if key == "step" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if key == "answer" and not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
        want = {"str": "a string", "int": "an integer", "bool": "true/false"}[kinds[0].__name__]
        raise RecordError(f"{where}: field 'metadata.{key}' must be {want}, got {json.dumps(value)[:40]}")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise RecordError(f"{where}: field 'metadata.step' is out of the 64-bit integer range")
    return value


def _transcript(sample: EvalSample) -> tuple[str, str]:
    """(prompt, completion): the messages before the model's first reply, and from it on."""
    messages = sample.messages
    first = next((i for i, m in enumerate(messages) if m.role == "assistant"), len(messages))
    before, after = messages[:first], messages[first:]
    if len(before) == 1 and before[0].role == "user":
        prompt = before[0].text
    elif before:
        prompt = json.dumps([{"role": m.role, "content": m.text} for m in before], ensure_ascii=False)
    else:  # no messages logged (an early error): the sample's input as given
        prompt = (
            sample.input
            if isinstance(sample.input, str)
            else json.dumps([{"role": m.role, "content": m.text} for m in sample.input], ensure_ascii=False)
        )
    if not after:
        completion = sample.output.completion if sample.output is not None else ""
    elif len(after) == 1:
        completion = _reply(after[0])
    else:
        completion = "\n".join(f"{m.role}: {_reply(m)}" for m in after)
    return prompt, completion


def _reply(message: Any) -> str:
    """A message's text, an assistant's reasoning first (``<think>...</think>``) unless redacted."""
    from inspect_ai.model import ContentReasoning

    if message.role != "assistant" or isinstance(message.content, str):
        return str(message.text)
    thoughts = [
        c.reasoning
        for c in message.content
        if isinstance(c, ContentReasoning) and not c.redacted and c.reasoning
    ]
    return "".join(f"<think>{t}</think>" for t in thoughts) + message.text


def _score_value(value: Any) -> float:
    """A score as a reward: Inspect's C/I/P/N, bools and numbers; anything else NaN (unscored)."""
    from inspect_ai.scorer import value_to_float

    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        v = float(value)
        return v if math.isfinite(v) else math.nan
    if isinstance(value, str):
        if value in ("C", "I", "P", "N"):
            return value_to_float()(value)
        try:
            v = float(value)
        except ValueError:
            return math.nan  # free text: Inspect's reader would call it 0, which it is not
        return v if math.isfinite(v) else math.nan
    return math.nan  # a dict or list of several values: no one reward


def _target(target: str | list[str]) -> str | None:
    if isinstance(target, str):
        return target or None
    if len(target) == 1:
        return target[0]
    return json.dumps(target, ensure_ascii=False) if target else None


def _reason(e: Exception) -> str:
    """The first line of an exception, short (pydantic's errors run to many lines)."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160]}" if text else type(e).__name__
