"""Solvers: a scenario in, a plan out.

``solve(scenario, solver="auto")`` is the one entry point. ``auto`` (the default) picks
``milp`` when line flows are part of the problem and ``cpsat`` otherwise
(:func:`choose_engine`; the plan's ``summary.engine_choice`` says which and why). Engines:

* ``cpsat``  -- CP-SAT on integer racks (exact, with bound and gap), hinted by greedy;
  it does not model line flows: on a scenario with lines the placement is followed by
  a least-cost re-dispatch LP under the same no-harm loop, and the verifier judges it;
* ``milp``   -- MILP through MathOpt/HiGHS with grid limits (base case and N-1) added
  lazily by a contingency loop;
* ``scip``   -- the same MILP through MathOpt/SCIP;
* ``greedy`` -- the cheapest-site-first baseline (re-dispatch as for cpsat).

Solver options (time limit, workers, seed) come from ``scenario.policy.solver``;
override them with ``time_limit_s``, ``workers`` and ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from placer.errors import InputError
from placer.plan import Plan
from placer.scenario import Scenario
from solvers.assemble import proven_status, relative_gap
from solvers.greedy import greedy_racks, solve_greedy
from solvers.precheck import raise_if_infeasible
from solvers.problem import Problem, build_problem, final_scenario


def _with_grid_report(problem: Problem, plan: Plan) -> Plan:
    """Engines without flows: add the least-cost re-dispatch and its grid report to the plan."""
    from placer.plan import CostTerm
    from solvers.grid_security import (
        dispatch_for_placement,
        has_grid,
        redispatch_cost_usd_per_year,
        redispatch_floor_usd_per_year,
    )

    sc = final_scenario(problem.scenario)  # the final build-out meets the grid as upgraded by then
    if not has_grid(sc) or sc.policy.grid.security == "none":
        return plan
    loads = {s.site: s.facility_power_mw for s in plan.sites}
    site_ids = [s.id for s in problem.sites]
    report = dispatch_for_placement(sc, site_ids, np.array([loads.get(s, 0.0) for s in site_ids]),
                                    time_limit_s=sc.policy.solver.time_limit_s)
    cost = redispatch_cost_usd_per_year(
        sc, [r.cost_usd_per_mwh for r in report.redispatch], [r.mw for r in report.redispatch]
    )
    plan.cost_breakdown.append(CostTerm(name="redispatch", usd_per_year=cost,
                                        description="generation cost of the plants re-dispatched to serve the new load"))
    plan.summary.objective += cost
    if plan.summary.bound is not None:
        # The engine's bound covers placement only. This plan's re-dispatch cost would overstate the
        # bound (another placement may need less); the merit-order floor holds for every placement.
        plan.summary.bound += redispatch_floor_usd_per_year(sc, problem.min_facility_mw())
        plan.summary.gap = relative_gap(plan.summary.objective, plan.summary.bound)
    # The engine's status covered the placement alone; the plan's status must cover the whole
    # objective it now reports (placement plus re-dispatch), against the whole bound.
    summary = plan.summary
    summary.placement_status = summary.status
    summary.status = proven_status(summary.status if report.n_minus_1 == "secure" else "FEASIBLE",
                                   summary.gap, summary.relative_gap)
    summary.notes.append(
        f"grid: {summary.solver} does not model line flows; re-dispatch chosen afterwards by an LP under the "
        f"'{sc.policy.grid.security}' no-harm rule, verdict {report.n_minus_1}"
        + ("" if report.n_minus_1 == "secure" else " (use --solver milp to place under grid limits)")
        + f"; the placement alone is {summary.placement_status}, the whole plan {summary.status} "
        "(its bound adds the least re-dispatch any placement needs)"
    )
    plan.grid = report
    return plan


def _cpsat(problem: Problem, on_progress: Callable | None) -> Plan:
    from solvers.cpsat import solve_cpsat

    hint, _ = greedy_racks(problem)
    return _with_grid_report(problem, solve_cpsat(problem, hint=hint, on_progress=on_progress))


def _greedy(problem: Problem, on_progress: Callable | None) -> Plan:
    return _with_grid_report(problem, solve_greedy(problem))


def _milp(engine: str) -> Callable[[Problem, Callable | None], Plan]:
    def run(problem: Problem, on_progress: Callable | None) -> Plan:
        from solvers.milp import solve_milp

        hint, unplaced = greedy_racks(problem)
        return solve_milp(problem, engine, hint=None if unplaced else hint)

    return run


ENGINES: dict[str, Callable[[Problem, Callable | None], Plan]] = {
    "cpsat": _cpsat,
    "milp": _milp("highs"),
    "scip": _milp("scip"),
    "greedy": _greedy,
}
AUTO = "auto"


def choose_engine(scenario: Scenario) -> tuple[str, str]:
    """The engine ``auto`` runs for this scenario, and why (one sentence for the plan).

    The grid-aware MILP whenever line flows are part of the problem (the topology has
    lines and ``policy.grid.security`` is not ``none``): CP-SAT cannot hold line limits
    while placing, so its plan could be insecure or priced by a re-dispatch chosen after
    the fact. CP-SAT otherwise: integer racks and its portfolio search suit the pure
    placement. O(E) for E edges."""
    from solvers.grid_security import has_grid

    sc = final_scenario(scenario)
    security = sc.policy.grid.security
    n_lines = len(sc.topology.edges_of_kind("line"))
    if has_grid(sc) and security != "none":
        return "milp", (f"auto: the topology has {n_lines:,} lines and grid.security is '{security}', so the "
                        "grid-aware MILP (HiGHS) places under line limits")
    why = "grid.security is 'none'" if n_lines else "the topology has no lines"
    return "cpsat", f"auto: {why}, so CP-SAT places without line flows"


def solve(
    scenario: Scenario,
    solver: str = AUTO,
    *,
    time_limit_s: float | None = None,
    workers: int | None = None,
    seed: int | None = None,
    deterministic: bool | None = None,
    on_progress: Callable[[dict], None] | None = None,
) -> Plan:
    """Place the scenario's demand with the named engine and return the plan.

    Raises :class:`placer.errors.InfeasibleError` (with reasons) when no placement exists
    and :class:`placer.errors.NoSolutionError` when none was found in the time limit.
    """
    if solver != AUTO and solver not in ENGINES:
        raise InputError(f"unknown solver '{solver}'; choose one of {', '.join((AUTO, *ENGINES))}",
                         where="--solver")
    overrides = {k: v for k, v in (("time_limit_s", time_limit_s), ("workers", workers), ("seed", seed),
                                   ("deterministic", deterministic)) if v is not None}
    if overrides:
        # Validated like the file itself: --workers 257 or seed=2**32 is refused, naming the option.
        options = scenario.policy.solver.with_overrides(**overrides)
        scenario = scenario.model_copy(deep=True)
        scenario.policy.solver = options
    if solver == AUTO:
        solver, choice = choose_engine(scenario)
    else:
        choice = f"requested: --solver {solver}"
    problem = build_problem(scenario)
    # Aggregate pre-check (solvers/precheck.py): the common causes of infeasibility, proven by
    # arithmetic in milliseconds and explained with numbers, before any engine runs.
    raise_if_infeasible(problem)
    plan = ENGINES[solver](problem, on_progress)
    plan.summary.engine_choice = choice
    return plan


__all__ = ["solve", "choose_engine", "ENGINES", "AUTO"]
