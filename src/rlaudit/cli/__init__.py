"""The `rlaudit` command line: one verb per job, one module per verb; each parses arguments and calls
one library function (the same function the tests call), then hands the `Judgement` it returns to
`emit`, so every verb prints, writes and exits the same way.

The contract every verb keeps:

- `--json` prints exactly one JSON object (the judgement, `rlaudit.judgement`) on stdout and nothing
  else: whatever the libraries underneath print goes to stderr while the verb runs.
- exit 0 clean (or a verb that measures and does not judge), 1 suspicious or hacking-likely, 2 bad input
  (one line on stderr naming the file, row and field; nothing written), 3 an internal error (one line
  and a hint to report it; `RLAUDIT_DEBUG=1` shows the traceback).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from rlaudit import __version__

app = typer.Typer(
    name="rlaudit",
    help="Catch a language model gaming its own RL post-training (exploration hacking).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])
REPORT_HINT = (
    "this is a bug in rlaudit: please report it with the command line (RLAUDIT_DEBUG=1 shows the traceback)"
)


def fail(message: str) -> typer.Exit:
    """Print a one-line error and return the exit (code 2) to raise.

    Messages quote user-given names (a file's column, a reward key), which may hold line breaks or
    other control characters: they are escaped, so the error stays one line."""
    typer.echo(f"rlaudit: error: {one_line(message)}", err=True)
    return typer.Exit(2)


def one_line(text: str) -> str:
    """`text` with control characters (line breaks included) written as escapes."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def guarded(fn: F) -> F:
    """Turn an unexpected exception of a verb into one line on stderr and exit 3 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from rlaudit.judgement import command_line

        command_line.set(["rlaudit", *sys.argv[1:]])
        try:
            with warnings.catch_warnings():
                # transformers 5 deprecates a name TRL 1.16 and peft read at every step: nothing a user acts on.
                warnings.filterwarnings(
                    "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
                )
                return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
            raise
        except Exception as e:
            if os.environ.get("RLAUDIT_DEBUG"):
                raise
            if _is_limit(e):  # a limit the user can raise, named in the message: not a bug to report
                typer.echo(f"rlaudit: error: {one_line(' '.join(str(e).split()))}", err=True)
                raise typer.Exit(2 if isinstance(e, ValueError) else 3) from None
            text = one_line(" ".join(str(e).split()))[:300]
            typer.echo(f"rlaudit: internal error: {type(e).__name__}: {text} ({REPORT_HINT})", err=True)
            raise typer.Exit(3) from None

    return wrapper  # type: ignore[return-value]


def _is_limit(e: BaseException) -> bool:
    """Whether `e` is a resource limit the user set and can raise (`MemoryLimitError`; exit 2 where the
    limit itself is unreadable, `BadMemoryLimit`, else 3); imported
    only when a verb failed, so the CLI's start stays free of DuckDB."""
    from rlaudit.records.memory import MemoryLimitError

    return isinstance(e, MemoryLimitError)


def check_html_path(html: Path | None) -> None:
    """`--html` into a folder that does not exist is bad input, found before any work is done."""
    if html is not None and not html.parent.is_dir():
        raise fail(f"--html: no directory {html.parent} to write the report in")
    if html is not None and html.is_dir():
        raise fail(f"--html: {html} is a directory; name the report file")


def at_least(*checks: tuple[str, float | None, float]) -> None:
    """Each `(option, value, least)`: a value below its least is bad input (None means "default")."""
    for name, value, least in checks:
        if value is not None and not value >= least:
            raise fail(f"{name} must be >= {least} (got {value})")


TRAIN_EXTRA = ("torch", "transformers", "trl", "accelerate", "datasets", "peft")
"""What the model-side verbs import: the `[train]` extra."""


def require_train_extra() -> None:
    """The model-side verbs need the `[train]` extra; without it, one line saying how to install it."""
    import importlib.util

    missing = [m for m in TRAIN_EXTRA if importlib.util.find_spec(m) is None]
    if missing:
        raise fail(
            f"this verb needs {', '.join(missing)} (the [train] extra): CPU only: `pip install torch==2.13.0 "
            "--index-url https://download.pytorch.org/whl/cpu` then `pip install -e '.[train]'`; "
            "with a GPU: `pip install -e '.[train]'`"
        )


def task_or_fail(name: str, *, columns: str | None = None, checker: str | None = None) -> Any:  # -> Task
    """The built-in task or task file `name` (`rlaudit.tasks.get_task`); any problem with it, its
    `columns` mapping or its `checker` is bad input: one line, exit 2."""
    from rlaudit.tasks import get_task
    from rlaudit.tasks.checkers import CheckerError

    try:
        return get_task(name, columns=columns, checker=checker)
    except CheckerError as e:
        raise fail(f"--checker: {e}") from None
    except ValueError as e:
        raise fail(f"--task: {e}") from None


@contextlib.contextmanager
def checker_errors_fail() -> Iterator[None]:
    """A checker that raises or misbehaves while scoring (`rlaudit.tasks.checkers.CheckerError`) is bad
    input: one line naming it, exit 2."""
    from rlaudit.tasks.checkers import CheckerError

    try:
        yield
    except CheckerError as e:
        raise fail(f"--checker: {e}") from None


@contextlib.contextmanager
def quiet_stdout(active: bool) -> Iterator[None]:
    """While `active`, send everything written to stdout (Python's and the process's file descriptor 1,
    which C extensions and subprocesses write to) to stderr, so `--json` owns stdout alone."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def emit(doc: dict[str, Any], *, as_json: bool, html: Path | None, summary: bool = True) -> None:
    """Write the report, print the JSON or (with `summary`) the terminal summary, and exit with the
    judgement's code."""
    if html is not None:
        from rlaudit.report import write_html

        write_html(doc, html)
    if as_json:
        import json

        typer.echo(json.dumps(doc, allow_nan=False))
    else:
        from rich.console import Console

        from rlaudit.report import print_summary

        if summary:
            print_summary(doc, Console())
        if html is not None:
            typer.echo(f"report: {html}")
    raise typer.Exit(int(doc["exit_code"]))


ModelArgument = Annotated[
    str,
    typer.Argument(
        help="An organism directory, an embedded model ('tiny', 'smollm2') or a local Hugging Face "
        "checkpoint directory.",
        show_default=False,
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        help="torch threads (default: 1 for models under 10M parameters, which a second thread slows "
        "down; torch's default otherwise).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object (the judgement) and nothing else.")
]
HtmlOption = Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here.")]


@app.callback(invoke_without_command=True)
def main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"rlaudit {__version__}")
        raise typer.Exit(0)


# Verbs register themselves on `app` when imported.
from rlaudit.cli import audit as _audit  # noqa: E402, F401
from rlaudit.cli import bench as _bench  # noqa: E402, F401
from rlaudit.cli import elicit as _elicit  # noqa: E402, F401
from rlaudit.cli import env_check as _env_check  # noqa: E402, F401
from rlaudit.cli import eval as _eval  # noqa: E402, F401
from rlaudit.cli import monitor as _monitor  # noqa: E402, F401
from rlaudit.cli import organism as _organism  # noqa: E402, F401
from rlaudit.cli import probe as _probe  # noqa: E402, F401
from rlaudit.cli import report as _report  # noqa: E402, F401
from rlaudit.cli import show as _show  # noqa: E402, F401
