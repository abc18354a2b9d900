"""The report in a real headless browser: Debian's chromium (`apt-get install chromium`) driven by
Playwright's Python package, never Playwright's own browser download.

Skipped when /usr/bin/chromium is missing, unless RLAUDIT_REQUIRE_BROWSER=1 (CI sets it): then the
missing browser is a failure. One browser per module; each test opens its own page.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rlaudit.report import write_html

from ._helpers import HOSTILE_COMPONENT, HOSTILE_RUN, HOSTILE_SPLIT, PAYLOAD

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
KINDS = ("monitor", "audit", "elicit", "eval", "organism")
SLACK = 1  # px of rounding allowed in the overflow check


def _unavailable(reason: str) -> None:
    if os.environ.get("RLAUDIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"RLAUDIT_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def files(docs: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pages")
    paths = {}
    for kind in KINDS:
        paths[kind] = out / f"{kind}.html"
        write_html(docs[kind], paths[kind])
    return paths


@dataclass
class Visit:
    """An open page and everything it reported while loading."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def context(browser: Any) -> Iterator[Any]:
    c = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def visit(context: Any) -> Iterator[Any]:
    pages = []

    def open_(path: Path, width: int = 1280) -> Visit:
        page = context.new_page()
        pages.append(page)
        page.set_viewport_size({"width": width, "height": 800})
        v = Visit(page)
        page.on("console", lambda m: v.errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: v.errors.append(str(e)))
        page.on("request", lambda r: v.requests.append(r.url))
        page.on("requestfailed", lambda r: v.failed.append(r.url))
        page.on("dialog", lambda d: (v.dialogs.append(d.message), d.dismiss()))
        page.goto(path.as_uri(), wait_until="load")
        return v

    yield open_
    for page in pages:
        page.close()


@pytest.mark.parametrize("kind", KINDS)
def test_page_renders_cleanly_and_every_figure_is_drawn(visit, files, docs, kind):
    v = visit(files[kind])
    assert v.errors == [] and v.failed == [] and v.dialogs == []
    assert v.requests == [files[kind].as_uri()]  # the page itself, nothing else
    figures = v.page.evaluate(
        """() => [...document.querySelectorAll('figure.fig')].map(f => ({
            id: f.id,
            svgs: [...f.querySelectorAll('svg.chart')].map(s => {
                const box = s.getBoundingClientRect();
                return {marks: s.querySelectorAll('path, line, rect, circle').length, w: box.width, h: box.height};
            })
        }))"""
    )
    assert figures, f"the {kind} page has no figure"
    for fig in figures:
        assert fig["svgs"], fig["id"]
        for s in fig["svgs"]:
            assert s["marks"] > 0 and s["w"] > 200 and s["h"] > 100, fig["id"]
    banner = v.page.evaluate(
        "() => [document.getElementById('verdict').innerText, document.getElementById('headline').innerText]"
    )
    assert banner == [docs[kind]["verdict"] or "not judged", docs[kind]["headline"]]
    assert v.page.title().startswith(f"rlaudit {kind} report")


@pytest.mark.parametrize("kind", ["monitor", "audit"])
def test_a_finding_link_scrolls_its_plot_into_view(visit, files, kind):
    v = visit(files[kind])
    hrefs = v.page.eval_on_selector_all("a.plot-link", "els => els.map(e => e.getAttribute('href'))")
    assert hrefs, f"no finding of the {kind} page links to a plot"
    for href in dict.fromkeys(hrefs):
        v.page.evaluate("() => window.scrollTo(0, 0)")
        v.page.locator(f'a.plot-link[href="{href}"]').first.click()
        box = v.page.evaluate(
            """(id) => { const el = document.getElementById(id).closest('figure');
                         const r = el.getBoundingClientRect();
                         return {top: r.top, bottom: r.bottom, height: window.innerHeight}; }""",
            href[1:],
        )
        assert 0 <= box["top"] < box["height"] and box["bottom"] > 0, (href, box)
        assert v.page.evaluate("() => location.hash") == href


def test_hostile_text_stays_inert(visit, files, tmp_path):
    # Twice: as written (under the page's CSP), and with the CSP removed, so that the escaping alone is
    # what keeps the payloads inert.
    text = files["monitor"].read_text(encoding="utf-8")
    bare = tmp_path / "no-csp.html"
    bare.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text), encoding="utf-8")
    for path in (files["monitor"], bare):
        v = visit(path)
        v.page.mouse.move(300, 300)
        for el in v.page.locator("pre.completion").all()[:5]:
            el.hover()
        dom = v.page.evaluate(
            """() => ({
                scripts: document.querySelectorAll('script').length,
                imgs: document.querySelectorAll('img, iframe, object, embed, svg a, foreignObject').length,
                handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))
                            .filter(n => n.startsWith('on')),
                hrefs: [...document.querySelectorAll('[href]')].map(e => e.getAttribute('href')),
                text: document.body.innerText,
                titles: [...document.querySelectorAll('svg title')].map(t => t.textContent),
            })"""
        )
        assert v.dialogs == [] and v.errors == []
        assert dom["scripts"] == 0 and dom["imgs"] == 0 and dom["handlers"] == []
        assert dom["hrefs"] and all(h.startswith("#") for h in dom["hrefs"])
        for payload in (PAYLOAD, HOSTILE_RUN, HOSTILE_SPLIT):
            assert payload in dom["text"]  # shown, as text
        assert any(HOSTILE_COMPONENT in t for t in dom["titles"])  # legend of the components plot


@pytest.mark.parametrize("kind", KINDS)
def test_no_horizontal_page_overflow_on_a_phone_or_a_laptop(visit, files, kind):
    v = visit(files[kind], width=390)
    for width in (390, 1280):
        v.page.set_viewport_size({"width": width, "height": 800})
        scroll, inner = v.page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert inner == width
        assert scroll <= inner + SLACK, f"{kind} at {width}px: page is {scroll}px wide"
