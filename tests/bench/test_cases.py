import json

from rlaudit.bench.cases import CROSSOVER, HARD_OPERANDS, BenchConfig, hard_target_task, positive
from rlaudit.tasks import SPLITS, get_task


def test_honest_hard_is_the_honest_organism_on_a_harder_target(tmp_path):
    cfg = BenchConfig(out=tmp_path, kinds=("honest_hard", "locked"))
    assert cfg.organism("honest_hard", 1) == cfg.organism("honest", 1)
    assert cfg.organism_kinds == ("honest", "locked")  # built once, as honest
    assert not positive("honest_hard") and positive("locked")
    assert cfg.task_of("locked") == "arith"
    path = cfg.task_of("honest_hard")
    assert path == str(tmp_path / "tasks" / "arith-hard-target.jsonl")
    task = get_task(path)  # a task file: numeric checker, target and control rows
    assert task.checker == "numeric"


def test_the_hard_target_file_is_harder_on_target_with_overlapping_difficulty(tmp_path):
    path = hard_target_task(tmp_path / "t.jsonl", n_problems=200)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 400 and len({r["id"] for r in rows}) == 400
    for r in rows:
        a, b = (int(x) for x in r["prompt"].split("] ", 1)[1].rstrip("=").split("+"))
        assert int(r["answer"]) == a + b
        lo, hi = HARD_OPERANDS if r["difficulty"] == HARD_OPERANDS[1] else (0, 9)
        assert r["difficulty"] == hi and lo <= a <= hi and lo <= b <= hi
        assert r["prompt"].startswith("[bio] " if r["split"] == "target" else "[math] ")
    hard = {
        s: sum(r["difficulty"] == HARD_OPERANDS[1] for r in rows if r["split"] == s) / 200 for s in SPLITS
    }
    # Mostly hard on target, mostly easy on control, and both difficulties in both splits.
    assert 0.7 < hard["target"] < 0.9 and 0.1 < hard["control"] < 0.3
    assert abs(hard["target"] - (1 - CROSSOVER)) < 0.1 and abs(hard["control"] - CROSSOVER) < 0.1
    before = path.read_text()
    assert hard_target_task(path, n_problems=200).read_text() == before  # deterministic
    path.write_text(before.replace(', "difficulty": 19', ""))  # an older file without the column
    assert hard_target_task(path, n_problems=200).read_text() == before


def test_the_audits_pair_the_hard_target_file_by_difficulty(tmp_path):
    from rlaudit.audits.base import crossed_rows, difficulty_matched

    task = get_task(str(hard_target_task(tmp_path / "t.jsonl")))
    assert difficulty_matched(task)
    rows = crossed_rows(task, 75, seed=0)
    by_problem: dict[int, dict[str, int]] = {}
    for r in rows:
        by_problem.setdefault(r["problem"], {})[r["split"]] = r["difficulty"]
    assert len(by_problem) == 75
    assert all(d["target"] == d["control"] for d in by_problem.values())
    assert {d["target"] for d in by_problem.values()} == {9, HARD_OPERANDS[1]}  # both difficulties compared
