"""Terminal tables for a re-plan's moves (``plan.replan``) and a plan's marginal values
(``plan.marginal_values``). User strings go to rich as Text, never as markup. O(rows)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from placer.plan import Plan


def print_replan(console: Console, plan: Plan, *, rows: int = 15) -> None:
    """The moves of a re-plan, largest first, and what they cost (one-off and annualised)."""
    r = plan.replan
    if r is None:
        return
    annual = next((t.usd_per_year for t in plan.cost_breakdown if t.name == "moves"), 0.0)
    frozen = f"; frozen: {', '.join(r.frozen_sites)}" if r.frozen_sites else ""
    # a single period's objective is USD per year (the cost annualised); a rollout's is its NPV (as it is)
    where = (
        "in the NPV, now (the first quarter)"
        if plan.npv is not None
        else f"${annual / 1e6:,.2f}M/yr annualised in the objective"
    )
    console.print(
        Text(
            f"Re-plan from {r.previous_plan_digest[:19]}…: {r.racks_moved:,} racks moved, {r.racks_kept:,} kept; "
            f"move cost ${r.move_cost_usd / 1e6:,.2f}M one-off ({r.move_cost_usd_per_rack:,.0f} USD per rack), "
            f"{where}{frozen}"
        )
    )
    if not r.moves:
        return
    table = Table(title="Racks moved away from their site (previous plan's count minus this plan's)")
    for col in ("tenant", "SKU", "from site", "racks"):
        table.add_column(col, justify="right" if col == "racks" else "left")
    for m in sorted(r.moves, key=lambda m: -m.racks)[:rows]:
        table.add_row(Text(m.tenant), Text(m.sku), Text(m.from_site), f"{m.racks:,}")
    console.print(table)


def print_marginals(console: Console, plan: Plan, *, rows: int = 12, rows_checked: int = 3) -> None:
    """The binding limits' marginal values, largest saving first, and the re-solve checks."""
    mv = plan.marginal_values
    if mv is None or not mv.limits:
        return
    table = Table(
        title=f"Marginal values of the binding limits ({mv.value_unit}; local: sites fixed, racks fractional)"
    )
    for col in ("limit", "plan / limit", "value", "a step more room saves"):
        table.add_column(col, justify="left" if col == "limit" else "right")
    per_year = "/yr" if mv.objective_unit == "usd_per_year" else ""
    for v in mv.limits[:rows]:
        one = "GPU" if v.unit == "GPUs" else v.unit
        table.add_row(
            Text(v.limit),
            f"{v.plan_value:,.1f}/{v.limit_value:,.1f} {v.unit}",
            f"${v.value_per_unit:,.0f}/{one}{per_year}",
            f"${v.saving_per_step / 1e6:,.2f}M{per_year} per {v.step:,.0f} {v.unit}",
        )
    console.print(table)
    if mv.checks:
        agree = sum(c.agrees for c in mv.checks)
        console.print(
            Text(
                f"re-solve checks: {agree} of {len(mv.checks)} probes agree with the dual"
                + (
                    ""
                    if agree == len(mv.checks)
                    else "; the others have a tied limit (another row binds with it: more room here alone "
                    "saves what the probe says)"
                )
            )
        )
    for c in mv.checks[:rows_checked]:
        milp = "" if c.milp_saving is None else f"; full MILP re-solve ${c.milp_saving / 1e6:,.3f}M"
        console.print(
            Text(
                f"check {c.limit}: a {c.probe_step:g} step saves ${c.probe_lp_saving:,.0f} in the LP re-solve, "
                f"${c.probe_predicted_saving:,.0f} predicted ({'agrees' if c.agrees else 'differs'}); the whole "
                f"{c.step:g} saves ${c.lp_saving / 1e6:,.3f}M of ${c.predicted_saving / 1e6:,.3f}M predicted{milp}"
            )
        )
