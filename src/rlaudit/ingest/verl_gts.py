"""verl's `gts` when it arrives as a numpy array's text rather than a JSON value.

verl takes the ground truth from the dataset's ``reward_model.ground_truth``; a dataset whose ground truth
is a list comes back from parquet as a numpy array, and a dump written with ``default=str`` (or a
pipeline that stringified it before) holds the array's text: its ``str`` (``"['14' '3']"``, elements
separated by whitespace, rows by newlines) or its ``repr`` (``"array(['14', '3'], dtype='<U2')"``).
Read as-is that text is a string answer no completion can ever match.

`parse_array_text` turns such text back into a (nested) list with a small tokenizer: brackets, commas,
numbers, ``True``/``False``/``None``, ``nan``/``inf`` and quoted string literals. Nothing is evaluated:
a quoted literal is first matched whole by a regular expression (quotes, escapes and nothing else), and
only that literal goes to `ast.literal_eval`, which builds a constant and runs no code. A summarised
array (numpy's ``...``) cannot be recovered and is an error, as is anything the tokenizer does not know.
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from typing import Any

MAX_TEXT = 1_000_000
"""Longest array text read (characters); a ground truth is short, a longer one is a bad row."""
MAX_DEPTH = 32
"""Deepest nesting of brackets read (numpy's own limit on dimensions is 64; ground truths use 1 or 2)."""

_STR = r"""[bB]?(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")"""
# Unambiguous on purpose (`\d+(?:\.\d*)?`, not `\d+\.?\d*`): a run of digits splits one way only, so
# a 100,000-digit "number" fails in linear time instead of quadratic.
_NUM = r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)(?![\w.])"
_TOKEN = re.compile(
    rf"\s*(?:(?P<str>{_STR})|(?P<num>{_NUM})|(?P<word>True|False|None)(?!\w)"
    r"|(?P<punct>[\[\],])|(?P<ellipsis>\.\.\.))",
    re.DOTALL,
)
_REPR = re.compile(r"\s*array\((?P<body>.*?)(?:,\s*dtype=(?P<dtype>[^()]*|object))?\)\s*", re.DOTALL)
# A `str()` of a string array: `[` (or `[[`), then a quote, possibly a bytes prefix.
_STR_FORM = re.compile(r"\s*\[[\s\[]*[bB]?['\"]")
# A `str()` of a numeric or boolean array: elements separated by whitespace, no commas.
_ELEM = rf"(?:{_NUM}|True|False)"
_NUM_FORM = re.compile(rf"\s*\[[\s\[\]]*{_ELEM}(?:[\s\[\]]+{_ELEM})*[\s\[\]]*\]\s*")


class ArrayTextError(ValueError):
    """The text looks like a numpy array but cannot be read as one."""


def looks_like_array(text: str) -> bool:
    """True when `text` is numpy's ``repr`` (``array(...)``) or ``str`` of an array of strings or of
    numbers (``['14' '3']``, ``[14 3]``). A bracketed list with commas and no ``array(`` is left alone:
    that is a plain answer such as ``"[1, 2]"``."""
    if text.lstrip().startswith("array("):
        return True
    if _STR_FORM.match(text):
        return True
    return "," not in text and _NUM_FORM.fullmatch(text) is not None


def parse_array_text(text: str) -> list[Any]:
    """The nested list a numpy array's ``str`` or ``repr`` shows; `ArrayTextError` says why not."""
    if len(text) > MAX_TEXT:
        raise ArrayTextError(f"array text longer than {MAX_TEXT:,} characters")
    m = _REPR.fullmatch(text)
    body = m.group("body") if m else text
    tokens = _tokens(body)
    value, end = _value(tokens, 0, depth=0)
    if end != len(tokens):
        raise ArrayTextError(f"unexpected {tokens[end][1]!r} after the array")
    if not isinstance(value, list):
        raise ArrayTextError("not an array (no brackets)")
    return value


def _tokens(body: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos, end = 0, len(body.rstrip())
    while pos < end:
        m = _TOKEN.match(body, pos)
        if m is None or m.end() == pos:
            raise ArrayTextError(f"cannot read {body[pos : pos + 20].strip()!r}")
        kind = m.lastgroup
        assert kind is not None
        if kind == "ellipsis":
            raise ArrayTextError("a summarised array ('...'): its elements were not written")
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _value(tokens: list[tuple[str, str]], i: int, *, depth: int) -> tuple[Any, int]:
    if i >= len(tokens):
        raise ArrayTextError("unexpected end of the array")
    kind, text = tokens[i]
    if kind == "punct" and text == "[":
        if depth >= MAX_DEPTH:
            raise ArrayTextError(f"nested deeper than {MAX_DEPTH}")
        items: list[Any] = []
        i += 1
        while True:
            if i >= len(tokens):
                raise ArrayTextError("unclosed '['")
            if tokens[i] == ("punct", "]"):
                return items, i + 1
            if tokens[i] == ("punct", ",") and items:
                i += 1  # a repr separates with commas, a str with whitespace: both are read
                continue
            item, i = _value(tokens, i, depth=depth + 1)
            items.append(item)
    if kind == "str":
        # The regular expression matched exactly one quoted literal: literal_eval builds a str/bytes.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an unknown escape ('\\q') warns; it is kept as written
            try:
                value = ast.literal_eval(text)
            except (SyntaxError, ValueError) as e:
                raise ArrayTextError(f"bad string literal {text[:20]!r}") from e
        return (value.decode("utf-8", "replace") if isinstance(value, bytes) else value), i + 1
    if kind == "num":
        return _number(text), i + 1
    if kind == "word":
        return {"True": True, "False": False, "None": None}[text], i + 1
    raise ArrayTextError(f"unexpected {text!r}")


def _number(text: str) -> int | float | None:
    """An integer stays an integer; nan becomes None (JSON has no NaN); inf is refused."""
    try:
        if re.fullmatch(r"[-+]?\d+", text):
            return int(text)
        value = float(text)
    except ValueError as e:  # an integer past Python's digit limit
        raise ArrayTextError(f"unreadable number {text[:20]!r}") from e
    if math.isinf(value):
        raise ArrayTextError("an infinite element")
    return None if math.isnan(value) else value
