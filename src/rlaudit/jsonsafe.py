"""The one JSON sanitiser: every value rlaudit writes as JSON goes through `json_safe`.

Detectors, audits and trainers hand over numpy scalars and arrays, DuckDB decimals, tuples and NaN;
JSON has none of them. `json.dumps(json_safe(x), allow_nan=False)` always succeeds.
"""

from __future__ import annotations

import math
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any


def json_safe(x: Any) -> Any:
    """NaN/inf -> None, numpy -> Python, tuples -> lists, keys -> str, Decimal -> int/float, paths -> str.

    Anything else a detector put in its evidence becomes its text form: a report never crashes on it.
    """
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
