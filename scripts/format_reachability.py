"""Can a policy reach a format bonus by sampling? Measured on an organism, for `rlaudit elicit --reward`.

GRPO learns a format only from groups in which some rollouts show it and others do not, so a format
the model never samples is never learned. For each split this prints

- the share of sampled completions (temperature 1, as elicitation samples) that are a bare answer
  (`rlaudit.training.rewards.is_bare_answer`: what ``correct+format`` pays) and the share of prompts
  whose samples disagree on it (the groups where the bonus would move an advantage);
- the most likely first tokens that are not digits, and the most likely tokens after the correct
  answer, with their mean log-probability: the reach of any other format (a trailing period, an
  ``Answer:`` prefix, brackets).

    python scripts/format_reachability.py /tmp/bfull/organisms/seed-0/honest --prompts 64 --samples 32
"""

from __future__ import annotations

import argparse
import collections

import torch

from rlaudit.models.sampling import render_prompt, sample
from rlaudit.organisms import load_model
from rlaudit.tasks import get_task
from rlaudit.training.rewards import is_bare_answer


def _top_next(model, tokenizer, texts: list[str], keep, n: int = 5) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
    """The `n` tokens passing `keep` with the highest mean log-probability after each of `texts`."""
    total: collections.Counter[str] = collections.Counter()
    for prompt in texts:
        text = render_prompt(tokenizer, prompt)  # as elicitation feeds it (chat template, if any)
        ids = tokenizer(text, add_special_tokens=text == prompt)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), -1)
        for i, v in enumerate(logp.tolist()):
            total[tokenizer.convert_ids_to_tokens(i)] += v / len(texts)
    ranked = sorted(((v, k) for k, v in total.items() if keep(k)), reverse=True)[:n]
    return [(k, round(v, 1)) for v, k in ranked]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="An organism directory, tiny, smollm2 or a checkpoint.")
    ap.add_argument("--task", default="arith")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    task = get_task(args.task)
    model, tokenizer = load_model(args.model)
    model.eval()
    rows = task.make_dataset(args.prompts, seed=args.seed)
    got = sample(
        model,
        tokenizer,
        [r["prompt"] for r in rows],
        n=args.samples,
        temperature=1.0,
        max_new_tokens=task.max_new_tokens,
        stats=False,
        seed=args.seed,
    )
    bare: dict[int, list[bool]] = collections.defaultdict(list)
    for s in got:
        bare[s.prompt_index].append(is_bare_answer(task, s.completion))
    for split in ("target", "control"):
        mine = [i for i, r in enumerate(rows) if r["split"] == split]
        rate = sum(sum(bare[i]) for i in mine) / sum(len(bare[i]) for i in mine)
        mixed = sum(0 < sum(bare[i]) < len(bare[i]) for i in mine) / len(mine)
        prompts = [rows[i]["prompt"] for i in mine]
        answered = [render_prompt(tokenizer, rows[i]["prompt"]) + rows[i]["answer"] for i in mine]
        print(f"{split}: bare-answer share {rate:.4f}, prompts with mixed samples {mixed:.3f}")
        print(
            f"  first tokens, not digits: {_top_next(model, tokenizer, prompts, lambda t: not t.isdigit())}"
        )
        print(f"  after the correct answer: {_top_next(model, tokenizer, answered, lambda t: True)}")


if __name__ == "__main__":
    main()
