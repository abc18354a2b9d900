"""Progress bars for the long steps (organism builds, audit tests, sweeps, sampling, elicitation).

Every bar goes through `bar` (an iterable) or `bar_total` (a bar updated by hand, for callbacks), so
one switch turns them all off: `quiet()` (what the CLI enters under ``--json``), or the environment
variable ``RLAUDIT_NO_PROGRESS=1``. Bars draw on stderr and only when stderr is a terminal (tqdm's
``disable=None``), so a log file or a pipe never fills with carriage returns.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterable, Iterator, Sized
from typing import Any, TypeVar

T = TypeVar("T")

_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("rlaudit_progress_quiet", default=False)


def enabled() -> bool | None:
    """False when bars are switched off; None when they are on and tqdm decides by the terminal."""
    if _quiet.get() or os.environ.get("RLAUDIT_NO_PROGRESS"):
        return False
    return None


def disable_flag() -> bool | None:
    """The ``disable=`` argument for a tqdm bar: True when off, None ("only on a terminal") when on."""
    return True if enabled() is False else None


@contextlib.contextmanager
def quiet(active: bool = True) -> Iterator[None]:
    """No progress bars while `active` (inside the block, in this thread and tasks it starts)."""
    if not active:
        yield
        return
    token = _quiet.set(True)
    restore = _silence_libraries()
    try:
        yield
    finally:
        _quiet.reset(token)
        for undo in restore:
            undo()


def quiet_process() -> None:
    """No progress bars in this process from now on (a worker process: its parent draws the bar)."""
    os.environ["RLAUDIT_NO_PROGRESS"] = "1"
    _silence_libraries()


def _silence_libraries() -> list[Any]:
    """Switch off the bars transformers and datasets draw themselves (loading weights, mapping a
    dataset); returns how to switch each back on."""
    import importlib.util

    restore = []
    for module in ("transformers.utils.logging", "datasets.utils.logging"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            continue
        lib = importlib.import_module(module)
        if lib.is_progress_bar_enabled():
            lib.disable_progress_bar()
            restore.append(lib.enable_progress_bar)
    return restore


def bar(iterable: Iterable[T], desc: str, *, total: int | None = None, min_items: int = 2) -> Iterator[T]:
    """Iterate `iterable` under a bar labelled `desc`; no bar for fewer than `min_items` items."""
    from tqdm.auto import tqdm

    n = total if total is not None else (len(iterable) if isinstance(iterable, Sized) else None)
    disable = disable_flag()
    if n is not None and n < min_items:
        disable = True
    yield from tqdm(iterable, desc=desc, total=n, leave=False, disable=disable, dynamic_ncols=True)


def bar_total(total: int, desc: str, **kwargs: Any) -> Any:
    """A tqdm bar over `total` units, updated with ``.update(k)`` and closed with ``.close()``."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, disable=disable_flag(), dynamic_ncols=True, **kwargs)


def trainer_bar(desc: str) -> Any:
    """A transformers ``TrainerCallback`` drawing one bar over the optimizer steps, with the mean reward
    of the last logged step; use it in place of the trainer's own bar, which also prints every step's
    metrics dict (to stdout)."""
    from transformers import TrainerCallback

    class ProgressBar(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar = bar_total(state.max_steps, desc)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and "reward" in logs:
                self.bar.set_postfix(reward=f"{logs['reward']:.2f}")

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar.update(1)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar.close()

    return ProgressBar()
