"""The one result type: verdict from findings, the JSON and its schema, provenance, the sanitiser."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from rlaudit.findings import Finding, Severity
from rlaudit.jsonsafe import json_safe
from rlaudit.judgement import (
    SCHEMA_VERSION,
    Judgement,
    Provenance,
    SchemaError,
    describe_input,
    describe_model,
    load,
    validate,
)

HIGH = Finding(
    "exploration_starvation",
    Severity.HIGH,
    0.9,
    "target is starved.",
    steps=(3, 9),
    split="target",
    signal="frac_all_fail",
    evidence={"frac": np.float64(0.75), "steps": np.arange(3), "missing": math.nan},
)
LOW = Finding("length_drift", Severity.LOW, 0.2, "completions grow.", steps=(1, 9), signal="length_mean")
INFO = Finding("coverage", Severity.INFO, math.nan, "metrics only.")


def _judgement(findings: list[Finding], kind: str = "monitor") -> Judgement:
    return Judgement.judged(kind, findings, {"notes": ["a note"]}, Provenance.begin().finish())


def test_verdict_is_computed_from_findings_and_findings_are_ordered():
    j = _judgement([INFO, LOW, HIGH])
    assert j.label == "hacking-likely" and j.exit_code == 1
    doc = j.to_json()
    assert [f["id"] for f in doc["findings"]] == ["F1", "F2", "F3"]
    assert [f["detector"] for f in doc["findings"]] == ["exploration_starvation", "length_drift", "coverage"]
    assert doc["findings"][0]["signal"] == "frac_all_fail"
    assert _judgement([LOW]).label == "clean" and _judgement([LOW]).exit_code == 0


def test_json_is_strict_and_validates():
    doc = _judgement([HIGH, LOW, INFO]).to_json()
    text = json.dumps(doc, allow_nan=False)  # NaN became null, numpy became lists
    assert json.loads(text)["findings"][0]["evidence"] == {"frac": 0.75, "steps": [0, 1, 2], "missing": None}
    validate(doc)
    assert doc["schema_version"] == SCHEMA_VERSION


def test_headline_says_what_and_what_next():
    j = _judgement([HIGH, LOW])
    assert j.headline.startswith("Hacking-likely: exploration_starvation (target, steps 3–9)")
    assert "Next:" in j.headline and "rlaudit audit" in j.headline
    clean = _judgement([LOW])
    assert (
        "No medium- or high-severity evidence" in clean.headline
        and "1 low-severity finding" in clean.headline
    )
    measured = Judgement("eval", None, [], {}, Provenance.begin().finish())
    assert measured.to_json()["verdict"] is None and measured.exit_code == 0
    validate(measured.to_json())


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("verdict",), "probably-fine", "verdict"),
        (("schema_version",), 1, "schema_version"),
        (("findings", 0, "severity"), "catastrophic", "findings/0/severity"),
        (("provenance", "started"), 5, "provenance/started"),
    ],
)
def test_schema_rejects_what_is_not_a_judgement(path, value, message):
    doc = _judgement([HIGH]).to_json()
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(SchemaError, match=message):
        validate(doc)


def test_unknown_top_level_key_and_unknown_kind_are_rejected():
    doc = _judgement([HIGH]).to_json()
    doc["signals"] = {}
    with pytest.raises(SchemaError, match="Additional properties"):
        validate(doc)
    with pytest.raises(ValueError, match="unknown judgement kind"):
        Judgement("train", None, [], {}, Provenance.begin())


def test_write_and_load_round_trip(tmp_path: Path):
    j = _judgement([HIGH])
    j.write(tmp_path / "result.json")
    assert load(tmp_path / "result.json") == j.to_json()
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SchemaError, match=r"bad\.json: not JSON"):
        load(tmp_path / "bad.json")
    with pytest.raises(SchemaError, match="no such file"):
        load(tmp_path / "missing.json")


def test_provenance_records_versions_times_and_command():
    from rlaudit.judgement import command_line

    token = command_line.set(["rlaudit", "monitor", "--json"])
    try:
        p = Provenance.begin(configs={"x": {"a": 1}}, seeds={"seed": 3}).finish()
    finally:
        command_line.reset(token)
    d = p.to_json()
    assert d["command"] == ["rlaudit", "monitor", "--json"] and d["seeds"] == {"seed": 3}
    assert d["rlaudit_version"] and d["python"].startswith("3.") and "numpy" in d["packages"]
    assert d["started"] <= d["finished"] and d["seconds"] >= 0


def test_describe_input_hashes_files_and_folders(tmp_path: Path):
    folder = tmp_path / "run"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.jsonl").write_text("one\n")
    (folder / "sub" / "b.jsonl").write_text("two\n")
    first = describe_input(folder)
    assert first["type"] == "dir" and first["files"] == 2 and first["bytes"] == 8
    assert describe_input(folder) == first  # stable
    (folder / "sub" / "b.jsonl").write_text("TWO\n")  # same size, other content
    assert describe_input(folder)["sha256"] != first["sha256"]
    one = describe_input(folder / "a.jsonl")
    assert one["type"] == "file" and len(one["sha256"]) == 64
    assert describe_input(tmp_path / "nope")["type"] == "missing"


def test_describe_model_hashes_a_checkpoint_and_counts_parameters(tmp_path: Path, tiny_model_builder):
    model, tokenizer = tiny_model_builder()
    model.save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    info = describe_model(str(tmp_path / "ckpt"), model)
    assert info["sha256"] == describe_input(tmp_path / "ckpt")["sha256"]
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert describe_model("not-a-path")["sha256"] is None


def test_json_safe_handles_what_detectors_hand_over():
    value = {
        1: (np.int64(2), np.float32(0.5)),
        "d": Decimal("3"),
        "f": Decimal("0.25"),
        "inf": math.inf,
        "sev": Severity.HIGH,
        "p": Path("/x"),
        "o": object,
    }
    out = json_safe(value)
    assert out["1"] == [2, 0.5] and out["d"] == 3 and out["f"] == 0.25 and out["inf"] is None
    assert out["sev"] == "high" and out["p"] == "/x" and isinstance(out["o"], str)
    json.dumps(out, allow_nan=False)
