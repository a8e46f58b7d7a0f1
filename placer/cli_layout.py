"""The ``placer layout`` and ``placer racks`` commands, and ``placer solve --layout``.

``placer layout SCENARIO PLAN -o plan2.json`` lays out a solved plan's racks inside each
site (:mod:`solvers.layout`), verifies the result (placement and layout) and writes it; a
separate step because the placement and the layout are separate problems: a saved plan can
be laid out again (another interior, policy or time limit) without re-solving the placement,
and the layout refuses a plan for another scenario by its digest. ``placer solve ... --layout``
runs the same step after the solve, for one command end to end. ``placer racks PLAN`` reads
a laid-out plan: the rack inventory as CSV, one site's hall view, the tenants' exposure.

Exit codes as everywhere: 0 verified, 1 the laid-out plan fails verification, 2 bad input
(including a plan without a layout for ``racks``), 3 no layout exists (which site, which
constraints), 4 none found in the time limit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from placer.cli import _print_violations, app, err, out, resolve_scenario
from placer.errors import InputError
from placer.io import atomic_write_text, check_output_path, load_plan
from placer.plan import Plan
from placer.scenario import Scenario

CSV_FIELDS = ("site", "hall", "row", "position", "trains", "loop", "block", "tenant", "sku", "su")
TENANT_STYLES = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta")


def inventory_csv(plan: Plan) -> str:
    """The rack inventory as CSV text (trains joined by '+'). O(racks)."""
    assert plan.layout is not None
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for r in plan.layout.racks:
        w.writerow(
            [r.site, r.hall, r.row, r.position, "+".join(r.trains), r.loop or "", r.block, r.tenant, r.sku, r.su]
        )
    return buf.getvalue()


def lay_out(
    scenario: Scenario,
    plan: Plan,
    *,
    workers: int | None = None,
    time_limit: float | None = None,
    resolve: Callable[[Scenario], Plan] | None = None,
) -> Plan:
    """The plan with its layout, verified; exits 1 (nothing written) when verification fails.
    With ``resolve`` (``solve --layout``), a site whose layout fails is cut and the placement
    re-solved (:func:`solvers.layout.layout_with_cuts`)."""
    from placer.verify import verify
    from solvers.layout import layout_plan, layout_with_cuts

    if time_limit is not None:
        scenario = scenario.model_copy(deep=True)
        scenario.policy.layout.time_limit_s = time_limit
    if resolve is not None:
        laid = layout_with_cuts(scenario, plan, resolve)
        for note in laid.summary.notes:
            if note.startswith("layout cuts:"):
                out.print(Text(note))
    else:
        laid = layout_plan(scenario, plan, workers=workers)
    report = verify(scenario, laid, check_digest=False)
    if not report.valid:
        _print_violations(report)
        err.print("error: the laid-out plan failed verification; no plan written")
        raise typer.Exit(1)
    assert laid.layout is not None
    states = ", ".join(f"{s.site} {s.status}" for s in laid.layout.sites)
    out.print(
        f"[green]layout verified[/green]: {len(laid.layout.racks):,} racks on {len(laid.layout.sites)} site(s) "
        f"in {laid.layout.seconds:.1f} s ({escape(states)}); {len(report.checks)} checks, 0 violations "
        f"({report.seconds:.3f} s)"
    )
    return laid


def print_exposure(plan: Plan) -> None:
    """Each tenant's worst single-fault loss, site by site."""
    assert plan.layout is not None
    table = Table(title="Worst single fault per tenant and site (loss of one train, loop or block)")
    for col in ("tenant", "site", "GPUs", "worst fault", "GPUs lost", "share", "limit", "blocks"):
        left = col in ("tenant", "site", "worst fault")
        table.add_column(col, justify="left" if left else "right", overflow="fold", no_wrap=not left)
    rows = [(e.tenant, s.site, e) for s in plan.layout.sites for e in s.exposure]
    for tenant, site, e in sorted(rows, key=lambda x: (x[0], x[1])):
        table.add_row(
            Text(tenant),
            Text(site),
            f"{e.gpus:,}",
            Text(e.worst_fault),
            f"{e.worst_loss_gpus:,}",
            f"{e.worst_loss_share:.1%}",
            f"{e.limit_gpus:,}",
            f"{e.blocks}/{e.block_limit}",
        )
    out.print(table)


