"""`rlaudit.ingest.limits`: the nesting bound never undercounts, and the exact scan skips strings."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from rlaudit.ingest.limits import depth_bound, exact_depth, opens_per_line


def _plain_bound(data: bytes) -> int:
    level = low = deepest = 0
    for ch in data:
        level += 1 if ch in b"[{" else -1 if ch in b"]}" else 0
        low = min(low, level)
        deepest = max(deepest, level - low)
    return deepest


@settings(max_examples=200, derandomize=True)
@given(
    st.binary(max_size=80) | st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b"a", b"\n"])).map(b"".join)
)
def test_depth_bound_without_strings_is_the_plain_scan(data: bytes) -> None:
    data = data.replace(b'"', b"")
    assert depth_bound(data) == _plain_bound(data)


JSON = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=15,
)


def _depth(v: object) -> int:
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    return 0


@settings(max_examples=200, derandomize=True)
@given(JSON)
def test_exact_depth_ignores_brackets_in_strings_and_bound_covers_it(value: object) -> None:
    text = json.dumps(value)
    assert exact_depth(text) == _depth(value)
    assert depth_bound(text.encode()) >= exact_depth(text)
    assert opens_per_line(text.encode()) >= exact_depth(text)


def test_closing_brackets_in_a_string_do_not_hide_nesting() -> None:
    """The hole a plain bracket count has: `"]]]..."` before a deep array would lower the count."""
    line = '{"a": "' + "]" * 500 + '", "b": ' + "[" * 200 + "]" * 200 + "}"
    assert exact_depth(line) == 201
    assert depth_bound(line.encode()) >= 201
    escaped = r'{"a": "\\\"]]]]", "b": [[[]]]}'  # an escaped quote does not end the string
    assert depth_bound(escaped.encode()) >= exact_depth(escaped) == 4


@settings(max_examples=50, derandomize=True)
@given(st.lists(JSON, min_size=1, max_size=4))
def test_opens_per_line_bounds_every_line_of_a_block(values: list[object]) -> None:
    """The cheap pre-check the JSONL fast path runs on each block: never under the deepest line."""
    lines = [json.dumps(v) for v in values]
    block = "\n".join(lines).encode()
    deepest = max(exact_depth(line) for line in lines)
    assert opens_per_line(block) >= deepest
    assert opens_per_line(block) == max(line.count("[") + line.count("{") for line in lines)
