"""`placer report`: one self-contained HTML page, checked as text and in a real headless Chromium
(over the DevTools protocol, tests/chromium.py): it renders, the screenshot is not blank, and the
console shows no error or warning, with every host name unresolvable so a network fetch would show."""

from __future__ import annotations

import base64
import html
import io
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from placer.html_report import render_report
from tests.chromium import find_chromium, load_page
from tests.helpers import cli_in_process, run_cli

needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it where it can)",
)


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.tags: set[str] = set()
        self.imgs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data", "action") and value is not None:
                self.refs.append(value)
            if tag == "img" and name == "src" and value:
                self.imgs.append(value)


def _parse(page: str) -> _Refs:
    refs = _Refs()
    refs.feed(page)
    return refs


@pytest.mark.parametrize("case", ["korea", "korea-rollout", "tiny", "options"])
def test_page_is_self_contained_and_complete(output_plans, case):
    _, _, scenario, plan = output_plans[case]
    page = render_report(scenario, plan)
    refs = _parse(page)
    assert refs.refs and all(r.startswith(("data:", "#")) for r in refs.refs), refs.refs
    assert not refs.tags & {"script", "link", "iframe", "object", "embed"}
    assert not re.search(r"url\(|@import|https?://", page.split("<body>")[0])  # the inline CSS loads nothing
    for src in refs.imgs:  # every image is a real SVG
        head = base64.b64decode(src.split(",", 1)[1])[:200]
        assert src.startswith("data:image/svg+xml;base64,") and b"<svg" in head
    assert len(refs.imgs) == (2 if plan.schedule else 1)  # the map, and a rollout's timeline
    for sl in plan.sites:
        if sl.racks:
            assert f"<td>{sl.site}</td>" in page
    for t in scenario.demand.tenants:
        assert t.id in page
    for c in plan.cost_breakdown:
        assert f"<td>{c.name}</td>" in page
    if plan.npv is not None:
        assert "Net present value by term" in page
        for p in plan.schedule:
            assert f"<td>{p.period}</td>" in page
    if plan.schedule and plan.grid is not None:  # each quarter's N-1 verdict in the schedule
        assert "grid N-1 · worst line" in page
        table = page.split("grid N-1 · worst line", 1)[1].split("</table>", 1)[0]
        verdicts = [p.grid.n_minus_1 for p in plan.schedule[:-1]] + [plan.grid.n_minus_1]
        assert re.findall(r'<span class="(?:ok|bad|)">(secure|insecure|not_checked)</span>', table) == verdicts
    if plan.investments:
        assert all(inv.option in page for inv in plan.investments)
    for cp in plan.critical_path or []:  # each site's path, in the plan's words
        assert html.escape(cp.text.split(": ", 1)[1]) in page


def test_scenario_text_is_escaped(output_plans):
    _, _, scenario, plan = output_plans["tiny"]
    hostile = scenario.model_copy(update={"description": '<script>alert("x")</script><img src=http://x/>'})
    page = render_report(hostile, plan.model_copy(update={"scenario_digest": hostile.digest()}))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert all(r.startswith(("data:", "#")) for r in _parse(page).refs)