def print_hall_view(plan: Plan, site: str) -> None:
    """One site's halls, row by row: one character per rack position (the tenant's initial,
    coloured; '.' empty), then the site's path, loop and block loads."""
    assert plan.layout is not None
    table = next((s for s in plan.layout.sites if s.site == site), None)
    if table is None:
        laid = sorted(s.site for s in plan.layout.sites)
        raise InputError(f"the plan lays out no racks at '{site}' (sites: {', '.join(laid)})", where="--site")
    racks = [r for r in plan.layout.racks if r.site == site]
    tenants = sorted({r.tenant for r in racks})
    style = {t: TENANT_STYLES[i % len(TENANT_STYLES)] for i, t in enumerate(tenants)}
    mark = {t: (t[0].upper() if i < 26 else "#") for i, t in enumerate(tenants)}
    where = {(r.hall, r.row, r.position): r for r in racks}
    legend = Text("legend: ")
    for t in tenants:
        legend.append(f"{mark[t]}", style=style[t])
        legend.append(f" {t}  ")
    legend.append(". empty")
    out.print(Text(f"Hall view of {site} ({table.interior} interior)", style="bold"))
    out.print(legend)
    halls = {h.hall: h for h in table.halls}
    for hall in halls.values():
        used = [(r, p) for (h, r, p) in where if h == hall.hall]
        n_rows = max((r for r, _ in used), default=0)
        width = max((p for _, p in used), default=0)
        out.print(
            Text(
                f"{hall.hall}: {hall.racks:,} racks on {hall.positions:,} positions, {hall.it_power_mw:.1f} MW IT, "
                f"air {hall.air_heat_mw:.1f}/{hall.air_cooling_mw:.1f} MW"
            )
        )
        for row in range(1, n_rows + 1):
            line = Text(f"  row {row:>3} ")
            for pos in range(1, width + 1):
                r = where.get((hall.hall, row, pos))
                if r is None:
                    line.append(".")
                else:
                    line.append(mark[r.tenant], style=style[r.tenant])
            out.print(line)
    loads = Table(title=f"{site}: power paths, loops, blocks")
    for col in ("element", "kind", "load", "capacity", "use"):
        loads.add_column(col, justify="left" if col in ("element", "kind") else "right")
    idle = 0  # elements carrying nothing are counted, not listed
    for p in table.paths:
        if p.peak_mw <= 0:
            idle += 1
            continue
        use = p.peak_mw / p.capacity_mw if p.capacity_mw else 0.0
        loads.add_row(
            Text(p.path), f"power {p.redundancy}", f"{p.peak_mw:.1f} MW peak", f"{p.capacity_mw:.1f} MW", f"{use:.0%}"
        )
    for lp in table.loops:
        if lp.liquid_heat_mw <= 0:
            idle += 1
            continue
        use = lp.liquid_heat_mw / lp.liquid_mw if lp.liquid_mw else 0.0
        loads.add_row(Text(lp.loop), "loop", f"{lp.liquid_heat_mw:.1f} MW", f"{lp.liquid_mw:.1f} MW", f"{use:.0%}")
    for b in table.blocks:
        if not b.sus:
            idle += 1
            continue
        loads.add_row(Text(b.block), "block", f"{b.sus} SUs", f"{b.su_slots} slots", f"{b.sus / b.su_slots:.0%}")
    if idle:
        loads.caption = f"and {idle} power paths, loops and blocks that carry nothing"
    out.print(loads)
    if table.water_allowance_m3_per_day is not None:
        out.print(
            f"water: {table.water_m3_per_day:,.0f} m3/day on a peak day, allowance {table.water_allowance_m3_per_day:,.0f}"
        )


