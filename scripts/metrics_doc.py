"""Write docs/metrics.md: every step signal and every tracker key, generated from the code.

    python scripts/metrics_doc.py            # rewrite docs/metrics.md
    python scripts/metrics_doc.py --check    # exit 1 when docs/metrics.md is out of date

The signals come from the registry (`rlaudit.signals.SIGNALS`) once every detector module is imported
(a detector may register a signal of its own), with the detectors that read each (their declared
`signals`); the tracker keys from the live callback
(`rlaudit.training.monitor_callback.TRACKER_KEYS`). `tests/test_signals.py` runs `render` and fails when
the file differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"


def render() -> str:
    """The text of docs/metrics.md, from the registry and the callback's declared keys."""
    from rlaudit.detectors import DETECTORS  # importing it registers the detectors' own signals
    from rlaudit.signals import metrics_markdown
    from rlaudit.training.tracker_keys import TRACKER_KEYS

    read_by: dict[str, list[str]] = {}
    for name, d in sorted(DETECTORS.items()):
        for signal in d.signals:
            read_by.setdefault(signal, []).append(name)
    return metrics_markdown(TRACKER_KEYS, read_by)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="only check that docs/metrics.md is current")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is out of date: run python scripts/metrics_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
