"""Human-readable summaries of plans and verification reports (rich tables).

Every string that comes from a scenario or a plan (ids, notes, versions) is escaped before
rich sees it, so ``[red]`` in a note is printed, not obeyed. Emoji codes such as ``:sun:``
are left alone only if the console has ``emoji=False`` (the CLI's consoles do)."""

from __future__ import annotations

import math
from collections import defaultdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from placer.contract import limit_slack
from placer.plan import Plan
from placer.scenario import Scenario


def _usd(x: float | None) -> str:
    return "-" if x is None else f"${x / 1e6:,.1f}M"


def print_plan(console: Console, scenario: Scenario, plan: Plan) -> None:
    s = plan.summary
    gap = "-" if s.gap is None else f"{s.gap:.3%}"
    # One unit per figure: a single period's objective is USD per year, a rollout's is its NPV in USD.
    per_year = s.objective_unit == "usd_per_year"
    objective = f"objective {_usd(s.objective)}/yr" if per_year else f"objective NPV {_usd(s.objective)}"
    console.print(
        f"[bold]{escape(plan.scenario)}[/bold]  solver {escape(s.solver)} {escape(s.solver_version)}  "
        f"status [bold]{s.status}[/bold]{' (interrupted)' if s.interrupted else ''}  "
        f"{objective}  bound {_usd(s.bound)}{'/yr' if per_year and s.bound is not None else ''}  gap {gap}  "
        f"solve {s.solve_seconds:.2f} s  seed {s.seed}  workers {s.workers}"
    )
    if s.engine_choice:
        console.print(f"engine: {s.engine_choice}", markup=False, highlight=False)
    if s.placement_status is not None:
        console.print(
            f"placement alone: {s.placement_status} (the status above covers the whole objective)",
            markup=False,
            highlight=False,
        )

    tenants = Table(title="Per tenant", show_lines=False)
    tenants.add_column("tenant")
    tenants.add_column("GPUs placed", justify="right")
    tenants.add_column("demand", justify="right")
    tenants.add_column("IT MW", justify="right")
    tenants.add_column("sites (GPUs)")
    per_tenant: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    it_by_tenant: dict[str, float] = defaultdict(float)
    for a in plan.assignments:
        per_tenant[a.tenant][a.site] += a.gpus
        it_by_tenant[a.tenant] += a.it_power_mw
    for t in scenario.demand.tenants:
        where = per_tenant.get(t.id, {})
        tenants.add_row(
            escape(t.id),
            f"{sum(where.values()):,}",
            f"{t.total_gpus:,}",
            f"{it_by_tenant.get(t.id, 0.0):.1f}",
            ", ".join(f"{escape(site)} ({g:,})" for site, g in sorted(where.items(), key=lambda kv: -kv[1])),
        )
    console.print(tenants)

    sites = Table(title="Per site")
    for col in ("site", "GPUs", "IT MW", "capacity MW", "use", "facility MW", "feed N-1 MW"):
        sites.add_column(col, justify="left" if col == "site" else "right")
    for sl in sorted(plan.sites, key=lambda x: -x.facility_power_mw):
        sites.add_row(
            escape(sl.site),
            f"{sl.gpus:,}",
            f"{sl.it_power_mw:.1f}",
            f"{sl.it_capacity_mw:.0f}",
            f"{sl.it_power_mw / sl.it_capacity_mw:.0%}",
            f"{sl.facility_power_mw:.1f}",
            f"{sl.feed_n1_capacity_mw:.0f}",
        )
    console.print(sites)

    lo, hi = s.power_band_mw
    inside = lo - limit_slack(lo) <= s.facility_power_mw <= hi + limit_slack(hi)  # the verifier's POWER_BAND slack
    console.print(
        f"Power: IT {s.it_power_mw:.1f} MW, facility {s.facility_power_mw:.1f} MW; band {lo:g}–{hi:g} MW "
        + ("[green]inside[/green]" if inside else "[red]OUTSIDE[/red]")
        + f"; {s.gpus_placed:,} GPUs in {s.racks_placed:,} racks"
    )
    if plan.grid is not None:
        print_grid(console, plan)
    if plan.schedule:
        print_timeline(console, plan)
    if plan.critical_path:
        print_critical_path(console, plan)
    costs = ", ".join(f"{c.name} {_usd(c.usd_per_year)}" for c in plan.cost_breakdown if c.usd_per_year)
    if plan.investments:
        print_investments(console, plan)
    if plan.npv is None:
        console.print(f"Cost per year: {costs}")
    else:
        print_npv(console, plan)
        console.print(f"Final build-out, cost per year (run rate, not part of the NPV sum): {costs}")
    for note in s.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]")


