"""The one JSON sanitiser: every value rlaudit writes as JSON goes through `json_safe`.

Detectors, audits and trainers hand over numpy scalars and arrays, DuckDB decimals, tuples and NaN;
JSON has none of them. `json.dumps(json_safe(x), allow_nan=False)` always succeeds.

Long series (a monitor's per-step signals: millions of values on a long run) are converted in bulk
instead, by `column_values`, into a `SafeList` that `json_safe` copies without visiting each value.
"""

from __future__ import annotations

import math
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any


class SafeList(list[Any]):
    """A list that already holds only what `json_safe` would make of its values (None, bool, int,
    finite float, str), made in bulk by `column_values`. `json_safe` returns a plain copy of it and
    does not walk it: a Python call per value was most of the cost of `--json` on long runs."""


def json_safe(x: Any) -> Any:
    """NaN/inf -> None, numpy -> Python, tuples -> lists, keys -> str, Decimal -> int/float, paths -> str.

    Anything else a detector put in its evidence becomes its text form: a report never crashes on it.
    """
    if type(x) is SafeList:
        return list(x)
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    if isinstance(x, Enum):  # before int: an IntEnum (Severity) is written by name
        return str(x)
    if isinstance(x, bool | int | str) or x is None:
        return x
    if isinstance(x, float):
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(x, Decimal):  # DuckDB sums of integers arrive as decimal128
        return int(x) if x.is_finite() and x == x.to_integral_value() else json_safe(float(x))
    if isinstance(x, PurePath):
        return str(x)
    if hasattr(x, "tolist"):  # numpy scalar or array
        return json_safe(x.tolist())
    return str(x)


def column_values(column: Any) -> SafeList:
    """The values of a pyarrow Array or ChunkedArray as `json_safe` would give them (NaN, inf and null
    -> None), converted by numpy and Arrow in bulk: Python touches only the non-finite floats."""
    import numpy as np
    import pyarrow as pa

    kind = column.type
    if pa.types.is_floating(kind):
        values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)  # null -> NaN
        out = values.tolist()
        for i in np.flatnonzero(~np.isfinite(values)).tolist():
            out[i] = None
        return SafeList(out)
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_string(kind):
        return SafeList(column.to_pylist())
    if pa.types.is_large_string(kind) or pa.types.is_null(kind):
        return SafeList(column.to_pylist())
    return SafeList(json_safe(column.to_pylist()))  # decimals, nested types: value by value
