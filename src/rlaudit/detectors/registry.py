"""The detector registry: a detector registers itself where it is defined.

    @detector("exploration_starvation", config=StarvationConfig, signals=("frac_all_fail", ...))
    def detect_starvation(signals: Signals, cfg: StarvationConfig) -> list[Finding]: ...

`rlaudit.detectors` imports every module of its package (`rlaudit.discovery.discover`), so a new detector is one module
(and its test): no list to edit. `DetectorConfig` maps each registered name to its config (defaults from
the registry); `run_detectors` runs the enabled ones, fail-open, and fills each finding's `signal` from
the detector's first declared signal when the detector did not name one.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from rlaudit.detectors.windows import WindowConfig, windowed_findings
from rlaudit.findings import Finding, Severity
from rlaudit.signals import SIGNALS, Signals

DetectFn = Callable[[Signals, Any], list[Finding]]
F = TypeVar("F", bound=DetectFn)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class NoConfig:
    """The config of a detector without options."""


@dataclass(frozen=True)
class Detector:
    """A registered detector: its name (the `detector` of its findings), what it reads and how to run it.

    `config` is its config dataclass (every field has a default); `signals` are the step signals it
    reads (registered `SignalSpec` names), the first being the plot its findings link to when they do
    not name one themselves; `doc` is the first line of its module docstring.
    """

    name: str
    detect: DetectFn
    config: type = NoConfig
    signals: tuple[str, ...] = ()
    doc: str = ""
    module: str = ""
    windowed: bool = True
    """Also run on windows of steps (`rlaudit.detectors.windows`); off for detectors that compare runs
    as wholes or search windows themselves."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"detector name {self.name!r} must be lower_snake_case")
        if not dataclasses.is_dataclass(self.config):
            raise TypeError(f"detector {self.name!r}: config must be a dataclass (got {self.config!r})")
        unknown = [s for s in self.signals if s not in SIGNALS]
        if unknown:
            raise ValueError(
                f"detector {self.name!r} reads unregistered signal(s) {unknown}: register them with "
                "rlaudit.signals.register_signal before the detector (or fix the name)"
            )

    @property
    def primary_signal(self) -> str | None:
        return self.signals[0] if self.signals else None


DETECTORS: dict[str, Detector] = {}
"""Every registered detector by name, in discovery order (module name, then definition order)."""


def register_detector(d: Detector) -> Detector:
    """Add `d` to `DETECTORS`. The same function registering again (a module reloaded) replaces it;
    another function under a taken name is an error."""
    old = DETECTORS.get(d.name)
    if old is not None and _origin(old.detect) != _origin(d.detect):
        raise ValueError(f"detector {d.name!r} is already registered by {old.module}; choose another name")
    DETECTORS[d.name] = d
    return d


def detector(
    name: str, *, config: type = NoConfig, signals: Sequence[str] = (), windowed: bool = True
) -> Callable[[F], F]:
    """Register the decorated `detect(signals, config) -> list[Finding]` as detector `name`; its `doc`
    is the first paragraph of the function's docstring, else of its module's. `windowed=False` keeps it
    off the windowed views (see `Detector.windowed`)."""

    def register(fn: F) -> F:
        module = sys.modules.get(fn.__module__)
        text = fn.__doc__ or (module.__doc__ if module else None) or ""
        doc = " ".join(text.strip().split("\n\n", 1)[0].split())
        register_detector(Detector(name, fn, config, tuple(signals), doc, fn.__module__, windowed))
        return fn

    return register


def _origin(fn: Any) -> tuple[str, str]:
    return (getattr(fn, "__module__", ""), getattr(fn, "__qualname__", repr(fn)))