@needs_chromium
def test_the_browser_check_catches_console_errors_and_fetches(tmp_path):
    """The check below can fail: a page with a console error, an exception, a missing file and a
    network image shows each of them."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><title>bad</title></head><body><img src="missing.png">'
        '<img src="https://example.invalid/x.png"><script>console.error("boom"); nothere();</script></body></html>'
    )
    problems = " | ".join(load_page(bad).problems)
    for expected in ("boom", "nothere", "ERR_FILE_NOT_FOUND", "ERR_NAME_NOT_RESOLVED"):
        assert expected in problems, problems


@needs_chromium
@pytest.mark.parametrize("case", ["korea", "korea-rollout"])
def test_report_renders_in_chromium_without_console_errors(output_plans, tmp_path, case):
    from PIL import Image

    _, path, _, plan = output_plans[case]
    target = tmp_path / "report.html"
    assert cli_in_process("report", str(path), "-o", str(target)) == 0
    result = load_page(target)
    assert result.problems == []
    assert result.title == f"placer plan: {plan.scenario}"
    img = np.asarray(Image.open(io.BytesIO(result.screenshot_png)).convert("RGB"))
    assert img.shape[1] == 1280 and img.shape[0] == result.content_height_px > 2000  # the whole page
    # not blank: the map's pies and the tables' text, top to bottom
    for band in np.array_split(img, 4):
        assert band.reshape(-1, 3).std(axis=0).max() > 20
    (tmp_path / "screenshot.png").write_bytes(result.screenshot_png)


def test_cli_refuses_bad_input(output_plans, tmp_path):
    source, path, _, _ = output_plans["tiny"]
    r = run_cli("report", str(path), "--scenario", source, "-o", str(tmp_path / "report.pdf"))
    assert r.returncode == 2 and ".html" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert cli_in_process("report", str(path), "-o", str(tmp_path / "r.html")) == 2  # tiny is not built in
    assert list(tmp_path.iterdir()) == []


def test_the_verifiers_verdict_is_on_the_page(output_plans):
    _, _, scenario, plan = output_plans["tiny"]
    assert '<span class="ok">valid</span>' in render_report(scenario, plan)
    first = plan.assignments[0].model_copy(update={"racks": plan.assignments[0].racks + 1})
    lie = plan.model_copy(update={"assignments": [first, *plan.assignments[1:]]})
    page = render_report(scenario, lie)
    assert "Verification: violations" in page and "<td>REPORTED_MISMATCH</td>" in page
    assert '<span class="ok">valid</span>' not in page


def test_a_rollout_held_back_by_the_grid_says_so_per_quarter():
    """rollout_grid (MILP): each quarter before the 2027Q3 rebuild shows a line with under a rack
    (0.144 MW) left, and the cheap site's critical path names that line."""
    from placer.io import load_scenario
    from solvers import solve
    from tests.helpers import DATA

    scenario = load_scenario(DATA / "rollout_grid.yaml")
    plan = solve(scenario, "milp", option_worth=False)
    page = render_report(scenario, plan, coastline=False)
    table = page.split("grid N-1 · worst line", 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr>")[1:]
    assert [r.split("</td>")[0] for r in rows] == [f"<td>{p.period}" for p in plan.schedule]
    left = [re.search(r"\((?:[^()]*: )?([0-9.]+) MW left\)", r) for r in rows]
    assert all(m is not None and float(m.group(1)) < 0.144 for m in left[:4])
    assert left[4:] == [None, None]  # rebuilt: lots of room
    assert "grid line P-B within a rack of its 55 MW limit" in page or "grid line B-C within a rack" in page


def test_a_laid_out_plan_shows_its_hall_view_and_every_tenants_worst_fault():
    """The report of a plan with a rack-level layout draws the smallest laid-out site's halls (one
    square per position, a filled one per rack) and lists each tenant's worst single-fault loss."""
    from placer.cli_layout import lay_out
    from placer.hall_view import hall_view_svg, smallest_site
    from placer.io import load_scenario
    from placer.map import tenant_colours
    from solvers import solve
    from tests.helpers import DATA

    sc = load_scenario(DATA / "tiny.yaml")
    plan = lay_out(sc, solve(sc, "cpsat", time_limit_s=10), time_limit=5)
    assert plan.layout is not None
    site = smallest_site(plan)
    assert site is not None
    svg = hall_view_svg(plan, site, tenant_colours(sc)).decode()
    racks_there = sum(1 for r in plan.layout.racks if r.site == site)
    assert svg.count('fill="#') == racks_there + len({r.tenant for r in plan.layout.racks if r.site == site})
    page = render_report(sc, plan, coastline=False)
    assert "Inside the sites" in page and f"Hall view of {site}" in page
    exposure = [t for s in plan.layout.sites for t in s.exposure]
    assert exposure and all(html.escape(t.worst_fault) in page for t in exposure)
