"""Human-readable summaries of plans and verification reports (rich tables)."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.table import Table

from placer.plan import Plan
from placer.scenario import Scenario


def _usd(x: float | None) -> str:
    return "-" if x is None else f"${x / 1e6:,.1f}M"


def print_plan(console: Console, scenario: Scenario, plan: Plan) -> None:
    s = plan.summary
    gap = "-" if s.gap is None else f"{s.gap:.3%}"
    console.print(
        f"[bold]{plan.scenario}[/bold]  solver {s.solver} {s.solver_version}  status [bold]{s.status}[/bold]  "
        f"objective {_usd(s.objective)}/yr  bound {_usd(s.bound)}  gap {gap}  "
        f"solve {s.solve_seconds:.2f} s  seed {s.seed}  workers {s.workers}"
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
            t.id,
            f"{sum(where.values()):,}",
            f"{t.total_gpus:,}",
            f"{it_by_tenant.get(t.id, 0.0):.1f}",
            ", ".join(f"{site} ({g:,})" for site, g in sorted(where.items(), key=lambda kv: -kv[1])),
        )
    console.print(tenants)

    sites = Table(title="Per site")
    for col in ("site", "GPUs", "IT MW", "capacity MW", "use", "facility MW", "feed N-1 MW"):
        sites.add_column(col, justify="left" if col == "site" else "right")
    for sl in sorted(plan.sites, key=lambda x: -x.facility_power_mw):
        sites.add_row(
            sl.site,
            f"{sl.gpus:,}",
            f"{sl.it_power_mw:.1f}",
            f"{sl.it_capacity_mw:.0f}",
            f"{sl.it_power_mw / sl.it_capacity_mw:.0%}",
            f"{sl.facility_power_mw:.1f}",
            f"{sl.feed_n1_capacity_mw:.0f}",
        )
    console.print(sites)

    lo, hi = s.power_band_mw
    inside = lo - 1e-6 <= s.facility_power_mw <= hi + 1e-6
    console.print(
        f"Power: IT {s.it_power_mw:.1f} MW, facility {s.facility_power_mw:.1f} MW; band {lo:g}–{hi:g} MW "
        + ("[green]inside[/green]" if inside else "[red]OUTSIDE[/red]")
        + f"; {s.gpus_placed:,} GPUs in {s.racks_placed:,} racks"
    )
    costs = ", ".join(f"{c.name} {_usd(c.usd_per_year)}" for c in plan.cost_breakdown if c.usd_per_year)
    console.print(f"Cost per year: {costs}")
    for note in s.notes:
        console.print(f"[dim]note: {note}[/dim]")
