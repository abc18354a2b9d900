"""Inspect AI ``.eval`` logs as a monitor source, on logs written by a real ``inspect eval`` run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("inspect_ai")
pytest.importorskip("transformers")

from inspect_ai.log import EvalError, EvalLog, read_eval_log, write_eval_log

from rlaudit.ingest import detect_format, ingest
from rlaudit.ingest import inspect as inspect_ingest
from rlaudit.records import RecordError, RolloutStore
from tests.ingest._inspect_log import copy_log, run_inspect_eval, save_tiny

from ._helpers import assert_record_error, assert_store_empty, stored_rows, unscored

N_PROBLEMS, EPOCHS = 3, 2
RLAUDIT = str(Path(sys.executable).with_name("rlaudit"))


@pytest.fixture(scope="module")
def eval_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real log: 3 problems x 4 (split, cue) cells x 2 epochs on the embedded tiny model."""
    root = tmp_path_factory.mktemp("inspect")
    model = save_tiny(root / "tiny")
    return run_inspect_eval(model, root / "logs", "-T", f"n_problems={N_PROBLEMS}", "--epochs", str(EPOCHS))


def edited(log: Path, out: Path, change: Any) -> Path:
    """`log` read and written back by Inspect's own code, with `change(EvalLog)` applied between."""
    doc: EvalLog = read_eval_log(log)
    change(doc)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_eval_log(doc, out)
    return out


def monitor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RLAUDIT, "monitor", *args, "--json"], capture_output=True, text=True, check=False)


def test_monitor_reads_the_log_as_one_run_named_after_the_eval(eval_log: Path) -> None:
    done = monitor(str(eval_log))
    assert done.returncode in (0, 1), done.stderr
    doc = json.loads(done.stdout)  # exactly one JSON object on stdout
    header = read_eval_log(eval_log, header_only=True)
    assert doc["sections"]["signals"]["runs"] == [f"{header.eval.task}/{header.eval.run_id}"]


def test_every_sample_and_epoch_is_a_rollout_with_its_score_and_metadata(
    eval_log: Path, store: RolloutStore
) -> None:
    assert detect_format(eval_log) == "inspect"
    result = ingest(eval_log, store)
    assert (result.format, result.rows_added) == ("inspect", N_PROBLEMS * 4 * EPOCHS)
    log = read_eval_log(eval_log)
    assert log.samples is not None
    expected = {(str(s.id), s.epoch): s for s in log.samples}
    rows = stored_rows(store)
    groups: dict[str, set[str]] = {}
    for r in rows:
        extra = json.loads(r["extra"])
        s = expected[r["prompt_id"], extra["inspect_epoch"]]
        assert r["prompt"] == s.input  # the rlaudit task's prompt, under its cue
        assert r["completion"] == s.output.completion
        assert s.scores is not None
        value = s.scores["rlaudit_check"].value
        assert (r["reward"], r["correct"]) == ((1.0, True) if value == "C" else (0.0, False))
        assert (r["split"], r["condition"]) == (s.metadata["split"], s.metadata["condition"])
        assert r["answer"] == s.target
        assert r["step"] == 0
        assert r["n_tokens"] == s.output.usage.output_tokens  # type: ignore[union-attr]
        assert extra["inspect_model"] == "hf/local"
        groups.setdefault(r["group"], set()).add(r["prompt_id"])
    # The epochs of one sample are one group (one prompt sampled again), different samples are not.
    assert all(len(ids) == 1 for ids in groups.values())
    assert len(groups) == N_PROBLEMS * 4
    assert {r["split"] for r in rows} == {"target", "control"}


def test_the_same_log_twice_is_stored_once(eval_log: Path, store: RolloutStore) -> None:
    ingest(eval_log, store)
    again = ingest(eval_log, store)
    assert (again.rows_added, again.files_skipped) == (0, 1)


def test_a_log_that_grew_adds_only_its_new_samples(
    eval_log: Path, tmp_path: Path, store: RolloutStore
) -> None:
    """The log of a running eval, ingested, then the same file once the eval finished: each (eval id,
    sample id, epoch) is stored once, and the second ingest adds exactly the samples the first lacked."""
    full = read_eval_log(eval_log)
    assert full.samples is not None
    n, k = len(full.samples), len(full.samples) // 3
    log = tmp_path / "running.eval"

    def started(d: EvalLog) -> None:
        d.samples, d.status, d.results = (d.samples or [])[:k], "started", None

    edited(eval_log, log, started)
    first = ingest(log, store)
    assert first.rows_added == k
    edited(eval_log, log, lambda d: None)  # the finished eval, written over the running one
    second = ingest(log, store)
    assert second.rows_added == n - k
    rows = stored_rows(store)
    keys = [
        (json.loads(r["extra"])["inspect_sample_id"], json.loads(r["extra"])["inspect_epoch"]) for r in rows
    ]
    assert len(keys) == len(set(keys)) == n
    assert {json.loads(r["extra"])["inspect_eval_id"] for r in rows} == {full.eval.eval_id}
    assert len({(r["source"], r["row"]) for r in rows}) == n  # row numbers go on, never repeat
    # Nothing new: the finished log's samples are all stored, so a third ingest of changed bytes adds none.
    edited(eval_log, log, lambda d: setattr(d.eval, "run_id", d.eval.run_id))
    assert ingest(log, store).rows_added == 0


