"""TRL's chat columns as text: a prompt or completion logged as a list of messages
(`[{"role": ..., "content": ...}]`) becomes one string, so one prompt is one string across steps.
Used by the TRL ingest and by the live callback's capture."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa


def render_chat_column(column: pa.ChunkedArray, *, as_completion: bool) -> pa.ChunkedArray | pa.Array:
    """Strings stay; chat message lists become compact JSON (a lone message's content, for completions)."""
    typ = column.type
    if not (pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_struct(typ)):
        return column  # strings; any other type is left for `normalize` to reject
    out = []
    for value in column.to_pylist():
        if value is None or isinstance(value, str):
            out.append(value)
            continue
        messages = [_message(m) for m in value] if isinstance(value, list) else value
        if (
            as_completion
            and isinstance(messages, list)
            and len(messages) == 1
            and isinstance(messages[0], dict)
            and isinstance(messages[0].get("content"), str)
        ):
            out.append(messages[0]["content"])
        else:
            out.append(json.dumps(messages, ensure_ascii=False, separators=(",", ":"), default=str))
    return pa.array(out, type=pa.string())


def _message(m: Any) -> Any:
    """A chat message with a fixed key order (role, content, then the rest) and no null keys: Parquet
    structs give every message every key any message had, so this keeps one prompt one string."""
    if not isinstance(m, dict):
        return m
    order = ["role", "content", *sorted(k for k in m if k not in ("role", "content"))]
    return {k: m[k] for k in order if m.get(k) is not None}
