"""How numbers, lists and sizes read on the page and in the terminal (plain text; escaping is the
template's job, or rich's)."""

from __future__ import annotations

import math
from typing import Any

MAX_LIST_ITEMS = 8
"""Items of one list shown in an evidence value; the rest are counted."""
MAX_DICT_ITEMS = 8
MAX_TEXT_CHARS = 2000
"""Characters of one prompt or completion shown on the page (the JSON keeps what the verb kept)."""


def number(v: Any, *, key: str = "") -> str:
    """A number as a person reads it: p-values to 2 significant digits, other floats to 4, ints whole."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "n/a"
        if _is_p(key):
            return f"{v:.2g}"
        if v.is_integer() and abs(v) < 1e6:
            return str(int(v))
        return f"{v:.4g}"
    return str(v)


def _is_p(key: str) -> bool:
    k = key.lower()
    return k in ("p", "p_value", "pvalue") or k.startswith("p_") or k.endswith("_p") or "p_value" in k


def value(v: Any, *, key: str = "", depth: int = 0) -> str:
    """A short text of any JSON value: numbers formatted, lists cut to `MAX_LIST_ITEMS`, intervals
    (`ci`) as "lo to hi", mappings as "k: v · k: v"."""
    if isinstance(v, list):
        if key.lower().endswith("ci") and len(v) == 2 and all(isinstance(x, int | float | None) for x in v):
            return f"{number(v[0])} to {number(v[1])}"
        if depth > 1:
            return f"[{len(v)} items]"
        items = [value(x, key=key, depth=depth + 1) for x in v[:MAX_LIST_ITEMS]]
        more = f", … ({len(v)} items)" if len(v) > MAX_LIST_ITEMS else ""
        return "[" + ", ".join(items) + more + "]"
    if isinstance(v, dict):
        if depth > 1:
            return f"{{{len(v)} entries}}"
        items = [f"{k}: {value(x, key=str(k), depth=depth + 1)}" for k, x in list(v.items())[:MAX_DICT_ITEMS]]
        more = f" · … ({len(v)} entries)" if len(v) > MAX_DICT_ITEMS else ""
        return " · ".join(items) + more
    if isinstance(v, str):
        return v if len(v) <= 300 else v[:300] + "…"
    return number(v, key=key)


def evidence(ev: dict[str, Any]) -> list[tuple[str, str]]:
    """A finding's evidence as (key, readable value) rows."""
    return [(str(k), value(v, key=str(k))) for k, v in ev.items()]


def size(n: Any) -> str:
    """Bytes as "12.3 kB" (powers of 1000, as file managers show them)."""
    if not isinstance(n, int | float):
        return "–"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def short_hash(h: Any) -> str:
    return str(h)[:12] if h else "–"


def truncate(text: Any, limit: int = MAX_TEXT_CHARS) -> str:
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit} more characters in the JSON)"


def steps(s: Any) -> str:
    return f"{s[0]}–{s[1]}" if isinstance(s, list) and len(s) == 2 else "–"


def uncertainty(test: dict[str, Any]) -> str:
    """An audit test's interval and p-value in words."""
    parts = []
    ci = test.get("ci")
    if isinstance(ci, list) and len(ci) == 2:
        parts.append(f"95% CI {number(ci[0])} to {number(ci[1])}")
    if isinstance(test.get("p_value"), int | float):
        parts.append(f"p = {number(test['p_value'], key='p_value')}")
    return ", ".join(parts) or "–"