def test_another_eval_with_the_same_sample_ids_is_stored_in_full(
    eval_log: Path, tmp_path: Path, store: RolloutStore
) -> None:
    ingest(eval_log, store)
    other = edited(eval_log, tmp_path / "other.eval", lambda d: setattr(d.eval, "eval_id", "another-eval"))
    n = len(read_eval_log(eval_log).samples or [])
    assert ingest(other, store).rows_added == n


def test_a_folder_of_logs_is_one_run_per_log(eval_log: Path, tmp_path: Path, store: RolloutStore) -> None:
    folder = tmp_path / "logs"
    copy_log(eval_log, folder / "a.eval")
    edited(eval_log, folder / "b.eval", lambda d: setattr(d.eval, "run_id", "other-run"))
    assert detect_format(folder) == "inspect"
    ingest(folder, store)
    header = read_eval_log(eval_log, header_only=True).eval
    assert header.task == "rlaudit/context_gap"  # the registry name: package/task
    assert {r["run"] for r in stored_rows(store)} == {
        f"{header.task}/{header.run_id}",
        f"{header.task}/other-run",
    }


def test_an_unscored_or_failed_sample_is_kept_unscored_never_zero(
    eval_log: Path, tmp_path: Path, store: RolloutStore
) -> None:
    def change(doc: EvalLog) -> None:
        assert doc.samples is not None
        doc.samples[0].scores["rlaudit_check"].value = "no idea"  # type: ignore[index]
        doc.samples[1].error = EvalError(message="boom", traceback="", traceback_ansi="")

    log = edited(eval_log, tmp_path / "odd.eval", change)
    result = ingest(log, store)
    rows = {(r["prompt_id"], json.loads(r["extra"])["inspect_epoch"]): r for r in stored_rows(store)}
    doc = read_eval_log(log)
    assert doc.samples is not None
    for s in doc.samples[:2]:
        row = rows[str(s.id), s.epoch]
        assert unscored(row["reward"]) and row["correct"] is None
    assert any("ended in an error" in n for n in result.notes)
    assert any("without a numeric first score" in n for n in result.notes)


def with_sample_metadata(eval_log: Path, out: Path, **value: Any) -> Path:
    def change(doc: EvalLog) -> None:
        assert doc.samples is not None
        doc.samples[2].metadata.update(value)

    return edited(eval_log, out, change)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"split": 3}, "metadata.split"),
        ({"step": "ten"}, "metadata.step"),
        ({"correct": "yes"}, "metadata.correct"),
    ],
)
def test_a_metadata_field_of_the_wrong_type_names_file_sample_and_field(
    eval_log: Path, tmp_path: Path, store: RolloutStore, value: dict[str, Any], field: str
) -> None:
    log = with_sample_metadata(eval_log, tmp_path / "bad.eval", **value)
    with pytest.raises(RecordError) as exc:
        ingest(log, store)
    assert_record_error(exc, log, field, "sample")
    assert_store_empty(store)


def test_bad_input_exits_2_with_one_line_and_stores_nothing(eval_log: Path, tmp_path: Path) -> None:
    log = with_sample_metadata(eval_log, tmp_path / "bad.eval", split=["target"])
    store = tmp_path / "store"
    RolloutStore(store)
    done = monitor(str(log), "--store", str(store))
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    line = done.stderr.strip()
    assert "\n" not in line and str(log) in line and "metadata.split" in line
    assert_store_empty(RolloutStore(store))


def test_a_file_that_is_no_zip_is_bad_input(tmp_path: Path, store: RolloutStore) -> None:
    log = tmp_path / "broken.eval"
    log.write_bytes(b"PK\x03\x04 this was cut short")
    with pytest.raises(RecordError) as exc:
        ingest(log, store)
    assert_record_error(exc, log, "not a readable zip")
    assert_store_empty(store)


def test_a_truncated_log_is_bad_input(eval_log: Path, tmp_path: Path, store: RolloutStore) -> None:
    log = tmp_path / "cut.eval"
    log.write_bytes(eval_log.read_bytes()[: eval_log.stat().st_size // 2])
    with pytest.raises(RecordError) as exc:
        ingest(log, store)
    assert_record_error(exc, log)
    assert_store_empty(store)


def test_the_limits_apply_to_each_zip_member_before_inspect_reads_it(
    eval_log: Path, store: RolloutStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inspect_ingest, "MAX_RECORD_BYTES", 1000)
    with pytest.raises(RecordError) as exc:
        ingest(eval_log, store)
    assert_record_error(exc, eval_log, "inflates to", "over the limit of 1000")
    monkeypatch.undo()
    monkeypatch.setattr(inspect_ingest, "MAX_DEPTH", 2)
    with pytest.raises(RecordError) as exc:
        ingest(eval_log, store)
    assert_record_error(exc, eval_log, "nested more than 2 levels")
    assert_store_empty(store)


def test_a_folder_without_eval_logs_is_bad_input(tmp_path: Path, store: RolloutStore) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(RecordError) as exc:
        ingest(tmp_path, store, fmt="inspect")
    assert_record_error(exc, tmp_path, "no Inspect logs")


def test_without_inspect_ai_installed_the_error_says_how_to_install_it(
    eval_log: Path, store: RolloutStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "inspect_ai.log", None)  # what `import inspect_ai.log` meets uninstalled
    with pytest.raises(RecordError) as exc:
        ingest(eval_log, store)
    assert_record_error(exc, eval_log, "pip install 'rlaudit[inspect]'")
