"""The options every model-side verb (`eval`, `audit`, `elicit`, `organism build`) shares, and the steps
they share: resolve the task (with its checker, cues and completion budget), load the model (device,
dtype, remote code), and run it (threads, batch size, quiet stdout and no progress bars under `--json`).

One definition each, so the four verbs spell, document and check them the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from rlaudit.cli import at_least, fail, quiet_stdout, require_train_extra

TaskOption = Annotated[
    str,
    typer.Option(
        help="arith, mcq, or a task file or folder (JSONL, CSV, Parquet, a datasets save_to_disk folder) "
        "with columns prompt (text or chat messages), answer, split (target|control) and optional id, "
        "choices, condition."
    ),
]
ColumnsOption = Annotated[
    str | None,
    typer.Option(help="Rename a task file's columns: prompt=question,answer=label,...", show_default=False),
]
CheckerOption = Annotated[
    str | None,
    typer.Option(
        help="Score a task file with: exact, numeric, choice, contains, regex:PATTERN, "
        "path/to/file.py:function or package.module:function (a TRL reward function; > 0.5 is correct). "
        "Default: choice with choices, numeric when every answer is a number, else exact.",
        show_default=False,
    ),
]
TrainCueOption = Annotated[
    str | None,
    typer.Option(
        help="What tells the model it is being trained: a prefix, or a template with {prompt} "
        "(default: '(training episode) ').",
        show_default=False,
    ),
]
DeployCueOption = Annotated[
    str | None,
    typer.Option(
        help="What tells the model it is serving a user: a prefix, or a template with {prompt} "
        "(default: '(user request) ').",
        show_default=False,
    ),
]
DeviceOption = Annotated[
    str, typer.Option(help="auto (the first GPU torch sees, else mps, else cpu), cpu, cuda, cuda:N or mps.")
]
DtypeOption = Annotated[
    str,
    typer.Option(
        help="auto (bfloat16 on a GPU that has it, float16 on other GPUs, float32 on CPU), "
        "float32, bfloat16 or float16."
    ),
]
BatchSizeOption = Annotated[
    int | None,
    typer.Option(
        help="Sequences per generate call (default: from the model size and free memory, halved on "
        "out-of-memory).",
        show_default=False,
    ),
]
MaxNewTokensOption = Annotated[
    int | None,
    typer.Option(help="Completion budget in tokens (default: the task's).", show_default=False),
]
TrustRemoteCodeOption = Annotated[
    bool,
    typer.Option(
        "--trust-remote-code",
        help="Run the Python code a checkpoint ships (its modeling files). Off by default: it is code "
        "from the checkpoint's author, run with your permissions.",
    ),
]


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """How to load and run a model: what `--device`, `--dtype`, `--batch-size`, `--trust-remote-code`
    and `--threads` said."""

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int | None = None
    trust_remote_code: bool = False
    threads: int | None = None

    def check(self) -> None:
        """Bad values are bad input, found before any model loads (and without the `[train]` extra,
        one line saying how to install it)."""
        require_train_extra()
        at_least(("--batch-size", self.batch_size, 1), ("--threads", self.threads, 1))
        from rlaudit.models.device import resolve_device, resolve_dtype

        try:
            device = resolve_device(self.device)
        except ValueError as e:
            raise fail(f"--device: {e}") from None
        try:
            resolve_dtype(self.dtype, device)
        except ValueError as e:
            raise fail(f"--dtype: {e}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve_task(
    name: str,
    *,
    columns: str | None = None,
    checker: str | None = None,
    train_cue: str | None = None,
    deploy_cue: str | None = None,
    max_new_tokens: int | None = None,
    framed: bool = False,
) -> Any:  # -> Task
    """The task `name` with its columns, checker, cues and completion budget; bad input exits 2.

    With `framed` and a cue given, every problem is asked under both cues
    (`rlaudit.tasks.framed.cue_framed`): what `eval` measures; the audits frame problems themselves."""
    from rlaudit.cli import task_or_fail

    require_train_extra()
    at_least(("--max-new-tokens", max_new_tokens, 1))
    task = task_or_fail(name, columns=columns, checker=checker)
    if train_cue is not None or deploy_cue is not None:
        from rlaudit.tasks import with_cues
        from rlaudit.tasks.framed import cue_framed

        try:
            task = with_cues(task, train_cue, deploy_cue)
            task = cue_framed(task) if framed else task
        except ValueError as e:
            raise fail(f"--train-cue/--deploy-cue: {e}") from None
    if max_new_tokens is not None:
        task = dataclasses.replace(task, max_new_tokens=max_new_tokens)
    return task


def load_model_or_fail(name: str, options: ModelOptions, *, quiet: bool) -> tuple[Any, Any]:
    """(model, tokenizer) of an organism, embedded name, checkpoint or adapter on the chosen device and
    dtype; one that cannot load is bad input (one line, exit 2)."""
    require_train_extra()
    from rlaudit import progress
    from rlaudit.organisms import load_model

    try:
        # transformers draws its own "Loading weights" bar, on any stderr: off under --json too.
        with quiet_stdout(quiet), progress.quiet(quiet):
            return load_model(
                name, device=options.device, dtype=options.dtype, trust_remote_code=options.trust_remote_code
            )
    except (FileNotFoundError, ModuleNotFoundError, OSError, ValueError) as e:
        raise fail(f"cannot load model '{name}': {' '.join(str(e).split())}") from None


def check_chat(task: Any, tokenizer: Any, name: str) -> None:
    """A task with chat message prompts needs a tokenizer with a chat template."""
    if task.chat and not getattr(tokenizer, "chat_template", None):
        raise fail(f"--task: {name} has chat message prompts and the model's tokenizer has no chat template")


@contextlib.contextmanager
def running(model: Any, options: ModelOptions, *, as_json: bool) -> Iterator[None]:
    """While a verb runs the model: its torch threads (not pinned here when `model` is None: the verb's
    library call pins them), the `--batch-size` override, and under `--json` stdout sent to stderr and
    no progress bars."""
    from rlaudit import progress
    from rlaudit.models.device import generation_batch_size
    from rlaudit.models.threads import torch_threads

    threads = torch_threads(model, options.threads) if model is not None else contextlib.nullcontext()
    with (
        threads,
        generation_batch_size(options.batch_size),
        quiet_stdout(as_json),
        progress.quiet(as_json),
    ):
        yield
