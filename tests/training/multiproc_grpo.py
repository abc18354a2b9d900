"""A tiny GRPO run with `MonitorCallback`, launched by the multi-process test in 1 or N processes
(`torchrun --nproc_per_node N -m tests.training.multiproc_grpo OUT GLOBAL_BATCH`, or plain `python -m`
for one): the same global batch either way (each process takes GLOBAL_BATCH / N of it), greedy
decoding so the completions depend on the weights alone, and the main process writes its final
findings to OUT/findings.json."""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path


def main(out: Path, global_batch: int) -> None:
    warnings.filterwarnings("ignore")
    import torch
    from datasets import Dataset
    from trl import GRPOTrainer

    from rlaudit.models.tiny import TinyModelConfig, build_tiny_model
    from rlaudit.tasks.arith import arith_reward, make_dataset
    from rlaudit.training import MonitorCallback
    from tests.conftest import TEST_MODEL
    from tests.training.tiny_grpo import grpo_args

    torch.set_num_threads(1)
    world = int(__import__("os").environ.get("WORLD_SIZE", "1"))
    model, tokenizer = build_tiny_model(TinyModelConfig(**TEST_MODEL))
    args = grpo_args(
        out / "trainer",
        steps=3,
        batch=global_batch // world,
        generations=4,
        generation_kwargs={"do_sample": False},  # greedy: the same weights give the same completions
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[arith_reward],
        args=args,
        train_dataset=Dataset.from_list(make_dataset(64, seed=0)),
        processing_class=tokenizer,
    )
    monitor = MonitorCallback(trainer, store=out / "store", every_steps=1, max_overhead=math.inf)
    trainer.add_callback(monitor)
    trainer.train()
    if monitor.active:
        assert monitor.result is not None
        judged = monitor.result.to_json()
        doc = {
            "findings": judged["findings"],
            "signals": judged["sections"]["signals"],
            "errors": monitor.errors,
            "world": world,
        }
        (out / "findings.json").write_text(json.dumps(doc))
    else:  # the other processes record nothing of their own
        assert monitor.result is None and monitor.errors == 0
    if torch.distributed.is_initialized():  # a clean shutdown: no process leaves while another waits
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
