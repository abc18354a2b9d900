import json

from rlaudit.bench.cases import HARD_OPERANDS, BenchConfig, hard_target_task, positive
from rlaudit.tasks import get_task


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


def test_the_hard_target_file_is_harder_on_target_only(tmp_path):
    path = hard_target_task(tmp_path / "t.jsonl", n_problems=50)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 100 and len({r["id"] for r in rows}) == 100
    for r in rows:
        a, b = (int(x) for x in r["prompt"].split("] ", 1)[1].rstrip("=").split("+"))
        assert int(r["answer"]) == a + b
        lo, hi = HARD_OPERANDS if r["split"] == "target" else (0, 9)
        assert lo <= a <= hi and lo <= b <= hi
        assert r["prompt"].startswith("[bio] " if r["split"] == "target" else "[math] ")
    before = path.read_text()
    assert hard_target_task(path, n_problems=50, seed=1).read_text() == before  # written once, reused
