"""`rlaudit.progress`: one switch for every bar. Off under `quiet()` (the CLI's `--json`) and with
RLAUDIT_NO_PROGRESS; on, a bar draws only on a terminal (tqdm's disable=None)."""

from __future__ import annotations

import io

import pytest

from rlaudit import progress

pytest.importorskip("tqdm")


def test_bars_are_on_by_default_and_off_when_quiet(monkeypatch):
    monkeypatch.delenv("RLAUDIT_NO_PROGRESS", raising=False)
    assert progress.disable_flag() is None  # tqdm decides: a terminal only
    with progress.quiet():
        assert progress.disable_flag() is True
        with progress.quiet(False):  # an inner "not quiet" does not switch them back on
            assert progress.disable_flag() is True
    assert progress.disable_flag() is None
    monkeypatch.setenv("RLAUDIT_NO_PROGRESS", "1")
    assert progress.disable_flag() is True


def test_a_bar_yields_every_item_and_draws_nothing_when_quiet(capsys):
    with progress.quiet():
        assert list(progress.bar(range(5), "x")) == [0, 1, 2, 3, 4]
        b = progress.bar_total(3, "y")
        b.update(3)
        b.close()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_bar_draws_on_a_terminal(monkeypatch):
    from tqdm.auto import tqdm

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    monkeypatch.delenv("RLAUDIT_NO_PROGRESS", raising=False)
    bar = tqdm(total=2, desc="z", disable=progress.disable_flag(), file=out)
    bar.update(2)
    bar.close()
    assert "z" in out.getvalue()
    pipe = io.StringIO()  # not a terminal: a log file or a pipe
    bar = tqdm(total=2, desc="z", disable=progress.disable_flag(), file=pipe)
    bar.update(2)
    bar.close()
    assert pipe.getvalue() == ""


def test_quiet_silences_transformers_bars_and_restores_them():
    logging = pytest.importorskip("transformers.utils.logging")
    assert logging.is_progress_bar_enabled()
    with progress.quiet():
        assert not logging.is_progress_bar_enabled()
    assert logging.is_progress_bar_enabled()
