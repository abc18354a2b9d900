"""`rlaudit env-check`: check every installed distribution's files against its wheel `RECORD` hashes
(`rlaudit.supply`), so a package edited in place, a file dropped into one, or a stray `.pth` shows up
before a training job imports it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlaudit.cli import HtmlOption, JsonOption, app, at_least, check_html_path, emit, fail, guarded


@app.command("env-check")
@guarded
def env_check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="site-packages folders or environments (a venv or prefix holding lib/python3*/site-packages); "
            "default: the running Python's.",
            show_default=False,
        ),
    ] = None,
    max_listed: Annotated[
        int, typer.Option(help="Most files of each kind listed in the result (counts stay exact).")
    ] = 200,
    as_json: JsonOption = False,
    html: HtmlOption = None,
) -> None:
    """Verify installed packages against their RECORD hashes: exit 1 when a file was changed, is missing,
    was added to a package, or belongs to no package."""
    from rlaudit import progress
    from rlaudit.supply import EnvCheckConfig, check_environment, site_dirs_of

    check_html_path(html)
    at_least(("--max-listed", max_listed, 1))
    for path in paths or ():
        try:
            site_dirs_of(path)
        except ValueError as e:
            raise fail(str(e)) from None
    config = EnvCheckConfig(site_dirs=tuple(str(p) for p in paths or ()), max_listed=max_listed)
    with progress.quiet(as_json):
        result = check_environment(config, show_progress=not as_json)
    emit(result.to_json(), as_json=as_json, html=html)
