from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from rlaudit.records import RolloutStore


@pytest.fixture
def store(tmp_path: Path) -> RolloutStore:
    return RolloutStore(tmp_path / "store")


class _SqlSpy:
    """A DuckDB connection that records every SQL text it is given (`sql`, `execute`), then runs it."""

    def __init__(self, con: duckdb.DuckDBPyConnection, texts: list[str]):
        self._con, self._texts = con, texts

    def sql(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._texts.append(query)
        return self._con.sql(query, *args, **kwargs)

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._texts.append(query)
        return self._con.execute(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # register, read_parquet, close, ...: passed through
        return getattr(self._con, name)


@pytest.fixture
def sql_texts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL text handed to a DuckDB connection that rlaudit opens during the test."""
    texts: list[str] = []
    real = duckdb.connect
    monkeypatch.setattr(duckdb, "connect", lambda *a, **k: _SqlSpy(real(*a, **k), texts))
    return texts
