"""`column_values` gives what `json_safe` gives value by value, in bulk; `SafeList` is not walked."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pyarrow as pa
import pytest

from rlaudit.jsonsafe import SafeList, column_values, json_safe

COLUMNS = [
    pa.array([1.5, math.nan, None, math.inf, -math.inf, -0.0, 1e300], pa.float64()),
    pa.array([0.25, None, math.nan], pa.float32()),
    pa.array([3, None, -(2**62)], pa.int64()),
    pa.array([True, None, False]),
    pa.array(["a", None, "é"], pa.string()),
    pa.array(["b", None], pa.large_string()),
    pa.array([Decimal("2"), Decimal("2.5"), None], pa.decimal128(5, 1)),
    pa.array([None, None], pa.null()),
    pa.array([], pa.float64()),
]


@pytest.mark.parametrize("column", COLUMNS, ids=lambda c: str(c.type))
def test_column_values_are_json_safe_of_the_values(column: pa.Array) -> None:
    for col in (column, pa.chunked_array([column[:1], column[1:]], column.type)):
        got = column_values(col)
        assert type(got) is SafeList
        want = json_safe(col.to_pylist())
        assert json.dumps(got, allow_nan=False) == json.dumps(want, allow_nan=False)
        assert [type(v) for v in got] == [type(v) for v in want]


def test_a_safe_list_is_copied_not_walked() -> None:
    sentinel = object()  # json_safe would turn it into text: a SafeList is trusted as it is
    safe = SafeList([1.0, None, sentinel])
    out = json_safe({"series": safe})["series"]
    assert type(out) is list and out == [1.0, None, sentinel] and out is not safe
    assert json_safe([math.nan, (1, 2)]) == [None, [1, 2]]  # plain lists are still walked