def show_layout(scenario: Scenario, plan: Plan, resolve: Callable[[Scenario], Plan] | None = None) -> Plan:
    """``solve --layout``: lay out (re-solving with a cut where a site's layout fails), verify,
    print the smallest site's hall view and the exposure."""
    laid = lay_out(scenario, plan, resolve=resolve)
    print_hall_view(laid, _default_site(laid))
    print_exposure(laid)
    return laid


def _default_site(plan: Plan) -> str:
    assert plan.layout is not None
    counts: dict[str, int] = {}
    for r in plan.layout.racks:
        counts[r.site] = counts.get(r.site, 0) + 1
    return min(counts, key=lambda s: (counts[s], s))  # the smallest laid-out site prints shortest


@app.command()
def layout(
    scenario: str = typer.Argument(..., help="built-in scenario name or scenario file"),
    plan: Path = typer.Argument(..., help="a solved plan (JSON) of that scenario"),
    output: Path | None = typer.Option(None, "-o", "--output", help="write the laid-out plan here (JSON)"),
    csv_out: Path | None = typer.Option(None, "--csv", help="write the rack inventory here (CSV)"),
    site: str | None = typer.Option(None, "--site", help="print this site's hall view (default: the smallest)"),
    workers: int | None = typer.Option(
        None, "--workers", min=1, max=256, help="processes (default policy.solver.workers)"
    ),
    time_limit: float | None = typer.Option(None, "--time-limit", min=0.01, help="CP-SAT seconds per site"),
    deterministic: bool | None = typer.Option(
        None,
        "--deterministic/--no-deterministic",
        help="reproducible even when the time limit stops a site: the limit counts CP-SAT's deterministic time",
    ),
) -> None:
    """Lay out a solved plan's racks inside each site, verify, print a hall view and the exposure."""
    for path in (output, csv_out):
        if path is not None:
            check_output_path(path)
    sc = resolve_scenario(scenario)
    pl = load_plan(plan)
    if pl.scenario_digest != sc.digest():
        raise InputError(
            f"plan was solved for scenario digest {pl.scenario_digest}, not this scenario ({sc.digest()})",
            file=str(plan),
            where="scenario_digest",
        )
    if deterministic is not None:
        sc = sc.model_copy(deep=True)
        sc.policy.solver.deterministic = deterministic
    laid = lay_out(sc, pl, workers=workers, time_limit=time_limit)
    print_hall_view(laid, site or _default_site(laid))
    print_exposure(laid)
    write(laid, output, csv_out)


def write(laid: Plan, output: Path | None, csv_out: Path | None) -> None:
    if output is not None:
        atomic_write_text(output, laid.model_dump_json(indent=2) + "\n")
        out.print(f"plan written to {escape(str(output))}")
    if csv_out is not None:
        atomic_write_text(csv_out, inventory_csv(laid))
        out.print(f"rack inventory written to {escape(str(csv_out))}")


@app.command()
def racks(
    plan: Path = typer.Argument(..., help="a laid-out plan (JSON)"),
    csv_out: Path | None = typer.Option(None, "-o", "--csv", help="write the rack inventory here (CSV)"),
    site: str | None = typer.Option(None, "--site", help="print this site's hall view"),
) -> None:
    """A laid-out plan's rack inventory (CSV), one site's hall view and each tenant's worst single-fault loss."""
    if csv_out is not None:
        check_output_path(csv_out)
    pl = load_plan(plan)
    if pl.layout is None:
        raise InputError("the plan has no layout; run `placer layout SCENARIO PLAN -o FILE` first", file=str(plan))
    if site is not None:
        print_hall_view(pl, site)
    print_exposure(pl)
    write(pl, None, csv_out)
