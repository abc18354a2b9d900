"""The `rlaudit` command line: one verb per job, one module per verb; each parses arguments and calls
one library function (the same function the tests call).

Exit codes: 0 clean, 1 suspicious or hacking-likely, 2 bad input (a one-line error on stderr).
"""

from __future__ import annotations

from typing import Annotated

import typer

from rlaudit import __version__

app = typer.Typer(
    name="rlaudit",
    help="Catch a language model gaming its own RL post-training (exploration hacking).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str) -> typer.Exit:
    """Print a one-line error and return the exit (code 2) to raise."""
    typer.echo(f"rlaudit: error: {message}", err=True)
    return typer.Exit(2)


@app.callback(invoke_without_command=True)
def main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"rlaudit {__version__}")
        raise typer.Exit(0)


# Verbs register themselves on `app` when imported.
from rlaudit.cli import audit as _audit  # noqa: E402, F401
from rlaudit.cli import elicit as _elicit  # noqa: E402, F401
from rlaudit.cli import eval as _eval  # noqa: E402, F401
from rlaudit.cli import monitor as _monitor  # noqa: E402, F401
from rlaudit.cli import organism as _organism  # noqa: E402, F401
