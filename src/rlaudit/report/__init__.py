"""What a person reads: the HTML report and the terminal summary of any judgement.

Both render the dict of `rlaudit.judgement.Judgement.to_json()` (or the same dict read back from a
saved JSON) and nothing else; model text in it is untrusted and each of them escapes it.
"""

from rlaudit.report.html import render_html, write_html
from rlaudit.report.terminal import print_summary

__all__ = ["print_summary", "render_html", "write_html"]