def print_grid(console: Console, plan: Plan) -> None:
    g = plan.grid
    if g is None:
        return
    verdict = {"secure": "[green]secure[/green]", "insecure": "[red]INSECURE[/red]"}.get(g.n_minus_1, g.n_minus_1)
    how = "enforced while placing" if g.enforced_by_solver else "checked after placing"
    console.print(
        f"Grid ({g.security}, DC power flow, {how}): {verdict}; {g.monitored_lines} monitored lines, "
        f"{len(g.bridges)} radial outages skipped, {len(g.iterations)} loop iteration(s), "
        f"{g.constraints_added} line constraint(s) added; re-dispatch {math.fsum(r.mw for r in g.redispatch):.1f} MW"
    )
    if g.preexisting.n1_overloads or g.preexisting.base_overloads:
        console.print(
            f"  pre-existing (not caused by the plan): {len(g.preexisting.base_overloads)} base-case and "
            f"{len(g.preexisting.n1_overloads)} post-outage overloads"
        )
    table = Table(title="Most loaded lines after an outage")
    for col in ("line", "after losing", "flow MW", "limit MW", "loading"):
        table.add_column(col, justify="left" if col in ("line", "after losing") else "right")
    rows = g.violations or g.worst_contingencies
    for c in rows[:5]:
        table.add_row(
            escape(c.line), escape(c.outage), f"{c.flow_mw:.1f}", f"{c.limit_mw:.1f}", f"{c.loading_pct:.1f}%"
        )
    if rows:
        console.print(table)


def print_timeline(console: Console, plan: Plan) -> None:
    table = Table(title=f"Rollout: {plan.summary.stranded_gpu_quarters:,} stranded GPU-quarters")
    for col in ("quarter", "delivered", "live", "stranded", "going live", "sites at capacity"):
        table.add_column(col, justify="left" if col in ("quarter", "sites at capacity") else "right")
    for rep in plan.schedule or []:
        full = [
            sp.site
            for sp in rep.sites
            if (sp.it_available_mw > 0 and sp.it_power_mw >= 0.98 * sp.it_available_mw)
            or (sp.facility_available_mw > 0 and sp.facility_power_mw >= 0.98 * sp.facility_available_mw)
        ]
        going = sum(g.gpus for g in rep.going_live)
        table.add_row(
            rep.period,
            f"{rep.gpus_delivered:,}",
            f"{rep.gpus_live:,}",
            f"[red]{rep.gpus_stranded:,}[/red]" if rep.gpus_stranded else "0",
            f"{going:,}" if going else "",
            escape(", ".join(full)),
        )
    console.print(table)


def print_critical_path(console: Console, plan: Plan) -> None:
    """Per site, its first and last racks' quarters and what held it back, latest-full sites first."""
    table = Table(title="Critical path to energisation (per site, what held it back)")
    for col in ("site", "racks", "first live", "full", "critical path"):
        table.add_column(col, justify="right" if col == "racks" else "left")
    rank = {rep.period: q for q, rep in enumerate(plan.schedule or [])}
    for cp in sorted(plan.critical_path or [], key=lambda c: -rank.get(c.full, 0)):
        path = " -> ".join(_short_step(step) for step in cp.path) or "never held back"
        table.add_row(escape(cp.site), f"{cp.final_racks:,}", cp.first_live, cp.full, escape(path))
    console.print(table)
    console.print(
        "Each step: the limit that held the site back, the quarter it was lifted and (in brackets) the "
        "power options that lifted it; the plan's critical_path names every stage, upgrade and option."
    )


