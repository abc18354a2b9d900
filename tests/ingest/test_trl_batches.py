"""A TRL folder of per-step files is stored in batches (issue 13): the rows and the ledger are those of
storing each file on its own, with one DuckDB pass, one store directory and one ledger update per batch."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from rlaudit.ingest import _common, ingest, trl
from rlaudit.ingest.trl import _convert
from rlaudit.records import RecordError, RolloutStore, file_sha256, jsonable_row, normalize, normalize_many

from ._helpers import assert_record_error, assert_store_empty, stored_rows
from .test_trl import batch, write_completions


def folder(tmp_path: Path, n_steps: int) -> Path:
    out = tmp_path / "grpo-run"
    for step in range(1, n_steps + 1):
        extra = {"judge_note": [f"s{step}"] * 4} if step % 3 else {}  # some files have other columns
        write_completions(out, step, {**batch(step), **extra})
    return out


def canonical(rows: list[dict[str, Any]]) -> str:
    """Rows as comparable text (a NaN reward component is not equal to itself)."""
    return json.dumps(rows, sort_keys=True, default=str)


def one_by_one(out: Path) -> str:
    """The rows as `normalize` gives them file by file (what the TRL ingest stored before batches)."""
    files = sorted((out / "completions").glob("completions_*.parquet"))
    tables = [
        normalize(
            _convert(f, reward_names=None, reward_weights=None)[0], source=str(f), first_row=1, run=out.name
        )
        for f in files
    ]
    rows = pa.concat_tables(tables).sort_by([("source", "ascending"), ("row", "ascending")])
    return canonical([jsonable_row(r) for r in rows.to_pylist()])


def count_ledger_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    writes: list[int] = []
    original = RolloutStore._write_sources

    def counted(self: RolloutStore, sources: list[Any]) -> None:
        writes.append(len(sources))
        original(self, sources)

    monkeypatch.setattr(RolloutStore, "_write_sources", counted)
    return writes


def test_a_folder_is_one_batch_with_the_rows_of_each_file(
    tmp_path: Path, store: RolloutStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = folder(tmp_path, 12)
    writes = count_ledger_writes(monkeypatch)
    result = ingest(out, store)
    assert canonical(stored_rows(store)) == one_by_one(out)
    assert result.rows_added == 48 and writes == [12]
    assert len(list(store.rollouts_dir.iterdir())) == 1
    files = sorted((out / "completions").glob("completions_*.parquet"))
    ledger = [asdict(s) for s in store.sources()]
    assert [{k: v for k, v in s.items() if k != "id"} for s in ledger] == [
        {
            "path": str(f.resolve()),
            "format": "trl",
            "bytes": f.stat().st_size,
            "sha256": file_sha256(f),
            "rows": 4,
        }
        for f in files
    ]
    assert {s["id"] for s in ledger} == {p.name for p in store.rollouts_dir.iterdir()}

    again = ingest(out, store)
    assert (again.rows_added, again.files_skipped) == (0, 12)
    assert [asdict(s) for s in store.sources()] == ledger and writes == [12]


def test_batches_bounded_in_bytes(
    tmp_path: Path, store: RolloutStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = folder(tmp_path, 9)
    size = max(f.stat().st_size for f in (out / "completions").iterdir())
    monkeypatch.setattr(_common, "BATCH_BYTES", 4 * size)  # at most 4 files a batch
    monkeypatch.setattr(_common, "CACHE_BYTES", 1)  # and nothing cached: converted again to append
    writes = count_ledger_writes(monkeypatch)
    assert ingest(out, store).rows_added == 36
    assert canonical(stored_rows(store)) == one_by_one(out)
    assert len(writes) == len(list(store.rollouts_dir.iterdir())) >= 3
    assert writes[-1] == 9 and len(store.sources()) == 9


@pytest.mark.parametrize("batch_files", [100, 2])
def test_a_bad_file_stores_nothing_of_the_folder(
    tmp_path: Path, store: RolloutStore, monkeypatch: pytest.MonkeyPatch, batch_files: int
) -> None:
    """All or nothing across the folder, also when the bad file is in a later batch."""
    out = folder(tmp_path, 5)
    bad = write_completions(out, 6, batch(6, split=[1, 2, 3, 4]))  # splits are text
    size = max(f.stat().st_size for f in (out / "completions").iterdir())
    monkeypatch.setattr(_common, "BATCH_BYTES", batch_files * size)
    with pytest.raises(RecordError) as exc:
        ingest(out, store)
    assert_record_error(exc, bad, "'split'")
    assert_store_empty(store)


def test_normalize_many_is_normalize_per_source() -> None:
    parts = [
        (
            pa.table({"step": [1, 1], "prompt": ["a", "b"], "completion": ["x", "y"], "reward": [1.0, 0.0]}),
            "f1",
        ),
        (pa.table({"step": [2], "prompt": ["a"], "completion": ["z"], "reward": [0.5]}), "f2"),
        (pa.table({"step": [3], "prompt": ["c"], "completion": ["w"], "reward": [1.0], "note": ["n"]}), "f3"),
        (pa.table({"step": pa.array([], pa.int64()), "prompt": [], "completion": [], "reward": []}), "f4"),
        (
            pa.table({"step": [4, 4], "prompt": ["d", "d"], "completion": ["v", "u"], "reward": [0.0, 1.0]}),
            "f5",
        ),
    ]
    got = normalize_many(parts, run="r")
    assert len(got) == 3  # f1+f2, f3 (its own columns), f5
    want = [normalize(t, source=s, first_row=1, run="r") for t, s in parts]
    assert pa.concat_tables(got).to_pylist() == pa.concat_tables(want).to_pylist()


def test_a_bad_row_in_a_batch_is_named_by_its_own_file_and_row(tmp_path: Path, store: RolloutStore) -> None:
    """The files of a batch are validated as one table; an error still names the file and its row."""
    out = folder(tmp_path, 6)
    (out / "completions" / "completions_00004.parquet").unlink()
    bad = write_completions(out, 4, batch(4, correct=[1, 0, 2, 1]))  # same columns as its neighbours
    with pytest.raises(RecordError) as exc:
        ingest(out, store)
    assert_record_error(exc, bad, "row 3:", "'correct'")
    assert_store_empty(store)
    bad.unlink()
    bad = write_completions(out, 4, batch(4, accuracy_reward=[1.0, 0.0, 1.0, float("inf")]))
    with pytest.raises(RecordError) as exc:
        ingest(out, store)
    assert_record_error(exc, bad, "row 4:", "'accuracy_reward' is infinite")
    assert_store_empty(store)


def test_a_grown_folder_reads_only_the_stored_file_a_new_one_may_repeat(
    tmp_path: Path, store: RolloutStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live run's folder ingested again: its stored files are skipped unread, except the last one,
    which the next new file is compared with (TRL re-logs a generation batch under a new step)."""
    out = folder(tmp_path, 6)
    assert ingest(out, store).rows_added == 24
    write_completions(out, 7, batch(6))  # step 6's rollouts again, under step 7
    write_completions(out, 8, batch(8))
    reads: list[str] = []
    original = trl._read

    def counted(f: Path) -> pa.Table:
        reads.append(f.name)
        return original(f)

    monkeypatch.setattr(trl, "_read", counted)
    result = ingest(out, store)
    sampled = min(trl.SAMPLE_FILES, 8)  # read first to tell reward columns (no trainer_state.json here)
    assert reads[sampled:] == [
        "completions_00006.parquet",
        "completions_00007.parquet",
        "completions_00008.parquet",
    ]
    assert (result.rows_added, result.files_skipped) == (4, 6)
    assert any("repeat" in note and "completions_00007.parquet" in note for note in result.notes)
    assert sorted({r["step"] for r in stored_rows(store)}) == [1, 2, 3, 4, 5, 6, 8]


def test_two_files_with_the_same_bytes_in_one_folder_are_both_stored(
    tmp_path: Path, store: RolloutStore
) -> None:
    """Which files are new is decided before the first batch is stored (as when a folder was stored all
    at once): a later file is not skipped for having the bytes of one staged by the same ingest."""
    out = folder(tmp_path, 2)
    first = (out / "completions" / "completions_00001.parquet").read_bytes()
    (out / "completions" / "completions_00003.parquet").write_bytes(first)
    with store.writing():
        result = ingest(out, store)
    assert (result.rows_added, result.files_skipped) == (12, 0)
    assert ingest(out, store).files_skipped == 3
