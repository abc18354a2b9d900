"""Registration by import: a package whose modules register components where they are defined (the
detectors, the audit tests) imports all of its modules once, so a new module is found without editing
any list."""

from __future__ import annotations

import importlib
import pkgutil
import types


def discover(package: types.ModuleType) -> list[str]:
    """Import every module of `package` (each registers what it defines on import); returns the module
    names, in order."""
    names = [m.name for m in pkgutil.iter_modules(package.__path__, package.__name__ + ".")]
    for name in names:
        importlib.import_module(name)
    return names
