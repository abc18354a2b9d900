from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from rlaudit.report import svg
from rlaudit.report.svg import Band, Bars, HLine, Series, bar_chart, line_chart, nice_axis

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script>" onload="alert(2)'


def parse(text: str) -> ET.Element:
    """An SVG string as XML: it parses only if no text broke out of its element or attribute."""
    return ET.fromstring(text)


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


def test_nice_axis_covers_the_range_with_round_ticks():
    a = nice_axis(0.03, 0.87)
    assert a.lo <= 0.03 and a.hi >= 0.87
    assert [t for _, t in a.ticks] == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
    b = nice_axis(3, 3)  # a flat line still gets an axis
    assert b.lo < 3 < b.hi and len(b.ticks) >= 2
    assert [t for _, t in nice_axis(0, 40, n=6).ticks][:3] == ["0", "10", "20"]


def test_text_is_escaped_and_svg_is_well_formed():
    s = Series(HOSTILE, [0, 1], [0.1, 0.2], "#000")
    out = line_chart([s], title=HOSTILE, x_title=HOSTILE, y_title=HOSTILE, bands=[Band(0, 1, HOSTILE, "#f00")],
                     hlines=[HLine(0.5, HOSTILE)])  # fmt: skip
    root = parse(out)
    assert not list(root.iter(f"{NS}script")) and "onload" not in root.attrib
    assert all(not k.startswith("on") for el in root.iter() for k in el.attrib)
    assert HOSTILE in texts(root)  # shown as text (axis title, legend)
    tips = ["".join(t.itertext()) for t in root.iter(f"{NS}title")]
    assert any(HOSTILE in t for t in tips)


def test_missing_values_break_the_line_and_an_empty_series_draws_nothing():
    gappy = Series("gappy", [0, 1, 2, 3, 4], [0.1, 0.2, None, 0.4, 0.5], "#111")
    empty = Series("empty", [0, 1, 2], [None, None, None], "#222")
    root = parse(line_chart([gappy, empty], title="t", x_title="step", y_title="y"))
    paths = [p for p in root.iter(f"{NS}path") if p.get("class") == "series"]
    assert len(paths) == 1
    assert paths[0].get("d").count("M") == 2  # two segments around the gap
    assert "empty" not in texts(root)
    assert "gappy" in texts(root)


def test_legend_sits_below_the_plot_area():
    series = [Series(f"line {i} with a long name", [0, 1, 2], [0, 1, i / 10], "#333") for i in range(8)]
    root = parse(line_chart(series, title="t", x_title="step", y_title="y"))
    axis = next(p for p in root.iter(f"{NS}path") if re.match(r"M[\d.]+ [\d.]+V", p.get("d", "")))
    bottom = float(re.search(r"V([\d.]+)", axis.get("d")).group(1))
    legend_y = [
        float(t.get("y"))
        for g in root.iter(f"{NS}g")
        if g.get("class") == "legend-item"
        for t in g.iter(f"{NS}text")
    ]
    assert len(legend_y) == 8 and min(legend_y) > bottom + 30  # below the tick labels and x title
    height = float(root.get("viewBox").split()[3])
    assert max(legend_y) < height
    assert all(
        float(t.get("x")) < svg.WIDTH
        for g in root.iter(f"{NS}g")
        if g.get("class") == "legend-item"
        for t in g.iter(f"{NS}text")
    )


def test_markers_are_capped_but_keep_the_last_point():
    s = Series("long", list(range(500)), [i / 500 for i in range(500)], "#000")
    root = parse(line_chart([s], title="t", x_title="step", y_title="y"))
    circles = [c for c in root.iter(f"{NS}circle") if c.find(f"{NS}title") is not None]
    assert len(circles) <= svg.MAX_MARKERS + 1
    assert "".join(circles[-1].find(f"{NS}title").itertext()) == "long · step 499: 0.998"


def test_each_series_gets_its_own_colour_and_dash():
    assert len(set(svg.PALETTE)) == len(svg.PALETTE) and len(set(svg.DASHES)) == len(svg.DASHES)


def test_band_is_clipped_to_the_data_and_labelled_above_the_plot():
    s = Series("s", [0, 10], [0.0, 1.0], "#000")
    root = parse(
        line_chart([s], title="t", x_title="step", y_title="y", bands=[Band(5, 99, "F1 detector", "#f00")])
    )
    rect = next(r for r in root.iter(f"{NS}rect") if r.get("class") == "band")
    assert float(rect.get("x")) + float(rect.get("width")) <= svg.WIDTH - svg.MARGIN_RIGHT + 0.5
    label = next(t for t in root.iter(f"{NS}text") if t.get("class") == "band-label")
    assert float(label.get("y")) < float(rect.get("y"))  # in the strip above, not over the data


@pytest.mark.parametrize("dots", [False, True])
def test_bar_chart_skips_missing_values_and_draws_intervals(dots):
    bars = [Bars("acc", [0.5, None, 0.9], "#000", errors=[(0.4, 0.6), None, (0.8, 1.0)])]
    root = parse(
        bar_chart(
            ["a", "b\nc", "d"],
            bars,
            title="t",
            x_title="x",
            y_title="y",
            hlines=[HLine(0.7, "min")],
            dots=dots,
        )
    )
    marks = [
        e for e in root.iter() if e.tag in (f"{NS}rect", f"{NS}circle") and e.find(f"{NS}title") is not None
    ]
    assert ["".join(m.find(f"{NS}title").itertext()) for m in marks] == ["acc · a: 0.5", "acc · d: 0.9"]
    whiskers = [p for g in root.iter(f"{NS}g") if g.get("class") == "bars" for p in g.iter(f"{NS}path")]
    assert len(whiskers) == 2
    assert any(t.get("class") == "threshold" for t in root.iter(f"{NS}line"))
    assert ["b", "c"] in [
        [("".join(s.itertext())) for s in t.iter(f"{NS}tspan")] for t in root.iter(f"{NS}text")
    ]