def _short_step(step) -> str:
    """A path step in a few words for the table (the plan's ``text`` has the full sentence)."""

    def mw(x):
        return "?" if x is None else f"{x:,.4g}"

    label = {
        "it_capacity": "IT",
        "liquid_cooling": "liquid",
        "air_cooling": "air",
        "feed_n1": "feeds",
        "substation_headroom": f"{step.element} headroom",
        "grid_line": f"line {step.element}" + (f" after {step.outage} out" if step.outage else ""),
    }
    if step.limit in label:
        if not step.lifted_in:
            return f"{label[step.limit]} {mw(step.available)} MW"
        options = [ref.split()[1] for ref in step.lifted_by if ref.startswith("option ")]
        by = f" ({', '.join(options)})" if options else ""
        return f"{label[step.limit]} {mw(step.available)}->{mw(step.lifted_to)} MW {step.lifted_in}{by}"
    if step.limit == "build_rate":
        return f"build {mw(step.available)}/q"
    if step.limit == "go_live":
        return f"{step.element} go-live {step.lifted_in}"
    if step.limit == "deliveries":
        return f"deliveries {step.lifted_in}" if step.lifted_in else "deliveries"
    return "waits"


def print_npv(console: Console, plan: Plan) -> None:
    """The rollout's NPV term by term, and per year of quarters (present values, USD)."""
    npv = plan.npv
    if npv is None:
        return
    names = [t.name for t in npv.terms if t.usd]
    console.print(
        f"Net present value {_usd(npv.total_usd)} at {npv.discount_rate_per_year:.1%}/yr, quarters of "
        f"{npv.quarter_length_years:g} yr: " + ", ".join(f"{t.name} {_usd(t.usd)}" for t in npv.terms if t.usd)
    )
    table = Table(title="NPV by year (present value, USD)")
    table.add_column("year")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right")
    years: dict[str, dict[str, float]] = {}
    for rep in npv.periods:
        row = years.setdefault(rep.period[:4], defaultdict(float))
        for name in names:
            row[name] += rep.terms_usd.get(name, 0.0)
        row["total"] += rep.total_usd
    for year, row in years.items():
        table.add_row(year, *(_usd(row[n]) for n in names), _usd(row["total"]))
    console.print(table)


def print_investments(console: Console, plan: Plan) -> None:
    """The power options the plan builds: which, in which quarter, at what cost."""
    worth = any(inv.worth is not None for inv in plan.investments or [])
    table = Table(title="Investment schedule (power options)")
    cols = ["quarter", "option", "kind", "capex", "fixed per year"]
    if worth:
        cols += ["NPV saved", "GPU-quarters saved"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("quarter", "option", "kind") else "right")
    for inv in plan.investments or []:
        row = [
            inv.period,
            escape(inv.option),
            escape(inv.kind),
            _usd(inv.capex_usd),
            f"{_usd(inv.fixed_usd_per_year)}/yr",
        ]
        if worth:
            w = inv.worth
            if w is None:
                row += ["forced", "forced"]
            elif w.npv_saved_usd is None:
                row += ["needed", "needed"]
            else:
                row += [_usd(w.npv_saved_usd), f"{w.stranded_gpu_quarters_saved or 0:,}"]
        table.add_row(*row)
    console.print(table)
    if worth:
        console.print(
            "Worth: against the same placement without the option (its other options kept, the schedule "
            "re-optimised), not a global optimum; 'needed': this placement cannot be scheduled without it."
        )
    if plan.build_first:
        console.print("What to build first:")
        for b in plan.build_first:
            console.print(f"  {b.rank}. {escape(b.text)}")
