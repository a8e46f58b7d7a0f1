"""Decomposition for big placement MILPs: the LP relaxation's bound, a plan rounded from it, and
fix-and-reoptimise over large site neighbourhoods instead of the first full solves.

Input: a :class:`~solvers.problem.Problem` and its built :class:`~solvers.milp.MilpModel` (with the
grid's balance rows, before any contingency row). Used by :func:`solvers.milp.solve_milp` on
single-period HiGHS runs with at least :data:`MIN_SITES` sites (:func:`applies`).

1. :func:`guided_start` solves the LP relaxation (HiGHS dual simplex). Dropping integrality and
   the contingency rows still to come only enlarges the feasible set, so its optimum is a valid
   lower bound of the whole (secure) engine objective; it comes in seconds where HiGHS's first MILP
   solve of a 1,000-site model spends about half a minute at the root for little more (measured on
   ``xl``: LP 12.026 G$/yr in 5 s, root bound 12.039 G$/yr after 36 s).
2. It rounds the LP into a plan: the greedy baseline (:func:`solvers.greedy.greedy_racks`) re-run
   with each candidate's cost raised by :data:`STEER` times one minus its (tenant, site) pair's LP
   ``use`` value, so that it fills the sites the LP opens first. (The greedy ranks sites by cost
   per GPU and ignores site fixed costs and the tenant-site charge; the LP prices both.) Measured
   on ``xl`` without the grid, back to back: plain greedy 12.327 G$/yr, LP-steered 12.197 G$/yr.
3. :func:`guided_search` makes that plan secure (the contingency loop with every rack pinned) and
   improves it by sub-MILPs over neighbourhoods of up to :data:`HOOD_SITES` nearby sites, the
   other racks fixed, each placement screened as in the loop. The MILP then spends the last
   :data:`FINAL_SHARE` of its time limit on one full solve hinted with the best plan.

The reported bound is the best of the LP's and the full solves' (every one a relaxation of the
whole problem); a neighbourhood's bound is never used.

Complexity: one LP of the model's size, the greedy's O(T · S log S + C · F), and per
neighbourhood one sub-MILP and one screen.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from ortools.math_opt.python import mathopt

from solvers.greedy import greedy_racks, unmet_final_rules
from solvers.problem import Problem

if TYPE_CHECKING:
    from solvers.milp import MilpModel

log = structlog.get_logger("placer.milp")

MIN_SITES = 300  # measured at 120 s, back to back: 200 sites 0.65 % without, 1.17 % with; 500 sites 2.13 % vs 1.28 %
STEER = 0.3  # cost raise for a pair the LP leaves unused (measured 0.3, 1.0, 3.0 on xl: 12.197, 12.201, 12.198)
LP_SHARE = 0.25  # at most this share of the time limit goes to the LP
SEARCH = True  # guided_search instead of the loop's full solves (measured: see guided_search)
HOOD_SITES = 100  # neighbourhood size cap (sites / 5 below it); measured on xl, see guided_search
HOOD_SECONDS = 10.0  # per sub-MILP
PIN_ITERATIONS = 8  # re-solves of one pinned placement under the contingency loop
FINAL_SHARE = 0.2  # of the time limit left for the last full solve (its bound, and maybe a better plan)


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


@dataclass
class SearchStats:
    """What :func:`guided_search` did: neighbourhoods solved and improving, screens that found
    violated grid rows, placements repaired by re-dispatch, the start and end objectives (USD/yr)."""

    neighbourhoods: int = 0
    improved: int = 0
    screened_violations: int = 0
    repaired: int = 0
    start_usd: float = math.nan
    end_usd: float = math.nan
    sizes: list[int] = dataclasses.field(default_factory=list)
    lp_rows_bound_usd: float | None = None  # the LP re-solved with the line rows found

    def note(self) -> str:
        sizes = f" of {min(self.sizes)}-{max(self.sizes)} sites" if self.sizes else ""
        return (
            f"decomposition: from the LP-steered plan ({self.start_usd:,.0f} USD/yr, its re-dispatch made secure "
            f"by the contingency loop with every rack pinned), {self.neighbourhoods} large neighbourhoods{sizes} re-optimised with the rest fixed, "
            f"{self.improved} improvements ({self.end_usd:,.0f} USD/yr); {self.screened_violations} improved "
            f"placements broke line limits (rows added), {self.repaired} of them kept under those rows"
            + (
                f"; the LP relaxation with those rows: bound {self.lp_rows_bound_usd:,.0f} USD/yr"
                if self.lp_rows_bound_usd is not None
                else ""
            )
        )


def guided_search(problem: Problem, run, racks: dict[int, int], until: float, lp_seconds: float = 0.0):
    """Fix-and-reoptimise from ``racks`` with large site neighbourhoods, on the run's full model.

    ``run`` is the MILP's :class:`solvers.milp._Run`. The start is made secure first: every rack
    pinned, the model re-solved (its re-dispatch) and screened until clean, the contingency loop for
    one placement, whose rows stay in the model. Every improving sub-MILP placement is screened the
    same way; one that broke rows is re-solved pinned under them and kept only if it still improves.
    Returns (best secure incumbent, :class:`SearchStats`), or (None, stats) when the start cannot be
    made secure (then the contingency loop runs as usual).

    Measured at 120 s, each row back to back on the same loaded 2-core machine (load 4-5, so
    about twice as slow as a quiet one), gap against the bound of the whole problem:

    | case | full solves + small neighbourhoods | LP-steered MIP start only | this search |
    |---|---|---|---|
    | large (500 sites) | 2.13 % | 1.54 % | 1.28 % (1.15 % in another run) |
    | xl (1,000 sites) | 2.9 % | 2.05 % | 1.96-2.16 % (100-200-site neighbourhoods) |

    Without the grid, 75 s from the LP-steered plan on xl: 200-site neighbourhoods (15 s each)
    reached 12.103 G$/yr, 13-20-site ones 12.187 G$/yr (each sub-MILP call costs about 0.7 s of
    model hand-over). With the grid's rows a 200-site sub-MILP spends its 15 s at the root, hence
    100 sites and 10 s. Solving neighbourhoods with the line rows released and pinning afterwards
    was tried: every such placement broke its lines and none improved once pinned.
    Complexity: per neighbourhood one sub-MILP and one O(L·(G+S)) screen, and pinned re-solves
    (each an LP in effect) when it broke rows."""
    from placer.plan import LoopIteration
    from solvers.lns import Neighbourhoods, fix_outside, restore

    loop = run.loop
    stats = SearchStats()
    if loop is not None and not run.enforce:
        return None, stats  # a grid without security rows: the MILP's own re-dispatch is the model

    def screened(inc, seconds: float) -> int:
        """Screen ``inc``; its violated rows go into the model. Returns how many were added (a
        violation of a row already there is solver tolerance, as in the loop)."""
        if not run.enforce:
            return 0
        n_base, n_post, worst_mw = run.screen_and_cut(inc)
        loop.iterations.append(
            LoopIteration(
                iteration=len(loop.iterations) + 1,
                seconds=round(seconds, 4),
                objective=inc.objective,
                base_constraints_added=n_base,
                contingency_constraints_added=n_post,
                worst_violation_mw=worst_mw,
            )
        )
        return n_base + n_post

    def pinned(racks: dict[int, int]):
        """The model's best re-dispatch for ``racks`` (every rack pinned), re-solved until the screen
        is clean: the contingency loop for one placement, its rows kept in the model. None if the
        rows leave it no re-dispatch or time runs out."""
        for _ in range(PIN_ITERATIONS):
            if until - time.perf_counter() < 1.0 or run.interrupted:
                return None
            undo = fix_outside(run.mm.x, problem, [], racks)
            try:
                res, dt = run.solve(min(10.0, until - time.perf_counter()), racks)
            finally:
                restore(undo)
            if not res.has_primal_feasible_solution():
                return None
            inc = run.incumbent(res)
            if not screened(inc, dt):
                return inc
        return None

    best = pinned(racks)
    if best is None:
        return None, stats
    stats.start_usd = best.objective
    size = max(20, min(HOOD_SITES, len(problem.sites) // 5))
    hood = Neighbourhoods(problem, run.opts.seed, size=size)
    # the LP again at the end, with the rows found by then: keep about 1.5 times its first time
    search_until = until - (1.5 * lp_seconds if run.enforce else 0.0)
    while search_until - time.perf_counter() > 2.0 and not run.interrupted:
        free = hood.next(best.racks)
        budget = min(HOOD_SECONDS, search_until - time.perf_counter())
        undo = fix_outside(run.mm.x, problem, free, best.racks)
        try:
            res, dt = run.solve(budget, best.racks)
        finally:
            restore(undo)
        stats.neighbourhoods += 1
        stats.sizes.append(len(free))
        whole = len(free) == len(problem.sites)  # nothing pinned: a full solve, its bound is the model's
        if whole:
            run.full_bound(res)
        solved = res.termination.reason == mathopt.TerminationReason.OPTIMAL
        if solved and dt < 0.25 * budget:
            hood.size = min(len(problem.sites), math.ceil(hood.size * 1.5))
        if not res.has_primal_feasible_solution():
            continue
        inc = run.incumbent(res)
        if inc.objective >= best.objective - 1e-9 * abs(best.objective):
            if whole and solved:
                break  # the whole model's optimum (within its gap) is no better than the secure best
            continue
        n_violated = screened(inc, dt)
        if n_violated:
            stats.screened_violations += 1
            inc = pinned(inc.racks)  # the same placement under the rows it broke
            if inc is None or inc.objective >= best.objective - 1e-9 * abs(best.objective):
                continue
            stats.repaired += 1
        best = inc
        stats.improved += 1
        log.info(
            "milp.decompose",
            neighbourhood=stats.neighbourhoods,
            sites=len(free),
            objective_usd=best.objective,
            seconds=round(dt, 3),
        )
        if whole and solved and not n_violated:
            break  # the whole model solved to its gap with a secure plan: no neighbourhood can improve it
    stats.end_usd = best.objective
    log.info(
        "milp.decompose.done",
        neighbourhoods=stats.neighbourhoods,
        improved=stats.improved,
        rows=len(loop.added) if loop is not None else 0,
        seconds_left=round(until - time.perf_counter(), 3),
    )
    if run.enforce and loop.added and until - time.perf_counter() > 1.0 and not run.interrupted:
        # Every line row found is a row of the secure problem, so the LP with them is still a relaxation.
        bound, _ = lp_relaxation(run.mm, until - time.perf_counter(), run.opts.seed)
        if bound is not None:
            stats.lp_rows_bound_usd = bound
            run.bound = max(run.bound, bound)
    return best, stats
