"""Models know nothing of the layers above them: tasks, evaluation, organisms, audits, training, CLI.

Every import in every module of `rlaudit.models`, at the top or inside a function, absolute or relative,
is checked: a lazy import inside a function is still a dependency.
"""

import ast
from pathlib import Path

import pytest

import rlaudit

MODELS = Path(rlaudit.__file__).parent / "models"
FORBIDDEN = ("tasks", "evaluation", "organisms", "audits", "training", "cli")


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module `path` imports (``from x import y`` gives ``x`` and ``x.y``)."""
    package = "rlaudit.models"
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against rlaudit.models
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def forbidden(names: set[str]) -> list[str]:
    return sorted(
        n for n in names if any(n == f"rlaudit.{f}" or n.startswith(f"rlaudit.{f}.") for f in FORBIDDEN)
    )


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.py")), ids=lambda p: p.name)
def test_models_import_nothing_above_them(path):
    assert forbidden(imported_modules(path)) == []


def test_the_check_sees_lazy_relative_and_from_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "import rlaudit.models.tiny\n"
        "from rlaudit import tasks\n"
        "def f():\n    from rlaudit.evaluation import greedy_correct\n"
        "from ..organisms import bases\n"
        "from .. import cli\n"
    )
    assert forbidden(imported_modules(source)) == [
        "rlaudit.cli",
        "rlaudit.evaluation",
        "rlaudit.evaluation.greedy_correct",
        "rlaudit.organisms",
        "rlaudit.organisms.bases",
        "rlaudit.tasks",
    ]
