"""`rlaudit report`: re-render a saved judgement (any verb's `--json` output or saved JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlaudit.cli import HtmlOption, JsonOption, app, check_html_path, emit, fail, guarded


@app.command()
@guarded
def report(
    result: Annotated[
        Path,
        typer.Argument(help="A saved judgement: `rlaudit VERB --json > result.json`, or elicit.json."),
    ],
    html: HtmlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a saved result against the schema and render it again: summary, HTML, exit code."""
    from rlaudit.judgement import SchemaError, load

    check_html_path(html)
    try:
        doc = load(result)
    except SchemaError as e:
        raise fail(str(e)) from None
    emit(doc, as_json=as_json, html=html)
