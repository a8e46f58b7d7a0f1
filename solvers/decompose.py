"""LP-guided start for big placement MILPs: the LP relaxation's bound and a plan rounded from it.

Input: a :class:`~solvers.problem.Problem` and its built :class:`~solvers.milp.MilpModel` (with the
grid's balance rows, before any contingency row). Output: a :class:`GuidedStart` (or None below
:data:`MIN_SITES` sites, on a rollout, or when the rounding cannot place everything):

* ``bound_usd``: the LP relaxation's optimum of the model as built. Dropping integrality and the
  contingency rows still to come only enlarges the feasible set, so it is a valid lower bound of
  the whole (secure) engine objective, and it comes in seconds where HiGHS's first MILP solve of a
  1,000-site model spends about half a minute at the root for little more (measured on ``xl``:
  LP 12.026 G$/yr in 5 s, root bound 12.039 G$/yr after 36 s);
* ``racks``: the greedy baseline (:func:`solvers.greedy.greedy_racks`) re-run with each
  candidate's cost raised by :data:`STEER` times one minus its (tenant, site) pair's LP ``use``
  value, so that it fills the sites the LP opens before others. The greedy ranks sites by cost
  per GPU and ignores site fixed costs and the tenant-site charge; the LP prices both. Measured on
  ``xl`` without the grid (back to back): plain greedy 12.327 G$/yr, LP-steered 12.197 G$/yr
  (HiGHS's full MILP after 60 s of neighbourhood search from the plain greedy: 12.300).

The MILP takes ``racks`` as its MIP start and keeps ``bound_usd`` as a bound alongside its own.

Complexity: one LP of the model's size (dual simplex) plus the greedy's
O(T · S log S + C · F).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ortools.math_opt.python import mathopt

from solvers.greedy import greedy_racks, unmet_final_rules
from solvers.problem import Problem

if TYPE_CHECKING:
    from solvers.milp import MilpModel

MIN_SITES = 300  # below this the full MILP finds its plans and bound in time (measured: medium, 100-200 sites)
STEER = 0.3  # cost raise for a pair the LP leaves unused (measured 0.3, 1.0, 3.0 on xl: 12.197, 12.201, 12.198)
LP_SHARE = 0.25  # at most this share of the time limit goes to the LP


@dataclass
class GuidedStart:
    racks: dict[int, int] | None  # None: the rounding left demand unplaced or broke a final rule
    bound_usd: float | None  # the LP relaxation's optimum (engine objective, USD/yr); None if not solved
    lp_seconds: float
    note: str


def applies(problem: Problem, engine: str) -> bool:
    """Single-period HiGHS runs on at least :data:`MIN_SITES` sites."""
    return engine == "highs" and not problem.periods.multi and len(problem.sites) >= MIN_SITES


def lp_relaxation(mm: MilpModel, time_limit_s: float, seed: int) -> tuple[float | None, dict]:
    """The LP relaxation of ``mm.m`` as it stands (HiGHS dual simplex), integrality restored after.
    Returns (optimum or None, the ``use`` values by pair)."""
    integer = [v for v in mm.m.variables() if v.integer]
    for v in integer:
        v.integer = False
    try:
        params = mathopt.SolveParameters(
            time_limit=datetime.timedelta(seconds=max(0.05, time_limit_s)),
            random_seed=seed,
            lp_algorithm=mathopt.LPAlgorithm.DUAL_SIMPLEX,
        )
        res = mathopt.solve(mm.m, mathopt.SolverType.HIGHS, params=params)
    finally:
        for v in integer:
            v.integer = True
    if res.termination.reason != mathopt.TerminationReason.OPTIMAL:
        return None, {}
    values = res.variable_values()
    return float(res.objective_value()), {key: float(values[u]) for key, u in mm.use.items()}


def steered_greedy(problem: Problem, use_values: dict[tuple[int, int], float]) -> dict[int, int] | None:
    """The greedy placement with each candidate's cost raised by ``STEER * (1 - use_LP)`` of its pair
    (the real costs are untouched: only the greedy's ranking sees the raise). None when it leaves
    demand unplaced or misses a latency share or the band's minimum."""
    steered = [
        dataclasses.replace(
            c,
            annual_cost_usd_per_rack=c.annual_cost_usd_per_rack
            * (1.0 + STEER * (1.0 - min(1.0, max(0.0, use_values.get((c.t, c.s), 0.0))))),
        )
        for c in problem.candidates
    ]
    guided = dataclasses.replace(problem, candidates=steered)
    racks, unplaced = greedy_racks(guided)
    if unplaced or unmet_final_rules(guided, racks):
        return None
    return racks


def guided_start(problem: Problem, mm: MilpModel, time_limit_s: float) -> GuidedStart:
    """The LP bound and the LP-steered greedy plan (see the module docstring)."""
    opts = problem.scenario.policy.solver
    t0 = time.perf_counter()
    bound, use_values = lp_relaxation(mm, LP_SHARE * time_limit_s, opts.seed)
    lp_s = time.perf_counter() - t0
    if bound is None or not math.isfinite(bound):
        return GuidedStart(None, None, lp_s, f"LP relaxation not solved within {LP_SHARE * time_limit_s:.0f} s")
    racks = steered_greedy(problem, use_values)
    note = f"LP relaxation solved in {lp_s:.1f} s (bound {bound:,.0f} USD/yr)"
    note += (
        "; the MIP start is the greedy steered to the pairs the LP uses"
        if racks is not None
        else "; the LP-steered greedy could not place everything, so the plain greedy starts the MILP"
    )
    return GuidedStart(racks, bound, lp_s, note)


def placement_cost_usd(problem: Problem, racks: dict[int, int]) -> float:
    """The placement's engine objective without the grid: racks, tenant-site charges, site fixed costs."""
    w = problem.scenario.policy.objective
    pairs = {(problem.candidates[i].t, problem.candidates[i].s) for i, n in racks.items() if n > 0}
    opened = {s for _, s in pairs}
    return (
        sum(problem.candidates[i].annual_cost_usd_per_rack * n for i, n in racks.items())
        + w.tenant_site_usd_per_year * len(pairs)
        + w.site_fixed_weight * sum(problem.sites[s].fixed_usd_per_year for s in opened)
    )


def cheaper(problem: Problem, racks: dict[int, int], other: dict[int, int]) -> bool:
    """True when ``racks`` costs less than ``other`` by :func:`placement_cost_usd`."""
    return placement_cost_usd(problem, racks) < placement_cost_usd(problem, other)