@dataclass
class DetectorConfig(Mapping[str, Any]):
    """Each registered detector's config by name (missing ones take the registry's defaults), and
    which detectors run: `enabled` (None: all).

        DetectorConfig({"cue_gap": CueGapConfig(alpha=0.001)}, enabled=("cue_gap",))
        cfg["exploration_starvation"].min_steps = 5
    """

    configs: dict[str, Any] = field(default_factory=dict)
    enabled: tuple[str, ...] | None = None
    windows: WindowConfig = field(default_factory=WindowConfig)
    """The windows of steps the windowed detectors also run on (`rlaudit.detectors.windows`)."""

    def __post_init__(self) -> None:
        if self.enabled is not None:
            self.enabled = tuple(self.enabled)
        if isinstance(self.windows, dict):  # from JSON
            self.windows = WindowConfig(**self.windows)
        unknown = (set(self.configs) | set(self.enabled or ())) - set(DETECTORS)
        if unknown:
            raise ValueError(f"unknown detector(s) {sorted(unknown)}; choose from {sorted(DETECTORS)}")
        for name, cfg in list(self.configs.items()):
            cls = DETECTORS[name].config
            if isinstance(cfg, dict):  # from JSON (`dataclasses.asdict` of a saved config)
                self.configs[name] = cls(**cfg)
            elif not isinstance(cfg, cls):
                raise TypeError(
                    f"config of detector {name!r} must be {cls.__name__}, got {type(cfg).__name__}"
                )
        for name, d in DETECTORS.items():
            self.configs.setdefault(name, d.config())

    def __getitem__(self, name: str) -> Any:
        if name not in self.configs:  # registered after this config was made
            if name not in DETECTORS:
                raise KeyError(f"unknown detector {name!r}; choose from {sorted(DETECTORS)}")
            self.configs[name] = DETECTORS[name].config()
        return self.configs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.configs)

    def __len__(self) -> int:
        return len(self.configs)

    def is_enabled(self, name: str) -> bool:
        return self.enabled is None or name in self.enabled


METRICS_ONLY_GAPS = (
    "all-fail vs all-pass groups (starvation is judged from frac_reward_zero_std alone)",
    "within-group diversity of completions",
    "target vs control comparison (selective underperformance)",
    "completion distributions across runs (reward-configuration invariance)",
)


def run_detectors(signals: Signals, cfg: DetectorConfig | None = None) -> list[Finding]:
    """All enabled detectors over `signals`, most severe findings first.

    A detector that raises becomes an INFO finding saying so (a monitor must never die of its own bug);
    metrics-only inputs get a `coverage` finding listing what was not checked. Windowed detectors also
    run on windows of steps (`cfg.windows`); a window adds a finding only where it outranks the
    detector's finding over the whole run (`rlaudit.detectors.windows`).
    """
    cfg = DetectorConfig() if cfg is None else cfg
    findings: list[Finding] = []
    windowed: dict[str, Callable[[Signals], list[Finding]]] = {}
    for name, d in list(DETECTORS.items()):
        if not cfg.is_enabled(name):
            continue
        detect = partial(_with_signal, d.detect, cfg[name], d.primary_signal)
        try:
            findings += detect(signals)
        except Exception as e:  # fail open: report, never crash the caller (or a training run)
            summary = f"detector failed and was skipped: {type(e).__name__}: {e}"
            # `error` in the evidence marks a failure, not a finding: the live monitor counts it as one.
            findings.append(Finding(name, Severity.INFO, math.nan, summary, evidence={"error": summary}))
            continue
        if d.windowed:
            windowed[name] = detect
    findings += windowed_findings(signals, windowed, findings, cfg.windows)
    if signals.metrics_only:
        findings.append(
            Finding(
                "coverage",
                Severity.INFO,
                math.nan,
                "Metrics-only input (no rollouts): a weaker verdict. Not checked: "
                + "; ".join(METRICS_ONLY_GAPS)
                + ".",
                evidence={"not_checked": list(METRICS_ONLY_GAPS)},
            )
        )
    return sorted(findings, key=lambda f: (-f.severity, -(0 if math.isnan(f.score) else f.score)))


def _with_signal(detect: DetectFn, config: Any, primary: str | None, signals: Signals) -> list[Finding]:
    """`detect`'s findings, each naming `primary` as its signal where it named none."""
    return [
        dataclasses.replace(f, signal=primary) if f.signal is None else f for f in detect(signals, config)
    ]
