"""A plan as one self-contained HTML page, readable offline: summary, map, timeline, costs and tables.

:func:`render_report` returns the page as a string; :func:`write_report` writes it atomically. The
page has no script and loads nothing: the style sheet is inline and every image (the map, the
rollout timeline chart) is an SVG inside a ``data:`` URI. Every string from the scenario or the plan
is HTML-escaped.

Sections: the summary (status, the independent verifier's verdict and any violations, objective in
its unit, bound, gap, power against the band, GPUs, stranding), the map (:mod:`placer.map`), for a rollout the timeline chart (GPUs live and stranded
and racks live per quarter), the schedule table (on a grid, with each quarter's N-1 verdict and
most loaded line after an outage) and each site's critical path, the cost breakdown (annual USD/yr; a rollout's
NPV by term in USD in a table of its own), the investments and what to build first, then tables per
tenant, site, substation and the most loaded lines, and the solver's notes.

Complexity: that of :func:`placer.map.draw_map` plus O(A + S + P·K) for the tables.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from placer.export import QuarterGrid, quarter_grids, tenant_gpus_by_site
from placer.io import atomic_write_text
from placer.line_loading import line_loadings
from placer.map import render_map, tenant_colours
from placer.plan import Plan
from placer.scenario import Scenario

LINES_SHOWN = 15

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d232b;
       margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #dde1e6;
padding-bottom: 4px; }
.sub { color: #5a6470; margin: 0 0 16px; font-size: 13px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; }
.card { border: 1px solid #dde1e6; border-radius: 6px; padding: 8px 12px; background: #fbfcfd; }
.card .k { color: #5a6470; font-size: 12px; } .card .v { font-size: 18px; font-weight: 600; }
.ok { color: #1a7f37; } .bad { color: #c62828; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0 10px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #eceef1; text-align: left; vertical-align: top; }
th { background: #f1f3f5; font-weight: 600; } td:has(.track) { white-space: nowrap; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.track { display: inline-block; width: 140px; height: 10px; background: #eef1f4; border-radius: 2px;
         vertical-align: middle; }
.bar { display: block; height: 10px; background: #4c78a8; border-radius: 2px; }
.bar.hot { background: #e45756; }
figure { margin: 8px 0; } figure img { width: 100%; max-width: 1000px; height: auto; border: 1px solid #dde1e6; }
figcaption { color: #5a6470; font-size: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
.note { color: #5a6470; font-size: 12px; }
"""


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _musd(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{'-' if x < 0 else ''}${abs(x) / 1e6:,.1f}M"


def _num(x: float | None, fmt: str = ",.0f") -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def _pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int] | None = None) -> str:
    """An HTML table; ``rows`` are already escaped HTML cells; columns in ``numeric`` align right."""
    numeric = numeric or set()
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bar(share: float, hot: bool = False) -> str:
    width = max(0.0, min(1.0, share)) * 100
    return f'<span class="track"><span class="bar{" hot" if hot else ""}" style="width:{width:.1f}%"></span></span>'


