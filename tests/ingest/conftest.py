from __future__ import annotations

from pathlib import Path

import pytest

from rlaudit.records import RolloutStore


@pytest.fixture
def store(tmp_path: Path) -> RolloutStore:
    return RolloutStore(tmp_path / "store")
