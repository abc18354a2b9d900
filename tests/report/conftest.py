from __future__ import annotations

import copy
from typing import Any

import pytest

from ._helpers import audit_doc, elicit_doc, eval_doc, monitor_doc, organism_doc


@pytest.fixture(scope="session")
def _monitor(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return monitor_doc(tmp_path_factory.mktemp("monitor"), n_steps=40, hostile=True)


@pytest.fixture
def monitor(_monitor: dict[str, Any]) -> dict[str, Any]:
    """A real 40-step monitor judgement with hostile names and completions (a fresh copy per test)."""
    return copy.deepcopy(_monitor)


@pytest.fixture(scope="session")
def docs(_monitor: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One judgement dict per kind (shared: tests must not change them)."""
    return {
        "monitor": _monitor,
        "audit": audit_doc(),
        "elicit": elicit_doc(_monitor),
        "eval": eval_doc(),
        "organism": organism_doc(),
        "show": {**_monitor, "kind": "show"},  # `rlaudit show STORE`: the monitor's sections
    }
