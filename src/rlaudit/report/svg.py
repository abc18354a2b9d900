"""Static SVG charts drawn in Python: line charts and bar/dot charts for the HTML report.

Why not a plotting library: plotly's bundle alone is ~3.5 MB and needs script; these charts are a few
kilobytes each, need no script at all (the page runs under a CSP without `script-src`), and scale
with their `viewBox` to any width. The interactivity that fits is the SVG `<title>` of each marker:
hovering a point shows its exact value.

Layout rules every chart follows:

- the legend sits below the plot area, never over the data; every line and bar series has an entry,
  with its colour, its dash style and (for lines) its marker;
- shaded windows (`Band`) are labelled in a strip above the plot area, not inside it;
- threshold lines (`HLine`) are dashed, labelled in the legend with their value;
- a point whose value is None is not drawn, and a line breaks there: a series with no value draws
  nothing (the caller leaves it out of the legend too).

Every piece of text (labels, tooltips, titles) is model or user text as far as this module knows:
it is escaped with `html.escape` before it enters the SVG.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 480
"""viewBox width of every chart; the page scales it to its container (`width: 100%`)."""
PLOT_HEIGHT = 180
MARGIN_LEFT = 60
MARGIN_RIGHT = 14
FONT_SIZE = 12
"""Text size in viewBox units: about 9 px on a 390 px phone, 15 px in a 600 px wide figure."""
CHAR_WIDTH = 6.7  # average advance of a 12-unit sans-serif character, for laying out the legend
LEGEND_ROW = 17
BAND_ROW = 14
MAX_MARKERS = 60
"""Markers (with their hover value) per line; a longer line shows every n-th point so a long run's
report stays small. The line itself always has every point."""
MAX_LABEL_CHARS = 58
"""Legend labels longer than this are cut (the full text is in the entry's `<title>`)."""

PALETTE = ("#d55e00", "#0072b2", "#444444", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#8c564b")
"""Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), then a brown."""
DASHES = ("", "7 3", "2 2.5", "9 3 2 3", "4 2 1 2 1 2", "12 4")
"""stroke-dasharray per series index: colour AND dash tell lines apart, in grey print too."""


@dataclass
class Series:
    """One line: points (x, y), y None where there is no value."""

    label: str
    x: Sequence[float]
    y: Sequence[float | None]
    colour: str
    dash: str = ""
    markers: bool = True
    width: float = 1.8
    line: bool = True
    """False: markers only (e.g. one dot per seed)."""
    tips: Sequence[str] | None = None
    """Hover text per point (default: label, x and the exact y)."""


@dataclass
class Band:
    """A shaded x window (e.g. a finding's steps), labelled above the plot."""

    x0: float
    x1: float
    label: str
    colour: str
    opacity: float = 0.16


@dataclass
class HLine:
    """A horizontal reference line (a threshold), named in the legend with its value."""

    y: float
    label: str
    colour: str = "#7b1fa2"
    dash: str = "5 3"


@dataclass
class Bars:
    """One bar series over a chart's groups: a value (None: no bar) and an optional interval per group."""

    label: str
    values: Sequence[float | None]
    colour: str
    errors: Sequence[tuple[float | None, float | None] | None] | None = None
    tips: Sequence[str] | None = None


@dataclass
class _Axis:
    lo: float
    hi: float
    ticks: list[tuple[float, str]] = field(default_factory=list)


def esc(text: object) -> str:
    """Text for SVG content or a double-quoted attribute: &, <, >, " and ' escaped."""
    return html.escape(str(text), quote=True)


def exact(v: float | None) -> str:
    """A value as a hover tooltip shows it: integers whole, floats to 6 significant digits."""
    if v is None:
        return "no value"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def nice_axis(lo: float, hi: float, *, n: int = 5) -> _Axis:
    """An axis from lo to hi widened to round ticks (steps of 1, 2, 2.5 or 5 x 10^k, about `n` of them)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-12:
        pad = abs(lo) * 0.1 or 0.5
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * 0.999)
    start, end = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    decimals = next(d for d in range(12) if abs(round(step * 10**d) - step * 10**d) < 1e-6)
    n_ticks = round((end - start) / step) + 1
    label = (lambda t: f"{t:.3g}") if decimals > 4 else (lambda t: f"{t:.{decimals}f}")
    ticks = [(t, label(t)) for t in (start + i * step for i in range(n_ticks))]
    return _Axis(start, end, ticks)


def _f(v: float) -> str:
    return f"{v:.1f}"


def _open(height: float, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {_f(height)}" '
        f'role="img" aria-label="{esc(title)}" font-family="system-ui, sans-serif" font-size="{FONT_SIZE}">',
        f"<title>{esc(title)}</title>",
    ]


def _legend(entries: list[tuple[str, str, str, str]], top: float) -> tuple[list[str], float]:
    """Legend rows from `top`; entries are (label, colour, dash, kind: line|marker-line|box). Returns
    the SVG parts and the height used."""
    parts: list[str] = []
    x, y = float(MARGIN_LEFT), top + 11
    right = WIDTH - MARGIN_RIGHT
    for label, colour, dash, kind in entries:
        shown = label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"
        w = 30 + CHAR_WIDTH * len(shown) + 14
        if x + w > right and x > MARGIN_LEFT:
            x, y = MARGIN_LEFT, y + LEGEND_ROW
        parts.append(f'<g class="legend-item"><title>{esc(label)}</title>')
        if kind == "box":
            parts.append(
                f'<rect x="{_f(x + 4)}" y="{_f(y - 8)}" width="18" height="10" fill="{colour}" '
                f'fill-opacity="0.75"/>'
            )
        elif kind == "dot":
            parts.append(f'<circle cx="{_f(x + 13)}" cy="{_f(y - 4)}" r="4" fill="{colour}"/>')
        else:
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(
                f'<line x1="{_f(x)}" y1="{_f(y - 4)}" x2="{_f(x + 26)}" y2="{_f(y - 4)}" stroke="{colour}" '
                f'stroke-width="2"{dash_attr}/>'
            )
            if kind == "marker-line":
                parts.append(f'<circle cx="{_f(x + 13)}" cy="{_f(y - 4)}" r="2.8" fill="{colour}"/>')
        parts.append(f'<text x="{_f(x + 30)}" y="{_f(y)}" fill="#333">{esc(shown)}</text></g>')
        x += w
    return parts, (y - top + 6) if entries else 0.0


def _band_strip(bands: Sequence[Band], sx: _Scale) -> tuple[list[str], float]:
    """Labels of the shaded windows, one row each, above the plot area (returns parts, height)."""
    parts = []
    room = WIDTH - MARGIN_RIGHT - MARGIN_LEFT
    for i, b in enumerate(bands):
        # Starts above its window, moved left as far as it must to end inside the chart, cut if longer.
        chars = int(room / (CHAR_WIDTH * 0.95))
        label = b.label if len(b.label) <= chars else b.label[: chars - 1] + "…"
        width = len(label) * CHAR_WIDTH * 0.95
        x = max(MARGIN_LEFT, min(sx(min(b.x0, b.x1)), WIDTH - MARGIN_RIGHT - width))
        parts.append(
            f'<text class="band-label" x="{_f(x)}" y="{_f(BAND_ROW * (i + 1) - 2)}" fill="{b.colour}" '
            f'font-size="11" font-weight="600"><title>{esc(b.label)}</title>{esc(label)}</text>'
        )
    return parts, BAND_ROW * len(bands) + (4 if bands else 0)


class _Scale:
    def __init__(self, lo: float, hi: float, p0: float, p1: float) -> None:
        self.lo, self.hi, self.p0, self.p1 = lo, hi, p0, p1

    def __call__(self, v: float) -> float:
        span = self.hi - self.lo or 1.0
        return self.p0 + (v - self.lo) / span * (self.p1 - self.p0)


def _dy(line: int) -> str:
    return f' dy="{FONT_SIZE + 1}"' if line else ""


def _frame(
    parts: list[str], sx: _Scale, sy: _Scale, xa: _Axis, ya: _Axis, *, x_title: str, y_title: str, grid: bool
) -> float:
    """Axes, ticks, tick labels (a "\\n" in one starts a second line), grid and axis titles. Returns
    the height used below the plot area."""
    top, bottom = sy.p1, sy.p0
    left, right = sx.p0, sx.p1
    for v, text in ya.ticks:
        y = sy(v)
        if grid:
            parts.append(
                f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(right)}" y2="{_f(y)}" stroke="#eeeeee"/>'
            )
        parts.append(
            f'<text x="{_f(left - 5)}" y="{_f(y + 4)}" text-anchor="end" fill="#555">{esc(text)}</text>'
        )
    x_lines = max((len(text.split("\n")) for _, text in xa.ticks), default=1)
    for v, text in xa.ticks:
        x = sx(v)
        parts.append(
            f'<line x1="{_f(x)}" y1="{_f(bottom)}" x2="{_f(x)}" y2="{_f(bottom + 4)}" stroke="#777"/>'
        )
        lines = "".join(
            f'<tspan x="{_f(x)}"{_dy(i)}>{esc(t)}</tspan>' for i, t in enumerate(text.split("\n"))
        )
        parts.append(f'<text y="{_f(bottom + 16)}" text-anchor="middle" fill="#555">{lines}</text>')
    parts.append(f'<path d="M{_f(left)} {_f(top)}V{_f(bottom)}H{_f(right)}" fill="none" stroke="#777"/>')
    below = 16 + (x_lines - 1) * (FONT_SIZE + 1) + 16
    parts.append(
        f'<text x="{_f((left + right) / 2)}" y="{_f(bottom + below)}" text-anchor="middle" fill="#333">'
        f"{esc(x_title)}</text>"
    )
    mid = (top + bottom) / 2
    fit = ""  # a title longer than the axis is squeezed to its length, never drawn past it
    if CHAR_WIDTH * len(y_title) > bottom - top:
        fit = f' textLength="{_f(bottom - top)}" lengthAdjust="spacingAndGlyphs"'
    parts.append(
        f'<text x="14" y="{_f(mid)}" text-anchor="middle" fill="#333" transform="rotate(-90 14 {_f(mid)})"{fit}>'
        f"{esc(y_title)}</text>"
    )
    return below + 8


def _path(s: Series, sx: _Scale, sy: _Scale) -> str:
    """The line of a series, broken where a value is missing."""
    d, pen = [], False
    for x, y in zip(s.x, s.y, strict=True):
        if y is None:
            pen = False
            continue
        d.append(f"{'L' if pen else 'M'}{_f(sx(x))} {_f(sy(y))}")
        pen = True
    dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
    return (
        f'<path class="series" d="{"".join(d)}" fill="none" stroke="{s.colour}" stroke-width="{s.width}"'
        f'{dash} stroke-linejoin="round"><title>{esc(s.label)}</title></path>'
    )


def _markers(s: Series, sx: _Scale, sy: _Scale, x_title: str) -> list[str]:
    points = [(i, x, y) for i, (x, y) in enumerate(zip(s.x, s.y, strict=True)) if y is not None]
    stride = max(1, math.ceil(len(points) / MAX_MARKERS))
    shown = points[::stride]
    if points and shown[-1] != points[-1]:
        shown.append(points[-1])  # the last value is the one a reader looks for
    out = [f'<g fill="{s.colour}">']
    for i, x, y in shown:
        tip = s.tips[i] if s.tips is not None else f"{s.label} · {x_title} {exact(x)}: {exact(y)}"
        out.append(f'<circle cx="{_f(sx(x))}" cy="{_f(sy(y))}" r="2.6"><title>{esc(tip)}</title></circle>')
    out.append("</g>")
    return out


def _x_axis(xs: list[float], x_ticks: Sequence[tuple[float, str]] | None) -> _Axis:
    """The data's x range, padded by half a step (or 4%), with round ticks inside it (or `x_ticks`)."""
    lo, hi = min(xs, default=0.0), max(xs, default=1.0)
    integral = all(float(x).is_integer() for x in xs)
    pad = 0.5 if integral and hi - lo <= 40 else (hi - lo) * 0.02 or 0.5
    if x_ticks:
        return _Axis(lo - pad, hi + pad, list(x_ticks))
    ticks = [(t, text) for t, text in nice_axis(lo, hi, n=6).ticks if lo - pad <= t <= hi + pad]
    return _Axis(lo - pad, hi + pad, ticks)


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_title: str,
    y_title: str,
    bands: Sequence[Band] = (),
    hlines: Sequence[HLine] = (),
    y_range: tuple[float, float] | None = None,
    x_ticks: Sequence[tuple[float, str]] | None = None,
) -> str:
    """A line chart; `x_ticks` (position, label) replaces the automatic x ticks (categorical or log x)."""
    xs = [x for s in series for x, y in zip(s.x, s.y, strict=True) if y is not None]
    ys = [y for s in series for y in s.y if y is not None] + [h.y for h in hlines]
    xa = _x_axis(xs + [t for t, _ in x_ticks or []], x_ticks)
    # A window reaching past the data is drawn to the edge of the plot, not by widening the axis.
    bands = [
        Band(max(b.x0, xa.lo), min(b.x1, xa.hi), b.label, b.colour, b.opacity)
        for b in bands
        if b.x1 >= xa.lo and b.x0 <= xa.hi
    ]
    ya = nice_axis(*y_range) if y_range else nice_axis(min(ys, default=0.0), max(ys, default=1.0))

    sx = _Scale(xa.lo, xa.hi, MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    band_parts, band_h = _band_strip(bands, sx)
    top = 8 + band_h
    sy = _Scale(ya.lo, ya.hi, top + PLOT_HEIGHT, top)
    body: list[str] = []
    for b in bands:
        x0, x1 = sorted((sx(b.x0), sx(b.x1)))
        body.append(
            f'<rect class="band" x="{_f(x0)}" y="{_f(top)}" width="{_f(max(x1 - x0, 2.0))}" '
            f'height="{_f(PLOT_HEIGHT)}" fill="{b.colour}" fill-opacity="{b.opacity}">'
            f"<title>{esc(b.label)}</title></rect>"
        )
    below = _frame(body, sx, sy, xa, ya, x_title=x_title, y_title=y_title, grid=True)
    body += [_threshold(h, sx, sy) for h in hlines]
    for s in series:
        if any(y is not None for y in s.y):
            if s.line:
                body.append(_path(s, sx, sy))
            if s.markers or not s.line:
                body += _markers(s, sx, sy, x_title)
    entries = [
        (s.label, s.colour, s.dash, "dot" if not s.line else "marker-line" if s.markers else "line")
        for s in series
        if any(y is not None for y in s.y)
    ] + [(h.label, h.colour, h.dash, "line") for h in hlines]
    legend, legend_h = _legend(entries, top + PLOT_HEIGHT + below)
    height = top + PLOT_HEIGHT + below + legend_h + 4
    return "".join([*_open(height, title), *band_parts, *body, *legend, "</svg>"])


def _threshold(h: HLine, sx: _Scale, sy: _Scale) -> str:
    return (
        f'<line class="threshold" x1="{_f(sx.p0)}" y1="{_f(sy(h.y))}" x2="{_f(sx.p1)}" y2="{_f(sy(h.y))}" '
        f'stroke="{h.colour}" stroke-width="1.4" stroke-dasharray="{h.dash}"><title>{esc(h.label)}</title></line>'
    )


def _one_line(text: str) -> str:
    return text.replace("\n", " · ")


def _bar(
    cx: float,
    y: float,
    base: float,
    width: float,
    tip: str,
    dot: bool,
    err: tuple[float | None, float | None] | None,
    sy: _Scale,
) -> list[str]:
    """One bar (or dot) at x `cx` up to `y`, with its hover text and its interval's whisker."""
    if dot:
        out = [f'<circle cx="{_f(cx)}" cy="{_f(y)}" r="4.5"><title>{esc(tip)}</title></circle>']
    else:
        y0, y1 = sorted((base, y))
        out = [
            f'<rect x="{_f(cx - width * 0.45)}" y="{_f(y0)}" width="{_f(width * 0.9)}" '
            f'height="{_f(max(y1 - y0, 1.0))}" fill-opacity="0.8" stroke="none"><title>{esc(tip)}</title></rect>'
        ]
    if err and err[0] is not None and err[1] is not None:
        lo, hi = sy(err[0]), sy(err[1])
        out.append(
            f'<path d="M{_f(cx)} {_f(lo)}V{_f(hi)}M{_f(cx - 4)} {_f(lo)}h8M{_f(cx - 4)} {_f(hi)}h8" '
            f'stroke="#222" stroke-width="1.2" fill="none"/>'
        )
    return out


def bar_chart(
    groups: Sequence[str],
    bars: Sequence[Bars],
    *,
    title: str,
    x_title: str,
    y_title: str,
    hlines: Sequence[HLine] = (),
    y_range: tuple[float, float] | None = None,
    dots: bool = False,
    plot_height: float = PLOT_HEIGHT,
) -> str:
    """Grouped bars (or dots, `dots=True`) per group, with optional intervals drawn as whiskers."""
    values = [v for b in bars for v in b.values if v is not None]
    values += [e for b in bars for pair in (b.errors or []) if pair for e in pair if e is not None]
    values += [h.y for h in hlines] + ([] if dots else [0.0])
    ya = nice_axis(*y_range) if y_range else nice_axis(min(values, default=0.0), max(values, default=1.0))
    n = max(1, len(groups))
    top = 8
    sy = _Scale(ya.lo, ya.hi, top + plot_height, top)
    slot = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / n
    sx = _Scale(0, n, MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    xa = _Axis(0, n, [(i + 0.5, g) for i, g in enumerate(groups)])
    body: list[str] = []
    below = _frame(body, sx, sy, xa, ya, x_title=x_title, y_title=y_title, grid=True)
    if ya.lo < 0 < ya.hi:
        body.append(
            f'<line x1="{_f(sx.p0)}" y1="{_f(sy(0))}" x2="{_f(sx.p1)}" y2="{_f(sy(0))}" stroke="#999"/>'
        )
    width = min(42.0, slot * 0.8 / max(1, len(bars)))
    base = sy(0.0 if ya.lo <= 0 <= ya.hi else ya.lo)
    for j, b in enumerate(bars):
        body.append(f'<g class="bars" fill="{b.colour}" stroke="{b.colour}">')
        for i, v in enumerate(b.values):
            if v is not None:
                cx = MARGIN_LEFT + slot * (i + 0.5) + (j - (len(bars) - 1) / 2) * width
                tip = b.tips[i] if b.tips is not None else f"{b.label} · {_one_line(groups[i])}: {exact(v)}"
                err = b.errors[i] if b.errors is not None else None
                body += _bar(cx, sy(v), base, width, tip, dots, err, sy)
        body.append("</g>")
    body += [_threshold(h, sx, sy) for h in hlines]
    entries = [(b.label, b.colour, "", "dot" if dots else "box") for b in bars] + [
        (h.label, h.colour, h.dash, "line") for h in hlines
    ]
    legend, legend_h = _legend(entries, top + plot_height + below)
    height = top + plot_height + below + legend_h + 4
    return "".join([*_open(height, title), *body, *legend, "</svg>"])
