"""The audit-test registry: an audit test registers itself where it is defined.

    @audit("noise", name=NAME, config=Config)
    def run(model, tokenizer, task, config, *, seed=0) -> TestResult: ...

`rlaudit.audits` imports every module of its package (`rlaudit.discovery.discover`), so a new test is one module (and its
test): no list to edit. `cli` is the name `--tests` takes; `name` is its `TestResult.name`, the
`detector` of its findings and its key in a judgement's `sections.audit.tests`. `AuditConfig` maps
each registered CLI name to its config (defaults from the registry).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rlaudit.audits.base import TestResult

RunFn = Callable[..., TestResult]
F = TypeVar("F", bound=RunFn)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Audit:
    """A registered audit test.

    `run(model, tokenizer, task, config, *, seed, [reference]) -> TestResult` must leave the model as it
    found it; a `reference` keyword (a trusted `(model, tokenizer)`) is passed when its signature takes
    one and the caller gave one. `doc` is the first paragraph of its module docstring.
    """

    cli: str
    name: str
    config: type
    run: RunFn
    doc: str = ""
    module: str = ""
    default: bool = True
    """Whether it runs when no test is named (`rlaudit.audits.parse_tests(None)`, `rlaudit bench`); a new
    test joins the default set once it has earned its place on the organisms."""

    def __post_init__(self) -> None:
        for what, value in (("cli name", self.cli), ("name", self.name)):
            if not _NAME.match(value):
                raise ValueError(f"audit {what} {value!r} must be lower_snake_case")
        if not dataclasses.is_dataclass(self.config):
            raise TypeError(f"audit {self.cli!r}: config must be a dataclass (got {self.config!r})")

    @property
    def takes_reference(self) -> bool:
        return "reference" in inspect.signature(self.run).parameters


AUDITS: dict[str, Audit] = {}
"""Every registered audit test by its CLI name, in discovery order (module name)."""


def default_tests() -> tuple[str, ...]:
    """CLI names of the tests that run when none is named: the registered ones with `Audit.default`."""
    return tuple(cli for cli, a in AUDITS.items() if a.default)


def register_audit(a: Audit) -> Audit:
    """Add `a` to `AUDITS`. The same function registering again (a module reloaded) replaces it;
    another under a taken CLI name or test name is an error."""
    for other in AUDITS.values():
        same_fn = (other.module, other.run.__qualname__) == (a.module, a.run.__qualname__)
        if (other.cli == a.cli or other.name == a.name) and not same_fn:
            raise ValueError(f"audit {a.cli!r} / {a.name!r} clashes with {other.cli!r} / {other.name!r}")
    AUDITS[a.cli] = a
    return a


def audit(cli: str, *, name: str, config: type, default: bool = True) -> Callable[[F], F]:
    """Register the decorated `run` as the audit test `name`, chosen on the command line as `cli`;
    `default` False keeps it out of the tests that run when none is named."""

    def register(fn: F) -> F:
        module = sys.modules.get(fn.__module__)
        text = (module.__doc__ if module else None) or fn.__doc__ or ""
        doc = " ".join(text.strip().split("\n\n", 1)[0].split())
        register_audit(Audit(cli, name, config, fn, doc, fn.__module__, default))
        return fn

    return register


@dataclass
class AuditConfig(Mapping[str, Any]):
    """Each registered audit's config by CLI name (missing ones take the registry's defaults), and the
    seed of the prompts, noise and fine-tuning.

        AuditConfig({"noise": noise_sweep.Config(seeds=2)}, seed=1)
        config["passk"] = dataclasses.replace(config["passk"], n_problems=20)
    """

    configs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [name for name in self.configs if name not in AUDITS]
        if unknown:
            raise ValueError(f"unknown test {', '.join(map(repr, unknown))}; choose from {', '.join(AUDITS)}")
        for name, cfg in list(self.configs.items()):
            self[name] = cfg
        for name, a in AUDITS.items():
            self.configs.setdefault(name, a.config())

    def __getitem__(self, name: str) -> Any:
        if name not in self.configs:  # registered after this config was made
            self.configs[name] = _audit(name).config()
        return self.configs[name]

    def __setitem__(self, name: str, cfg: Any) -> None:
        cls = _audit(name).config
        if isinstance(cfg, dict):  # from JSON (`dataclasses.asdict` of a saved config)
            cfg = cls(**cfg)
        elif not isinstance(cfg, cls):
            raise TypeError(f"config of audit {name!r} must be {cls.__module__}.{cls.__name__}")
        self.configs[name] = cfg

    def __iter__(self) -> Iterator[str]:
        return iter(self.configs)

    def __len__(self) -> int:
        return len(self.configs)


def _audit(name: str) -> Audit:
    if name not in AUDITS:
        raise KeyError(f"unknown test {name!r}; choose from {', '.join(AUDITS)}")
    return AUDITS[name]
