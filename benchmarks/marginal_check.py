"""Marginal values against re-solves with the limit moved (issue 12 §3).

``python -m benchmarks.marginal_check korea-2025 --plan plan.json --out DIR`` reads a plan written by
``placer solve`` (its ``marginal_values``: LP duals with the plan's binaries fixed) and, for every
reported limit and for every site whose IT capacity the plan fills to ``--near`` (default 97 %) or more
(those have no local value, yet a planner asks what more MW there are worth), moves the limit by its
step (10 MW; a latency share by 1 % of the tenant's GPUs) and re-solves twice:

* the fixed-binary LP (:func:`solvers.duals.lp_objective_with`): it should give the dual's prediction
  while the LP's basis holds (a probe of 1 % of the step is checked as well);
* the full MILP (HiGHS, the scenario with the limit moved, gap ``--gap``) against the same MILP on the
  unchanged scenario: integer racks, sites free to open or close. It may differ either way from the
  local prediction; within ``gap x objective`` the difference is not resolved.

It writes ``results.json`` and ``results.md`` (the table, the command, the machine).

Complexity: 2 + (number of limits checked) MILP solves and 2 LPs per limit.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.runner import machine_info
from placer.io import load_plan
from placer.scenario import Scenario
from solvers import solve
from solvers.duals import STEP_MW, fixed_lp, lp_objective_with, racks_of_plan
from solvers.formulation import MW
from solvers.problem import build_problem


def moved_scenario(scenario: Scenario, family: str, entities: list[str], step: float) -> Scenario | None:
    """The scenario with one limit given ``step`` more room, or None when the scenario has no single field
    for it (generation adequacy). O(size of the scenario)."""
    sc = scenario.model_copy(deep=True)
    nodes = {n.id: n for n in sc.topology.nodes}
    if family in ("site_it_capacity", "liquid_cooling", "air_cooling"):
        attr = {
            "site_it_capacity": "it_capacity_mw",
            "liquid_cooling": "liquid_cooling_mw",
            "air_cooling": "air_cooling_mw",
        }
        node = nodes[entities[0]]
        setattr(node, attr[family], getattr(node, attr[family]) + step)
    elif family == "feed_capacity":  # every feed of the site + step: its N-1 limit (total - largest) + step or more
        for e in sc.topology.edges_of_kind("feed"):
            if entities[0] in (e.from_node, e.to_node):
                e.capacity_mw += step
    elif family == "substation_headroom":
        sub = next(b for b in sc.topology.substations if b.id == entities[0])
        sub.headroom_mw += step
    elif family == "power_band_max":
        sc.policy.power_band_mw.max_mw += step
    elif family == "power_band_min":
        sc.policy.power_band_mw.min_mw -= step
    elif family == "latency_share":
        tenant = next(t for t in sc.demand.tenants if t.id == entities[0])
        req = tenant.latency[int(entities[2])]
        req.min_share -= step / tenant.total_gpus
    elif family in ("line_limit", "line_limit_n1"):
        for e in sc.topology.edges_of_kind("line"):
            if str(e.id) == entities[0]:
                e.rating_mw += step
                if e.emergency_rating_mw is not None:
                    e.emergency_rating_mw += step
    else:
        return None
    return sc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario")
    ap.add_argument("--plan", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--near", type=float, default=0.97, help="site IT use from which a site is checked too")
    ap.add_argument("--gap", type=float, default=1e-6, help="relative gap of the MILP re-solves")
    ap.add_argument("--time-limit", type=float, default=120.0)
    args = ap.parse_args(argv)
    from placer.cli import resolve_scenario

    scenario = resolve_scenario(args.scenario)
    scenario.policy.solver.relative_gap = args.gap
    plan = load_plan(args.plan)
    problem = build_problem(scenario)
    if problem.periods.multi:
        ap.error("the re-solve check moves a scenario's limit: written for single-period scenarios")
    racks = racks_of_plan(problem, plan)
    red = {r.plant: r.mw for r in plan.grid.redispatch} if plan.grid is not None else None
    lp = fixed_lp(problem, racks, redispatch_mw=red)
    base_lp = float(lp.solve().objective_value())
    lp.add_line_rows()
    mv = plan.marginal_values
    assert mv is not None, "the plan has no marginal_values (solve it with --marginals)"
    todo = [(v.limit, v.family, list(v.entities), v.step, v.value_per_unit) for v in mv.limits]
    for site in plan.sites:
        name = f"site_it_capacity[{site.site}]"
        if site.it_power_mw >= args.near * site.it_capacity_mw and all(t[0] != name for t in todo):
            todo.append((name, "site_it_capacity", [site.site], STEP_MW, 0.0))
    t0 = time.perf_counter()
    base = solve(scenario, "milp", time_limit_s=args.time_limit)
    rows = []
    for name, family, entities, step, value in todo:
        in_lp = name in lp.rows
        lp_saving = base_lp - lp_objective_with(lp, name, step) if in_lp else None
        moved = moved_scenario(scenario, family, entities, step)
        milp = solve(moved, "milp", time_limit_s=args.time_limit) if moved is not None else None
        rows.append(
            {
                "limit": name,
                "step": step,
                "unit": "MW" if lp.rows.get(name) is None or lp.rows[name].unit == MW else "GPUs",
                "value_per_unit": value,
                "predicted_saving_usd_per_year": value * step,
                "lp_saving_usd_per_year": lp_saving,
                "milp_saving_usd_per_year": None if milp is None else base.summary.objective - milp.summary.objective,
                "milp_status": None if milp is None else milp.summary.status,
                "milp_gap": None if milp is None else milp.summary.gap,
            }
        )
    out = {
        "command": f"python -m benchmarks.marginal_check {args.scenario} --plan {args.plan} --out {args.out}",
        "plan_objective_usd_per_year": plan.summary.objective,
        "lp_objective_usd_per_year": base_lp,
        "milp_base_objective_usd_per_year": base.summary.objective,
        "milp_base_status": base.summary.status,
        "milp_gap_tolerance": args.gap,
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": machine_info(),
        "checks": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(out, indent=2) + "\n")

    def m(x):
        return "—" if x is None else f"${x / 1e6:,.3f}M"

    lines = [
        f"# Marginal values of `{args.scenario}` against re-solves",
        "",
        f"`{out['command']}` ({out['seconds']} s). Plan objective ${plan.summary.objective / 1e6:,.3f}M/yr; "
        f"the fixed-binary LP ${base_lp / 1e6:,.3f}M/yr; the MILP re-solved on the unchanged scenario "
        f"${base.summary.objective / 1e6:,.3f}M/yr ({base.summary.status}, gap tolerance {args.gap:g}).",
        "",
        "| limit | step | dual x step (local) | LP re-solve (sites fixed) | full MILP re-solve |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['limit']} | {r['step']:g} {r['unit']} | {m(r['predicted_saving_usd_per_year'])}/yr | "
            f"{m(r['lp_saving_usd_per_year'])}/yr | {m(r['milp_saving_usd_per_year'])}/yr |"
        )
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