def _img(svg: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/svg+xml;base64,{base64.b64encode(svg).decode("ascii")}">'


def timeline_svg(plan: Plan) -> bytes | None:
    """The rollout's timeline as SVG: GPUs live and stranded per quarter (stacked: delivered), racks
    live on the right axis. None for a single-period plan."""
    if not plan.schedule:
        return None
    import matplotlib
    from matplotlib.figure import Figure

    periods = [p.period for p in plan.schedule]
    live = [p.gpus_live for p in plan.schedule]
    stranded = [p.gpus_stranded for p in plan.schedule]
    racks = [sum(p.installed_racks.values()) for p in plan.schedule]
    fig = Figure(figsize=(10, 3.6), dpi=100)
    ax = fig.add_axes((0.07, 0.2, 0.84, 0.7))
    x = range(len(periods))
    ax.bar(x, live, color="#54a24b", label="GPUs live")
    ax.bar(x, stranded, bottom=live, color="#e45756", label="GPUs stranded (delivered, not live)")
    ax.set_ylim(0, max(p.gpus_delivered for p in plan.schedule) * 1.15 or 1)  # room for the legend
    ax.set_xticks(list(x), periods, rotation=60, fontsize=8)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v / 1000:,.0f}k")
    ax.set_ylabel("GPUs", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    ax2 = ax.twinx()
    ax2.plot(list(x), racks, color="#1d232b", marker="o", markersize=3, linewidth=1.2, label="racks live")
    ax2.set_ylabel("racks live", fontsize=9)
    ax2.set_ylim(0, max(racks + [1]) * 1.15)
    ax2.tick_params(labelsize=8)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False)
    peak = max(range(len(periods)), key=lambda q: stranded[q])
    ax.set_title(
        f"{plan.summary.stranded_gpu_quarters:,} stranded GPU-quarters; peak {stranded[peak]:,} in {periods[peak]}",
        fontsize=9,
        loc="left",
    )
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "placer", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def _summary(scenario: Scenario, plan: Plan, verdict: str) -> str:
    s = plan.summary
    lo, hi = s.power_band_mw
    inside = lo - 1e-6 <= s.facility_power_mw <= hi + 1e-6
    if s.objective_unit == "usd_per_year":
        objective = ("objective (cost per year)", f"{_musd(s.objective)}/yr")
    else:
        objective = ("objective (net present value)", _musd(s.objective))
    cards = [
        ("status", f"{_e(s.status)}{' (interrupted)' if s.interrupted else ''}"),
        ("verifier", verdict),
        (objective[0], objective[1]),
        ("bound / gap", f"{_musd(s.bound)} / {'–' if s.gap is None else f'{s.gap:.3%}'}"),
        ("GPUs placed", f"{s.gpus_placed:,} in {s.racks_placed:,} racks"),
        ("IT power", f"{s.it_power_mw:,.1f} MW"),
        (
            "facility power (band)",
            f'<span class="{"ok" if inside else "bad"}">{s.facility_power_mw:,.1f} MW</span> ({lo:g}–{hi:g})',
        ),
    ]
    if plan.schedule:
        cards.append(("stranded GPU-quarters", f"{s.stranded_gpu_quarters:,}"))
    if plan.grid is not None:
        verdict = plan.grid.n_minus_1
        css = "ok" if verdict == "secure" else "bad" if verdict == "insecure" else ""
        cards.append((f"grid ({_e(plan.grid.security)})", f'<span class="{css}">{_e(verdict)}</span>'))
    used = sum(1 for sl in plan.sites if sl.racks)
    cards.append(("sites used", f"{used} of {len(scenario.topology.sites)}"))
    body = "".join(f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{v}</div></div>' for k, v in cards)
    return f'<div class="cards">{body}</div>'


def _costs(plan: Plan) -> str:
    out = []
    terms = list(plan.cost_breakdown)
    total = math.fsum(c.usd_per_year for c in terms)
    biggest = max((abs(c.usd_per_year) for c in terms), default=1.0) or 1.0
    title = "Cost per year by term (USD/yr)" + (
        ": the final build-out's run rate, not part of the NPV" if plan.npv is not None else ""
    )
    rows = [
        (
            _e(c.name),
            f"{_musd(c.usd_per_year)}/yr",
            _pct(c.usd_per_year / total if total else None),
            _bar(abs(c.usd_per_year) / biggest),
            _e(c.description),
        )
        for c in terms
    ]
    rows.append(("<b>total</b>", f"<b>{_musd(total)}/yr</b>", "", "", ""))
    out.append(f"<h3>{_e(title)}</h3>" + _table(["term", "USD/yr", "share", "", "what"], rows, {1, 2}))
    if plan.npv is not None:
        npv = plan.npv
        biggest = max((abs(t.usd) for t in npv.terms), default=1.0) or 1.0
        rows = [
            (
                _e(t.name),
                _musd(t.usd),
                _pct(t.usd / npv.total_usd if npv.total_usd else None),
                _bar(abs(t.usd) / biggest),
                _e(t.description),
            )
            for t in npv.terms
        ]
        rows.append(("<b>total (NPV)</b>", f"<b>{_musd(npv.total_usd)}</b>", "", "", ""))
        out.append(
            f"<h3>Net present value by term (USD, present value at {npv.discount_rate_per_year:.1%}/yr)</h3>"
            + _table(["term", "USD", "share", "", "what"], rows, {1, 2})
        )
    return "".join(out)


def _grid_cell(g: QuarterGrid | None) -> str:
    """A quarter's N-1 verdict and its most loaded line after an outage (else in the base case), e.g.
    'secure · P-B 100.0% after losing B-C (0.01 MW left)'; the least margin of any line is shown under 1 MW."""
    if g is None:
        return "–"
    css = "ok" if g.n_minus_1 == "secure" else "bad" if g.n_minus_1 == "insecure" else ""
    verdict = f'<span class="{css}">{_e(g.n_minus_1)}</span>'
    if g.violations:
        verdict += f' <span class="bad">({g.violations} violation{"s" if g.violations > 1 else ""})</span>'
    if g.n1_line is not None and g.n1_loading_pct is not None:
        verdict += f" · {_e(g.n1_line)} {g.n1_loading_pct:.1f}% after losing {_e(g.n1_outage)}"
    elif g.base_line is not None and g.base_loading_pct is not None:
        verdict += f" · {_e(g.base_line)} {g.base_loading_pct:.1f}% (base)"
    if g.least_margin_mw is not None and g.least_margin_mw < 1.0:
        left = f"{max(0.0, g.least_margin_mw):.2f} MW left"
        if (g.least_margin_line, g.least_margin_outage) != (g.n1_line, g.n1_outage):
            after = f" after losing {_e(g.least_margin_outage)}" if g.least_margin_outage else " (base)"
            left = f"{_e(g.least_margin_line)}{after}: {left}"
        verdict += f" <b>({left})</b>"
    return verdict


def _schedule(plan: Plan) -> str:
    if not plan.schedule:
        return ""
    grids = {g.period: g for g in quarter_grids(plan)}
    rows = []
    for p in plan.schedule:
        full = [
            sp.site
            for sp in p.sites
            if (sp.it_available_mw > 0 and sp.it_power_mw >= 0.98 * sp.it_available_mw)
            or (sp.facility_available_mw > 0 and sp.facility_power_mw >= 0.98 * sp.facility_available_mw)
        ]
        rows.append(
            (
                _e(p.period),
                f"{p.gpus_delivered:,}",
                f"{p.gpus_live:,}",
                f'<span class="bad">{p.gpus_stranded:,}</span>' if p.gpus_stranded else "0",
                f"{sum(p.installed_racks.values()):,}",
                f"{sum(g.gpus for g in p.going_live):,}",
                _e(", ".join(full)),
            )
            + ((_grid_cell(grids.get(p.period)),) if grids else ())
        )
    note = (
        "<p class='note'>Grid: each quarter's DC power flow against its own network and load, its N-1 "
        "verdict and its most loaded line after an outage (against the no-harm limit).</p>"
        if grids
        else ""
    )
    return note + _table(
        [
            "quarter",
            "GPUs delivered",
            "GPUs live",
            "GPUs stranded",
            "racks live",
            "GPUs going live",
            "sites at capacity",
        ]
        + (["grid N-1 · worst line"] if grids else []),
        rows,
        {1, 2, 3, 4, 5},
    )


def _critical_path(plan: Plan) -> str:
    """Per site, when its first and last racks went live and what held it back (the plan's words)."""
    if not plan.critical_path:
        return ""
    rows = [
        (_e(cp.site), f"{cp.final_racks:,}", _e(cp.first_live), _e(cp.full), _e(cp.text.split(": ", 1)[-1]))
        for cp in sorted(plan.critical_path, key=lambda cp: (cp.full, cp.site), reverse=True)
    ]
    return "<h3>Critical path to energisation</h3>" + _table(
        ["site", "racks", "first live", "full", "what held it back, and what lifted it"], rows, {1}
    )


def _layout(plan: Plan, colours: dict[str, tuple]) -> str:
    """The rack-level layout (plans laid out with ``placer layout`` / ``solve --layout``): the hall
    view of the smallest laid-out site and every tenant's worst single-fault loss at every site."""
    from placer.hall_view import hall_view_svg, smallest_site

    site = smallest_site(plan)
    if site is None or plan.layout is None:
        return ""
    rows = [
        (
            _e(t.tenant),
            _e(s.site),
            f"{t.gpus:,}",
            _e(t.worst_fault),
            f"{t.worst_loss_gpus:,}",
            _pct(t.worst_loss_share),
            f"{t.limit_gpus:,}",
            f"{t.blocks} / {t.block_limit}",
        )
        for s in plan.layout.sites
        for t in s.exposure
    ]
    svg = hall_view_svg(plan, site, colours)
    # drawn at its own pixel size (the page's figures stretch to the column; squares would balloon)
    width = svg.split(b'width="', 1)[1].split(b'"', 1)[0].decode()
    img = _img(svg, f"hall view of {site}").replace("<img ", f'<img style="width:{width}px;max-width:100%" ', 1)
    return (
        "<h2>Inside the sites</h2>"
        f"<figure>{img}<figcaption>Hall view of {_e(site)}: one square per rack "
        "position, coloured by tenant (outline: empty).</figcaption></figure>"
        "<h3>Worst single fault per tenant and site</h3>"
        + _table(
            ["tenant", "site", "GPUs", "worst fault", "GPUs lost", "share", "limit", "blocks / limit"],
            rows,
            {2, 4, 5, 6},
        )
    )


def _investments(plan: Plan) -> str:
    if not plan.investments:
        return ""
    rows = []
    for inv in plan.investments:
        w = inv.worth
        saved = "forced" if w is None else "needed" if w.npv_saved_usd is None else _musd(w.npv_saved_usd)
        gq = "" if w is None or w.stranded_gpu_quarters_saved is None else f"{w.stranded_gpu_quarters_saved:,}"
        rows.append(
            (
                _e(inv.period),
                _e(inv.option),
                _e(inv.kind),
                _musd(inv.capex_usd),
                f"{_musd(inv.fixed_usd_per_year)}/yr",
                saved,
                gq,
            )
        )
    out = "<h2>Investments (power options built)</h2>" + _table(
        ["quarter", "option", "kind", "capex", "fixed", "NPV saved", "GPU-quarters saved"], rows, {3, 4, 5, 6}
    )
    if plan.build_first:
        items = "".join(f"<li>{_e(b.text)}</li>" for b in plan.build_first)
        out += f"<h3>What to build first</h3><ol>{items}</ol>"
    return out


def _tenants(scenario: Scenario, plan: Plan, colours: dict[str, tuple]) -> str:
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    it: dict[str, float] = defaultdict(float)
    for a in plan.assignments:
        per[a.tenant][a.site] += a.gpus
        it[a.tenant] += a.it_power_mw
    rows = []
    for t in scenario.demand.tenants:
        r, g, b = (round(255 * c) for c in colours[t.id][:3])
        where = ", ".join(f"{_e(s)} ({n:,})" for s, n in sorted(per[t.id].items(), key=lambda kv: -kv[1]) if n)
        rows.append(
            (
                f'<span class="swatch" style="background:rgb({r},{g},{b})"></span>{_e(t.id)}',
                f"{sum(per[t.id].values()):,}",
                f"{t.total_gpus:,}",
                f"{it[t.id]:,.1f}",
                where,
            )
        )
    return _table(["tenant", "GPUs placed", "demand", "IT MW", "sites (GPUs)"], rows, {1, 2, 3})


def _sites(scenario: Scenario, plan: Plan) -> str:
    regions = {s.id: s.region for s in scenario.topology.sites}
    tenants = tenant_gpus_by_site(plan)
    rows = []
    for sl in sorted(plan.sites, key=lambda x: -x.facility_power_mw):
        if not sl.racks:
            continue
        use = sl.it_power_mw / sl.it_capacity_mw if sl.it_capacity_mw > 0 else 0.0
        rows.append(
            (
                _e(sl.site),
                _e(regions.get(sl.site, "")),
                f"{sl.gpus:,}",
                f"{sl.it_power_mw:,.1f} / {sl.it_capacity_mw:,.0f}",
                f"{_pct(use)} {_bar(use, hot=use >= 0.98)}",
                f"{sl.facility_power_mw:,.1f}",
                f"{sl.feed_n1_capacity_mw:,.0f}",
                _e(", ".join(f"{t} {g:,}" for t, g in tenants.get(sl.site, {}).items())),
            )
        )
    return _table(
        ["site", "region", "GPUs", "IT MW / capacity", "IT use", "facility MW", "feed N-1 MW", "tenants (GPUs)"],
        rows,
        {2, 3, 5, 6},
    )


def _substations(plan: Plan) -> str:
    rows = [
        (
            _e(b.substation),
            f"{b.load_mw:,.1f}",
            f"{b.headroom_mw:,.0f}",
            f"{_pct(b.load_mw / b.headroom_mw if b.headroom_mw else None)} "
            f"{_bar(b.load_mw / b.headroom_mw if b.headroom_mw else 0.0, hot=b.headroom_mw > 0 and b.load_mw >= 0.98 * b.headroom_mw)}",
        )
        for b in sorted(plan.substations, key=lambda b: -b.load_mw)
        if b.load_mw > 0
    ]
    return _table(["substation", "new load MW", "headroom MW", "headroom used"], rows, {1, 2})


def _lines(scenario: Scenario, plan: Plan) -> str:
    loads = line_loadings(scenario, plan)
    if not loads:
        return ""
    loads.sort(key=lambda ln: -max(ln.loading_pct, ln.n1_loading_pct or 0.0))
    rows = [
        (
            _e(ln.line),
            f"{ln.flow_mw:,.0f}",
            f"{ln.loading_pct:.1f}%",
            "–" if ln.n1_loading_pct is None else f"{ln.n1_loading_pct:.1f}%",
            _e(ln.n1_outage or ""),
            _bar(
                max(ln.loading_pct, ln.n1_loading_pct or 0.0) / 100,
                hot=max(ln.loading_pct, ln.n1_loading_pct or 0) >= 95,
            ),
        )
        for ln in loads[:LINES_SHOWN]
    ]
    g = plan.grid
    assert g is not None  # line_loadings is empty without a grid report
    head = (
        f"<p class='note'>DC power flow ({_e(g.security)}); N-1 {_e(g.n_minus_1)}; {g.monitored_lines} monitored lines, "
        f"{len(g.bridges)} radial outages skipped; re-dispatch {math.fsum(r.mw for r in g.redispatch):,.1f} MW. "
        f"The {min(LINES_SHOWN, len(loads))} most loaded of {len(loads)} lines (base against the rating, N-1 against "
        "the emergency rating).</p>"
    )
    return (
        "<h2>Grid: the most loaded lines</h2>"
        + head
        + _table(["line", "base flow MW", "base loading", "worst N-1 loading", "after losing", ""], rows, {1, 2, 3})
    )


def _verification(scenario: Scenario, plan: Plan) -> tuple[str, str]:
    """The independent verifier's verdict on the plan (placer.verify), as a card and a section."""
    from placer.verify import verify

    report = verify(scenario, plan)
    if report.valid:
        return f'<span class="ok">valid</span> ({len(report.checks)} checks)', ""
    rows = [(_e(v.code), _e(v.entity), _e(v.message)) for v in report.violations[:50]]
    more = len(report.violations) - len(rows)
    section = (
        "<h2>Verification: violations</h2><p class='note bad'>The independent verifier finds "
        f"{len(report.violations)} violation(s); the figures below are the plan's own claims.</p>"
        + _table(["code", "entity", "what"], rows)
        + (f"<p class='note'>and {more} more</p>" if more > 0 else "")
    )
    return f'<span class="bad">{len(report.violations)} violation(s)</span>', section


def render_report(scenario: Scenario, plan: Plan, *, coastline: bool = True) -> str:
    """The whole page as a string (see the module docstring). The plan is verified (placer.verify)
    and the verdict shown; a plan with violations is still reported, with them listed first."""
    s = plan.summary
    verdict, violations = _verification(scenario, plan)
    colours = tenant_colours(scenario)
    map_svg = render_map(scenario, plan, "svg", coastline=coastline)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>placer plan: {_e(plan.scenario)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>Plan for {_e(plan.scenario)}</h1>",
        f'<p class="sub">{_e(scenario.description)}<br>solver {_e(s.solver)} ({_e(s.solver_version)}), seed {s.seed}, '
        f"{s.workers} worker(s), solve {s.solve_seconds:.1f} s; {_e(s.engine_choice)}<br>scenario digest "
        f"<code>{_e(plan.scenario_digest)}</code></p>",
        _summary(scenario, plan, verdict),
        violations,
        "<h2>Map</h2>",
        f"<figure>{_img(map_svg, 'map of the plan')}<figcaption>Sites in use as pies of their tenants' GPU shares, "
        "area by facility MW; lines coloured by the worse of base and N-1 loading"
        + (", at the rollout's final build-out" if plan.schedule else "")
        + ".</figcaption></figure>",
    ]
    timeline = timeline_svg(plan)
    if timeline is not None:
        parts += [
            "<h2>Rollout timeline</h2>",
            f"<figure>{_img(timeline, 'rollout timeline: GPUs live and stranded per quarter')}</figure>",
            _schedule(plan),
            _critical_path(plan),
        ]
    parts += ["<h2>Cost breakdown</h2>", _costs(plan), _investments(plan)]
    parts += ["<h2>Tenants</h2>", _tenants(scenario, plan, colours), "<h2>Sites in use</h2>", _sites(scenario, plan)]
    parts += ["<h2>Substations</h2>", _substations(plan), _lines(scenario, plan), _layout(plan, colours)]
    if s.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li class='note'>{_e(n)}</li>" for n in s.notes) + "</ul>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def write_report(scenario: Scenario, plan: Plan, path: str | Path, *, coastline: bool = True) -> int:
    """Write :func:`render_report` to ``path`` atomically; returns its size in bytes."""
    text = render_report(scenario, plan, coastline=coastline)
    atomic_write_text(path, text)
    return len(text.encode("utf-8"))
