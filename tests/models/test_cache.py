import pytest

from rlaudit.models.cache import publish_directory


def _writer(text: str):
    def write(tmp):
        (tmp / "weights").write_text(text)
        (tmp / "done").write_text("")

    return write


def test_a_directory_appears_whole(tmp_path):
    final = tmp_path / "models" / "m"
    assert publish_directory(final, _writer("a"), marker="done", what="m", redo="rebuild") == final
    assert (final / "weights").read_text() == "a" and [p.name for p in final.parent.iterdir()] == ["m"]


def test_a_failed_write_leaves_nothing(tmp_path):
    def broken(tmp):
        (tmp / "weights").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish_directory(tmp_path / "m", broken, marker="done", what="m", redo="rebuild")
    assert list(tmp_path.iterdir()) == []


def test_a_racing_copy_is_used_if_complete_and_refused_if_not(tmp_path):
    final = tmp_path / "m"
    publish_directory(final, _writer("first"), marker="done", what="m", redo="rebuild")
    publish_directory(final, _writer("second"), marker="done", what="m", redo="rebuild")  # lost the race
    assert (final / "weights").read_text() == "first" and [p.name for p in tmp_path.iterdir()] == ["m"]
    (final / "done").unlink()
    with pytest.raises(
        RuntimeError, match=r"is not a complete m \(no done\); delete it and call again to redo"
    ):
        publish_directory(final, _writer("third"), marker="done", what="a complete m", redo="redo")
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
