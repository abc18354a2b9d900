"""The outputs of `rlaudit monitor`: a JSON summary, a self-contained HTML report, a terminal summary.

All three render a `MonitorResult` and nothing else; model text in it is untrusted and is escaped
by each of them.
"""

from rlaudit.report.html import write_html
from rlaudit.report.summary import to_summary
from rlaudit.report.terminal import print_summary

__all__ = ["print_summary", "to_summary", "write_html"]
