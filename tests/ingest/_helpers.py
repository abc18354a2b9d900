"""Helpers shared by the ingest tests."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from rlaudit.records import RecordError, RolloutStore, jsonable_row


def stored_rows(store: RolloutStore) -> list[dict[str, Any]]:
    """Every stored rollout as plain Python, in (source file, row) order."""
    con = store.connect()
    try:
        table = con.sql('SELECT * FROM rollouts ORDER BY source, "row"').to_arrow_table()
    finally:
        con.close()
    return [jsonable_row(r) for r in table.to_pylist()]


def assert_store_empty(store: RolloutStore) -> None:
    """Nothing stored, nothing recorded, nothing left in staging."""
    assert store.count() == 0
    assert store.sources() == []
    assert list((store.path / ".staging").iterdir()) == []
    assert not any(store.rollouts_dir.iterdir())


def assert_record_error(exc: pytest.ExceptionInfo[RecordError], path: Path, *parts: str) -> None:
    msg = str(exc.value)
    assert str(path) in msg, msg
    for part in parts:
        assert part in msg, msg
    assert "\n" not in msg


def write_lines(path: Path, objs: list[Any], *, trailing_newline: bool = True) -> Path:
    path.write_text("\n".join(json.dumps(o) for o in objs) + ("\n" if trailing_newline else ""))
    return path


def unscored(x: Any) -> bool:
    """Unscored as stored: null (the store keeps no NaN; see records.normalize)."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def isnan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)
