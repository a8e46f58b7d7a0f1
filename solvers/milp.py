"""MILP placement through OR-Tools MathOpt (HiGHS or SCIP), with grid limits by a contingency loop.

Input: a :class:`~solvers.problem.Problem`; output: an :class:`~solvers.engine.EngineResult` with
its grid report.

The placement part is :mod:`solvers.formulation`'s rows translated in floating point MW (no
integer scaling): integer racks ``x[c]`` (and live racks ``y[c, q]`` on rollouts), binaries
``use[t,s]`` and ``open[s]``, plus continuous site facility power ``F[s]`` (the formulation's
final facility aggregates, defined by its ``facility_def`` rows) and plant re-dispatch ``d[g]``
in [0, spare_g]. When the scenario has lines and ``policy.grid.security`` is not ``none``:

0. (single period) LP-relaxation rounds: solve the relaxation, screen it, add the rows it breaks,
until clean (measured on case2000_goc, 50 sites: the 186 rows the MILP loop needed 3 MILP solves
for, collected by 3 LPs of under 1 s each; one MILP solve then confirms the screen clean);
1. solve; 2. screen every line in the base case and after every non-bridge outage with
PTDF/LODF (:class:`solvers.grid_security.SecurityLoop`); 3. add only the violated rows;
4. re-solve, until the screen is clean. The plan records each iteration, the rows added
and the time. A single-period HiGHS run that is not yet within its gap then improves the
plan by fix-and-reoptimise neighbourhoods (:mod:`solvers.lns`); any run not yet within its
gap ends with a full solve hinted with the best plan, for the bound. The capacity-link cuts
of :mod:`solvers.cuts` tighten the relaxation. On single-period HiGHS runs of 300 sites or more,
:mod:`solvers.decompose` replaces the loop's full solves: the LP relaxation's bound, an LP-steered
greedy start made secure with its racks pinned, then large fix-and-reoptimise neighbourhoods.

Size before the loop: C integer, T·S + S binary, S + G continuous variables; each loop
row has O(G + S) non-zeros.
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import ortools
import structlog
from ortools.math_opt.python import mathopt
from ortools.util.python.solve_interrupter import SolveInterrupter

from placer.contract import HOURS_PER_YEAR
from placer.errors import InfeasibleError, NoSolutionError, SolveInterrupted
from placer.plan import GridReport, LoopIteration, Status
from solvers import decompose
from solvers.cuts import capacity_cuts
from solvers.dcpf import GridModel
from solvers.engine import EngineResult
from solvers.formulation import Formulation, Ref, Row
from solvers.grid_periods import PeriodGrid
from solvers.grid_security import (
    SecurityLoop,
    add_raise_cost,
    has_grid,
    least_cost_redispatch,
    parsimonious_redispatch,
    redispatch_cost_usd_per_year,
    redispatch_lower_mw,
)
from solvers.interrupt import run_interruptibly
from solvers.lns import Neighbourhoods, fix_outside, restore
from solvers.problem import Problem, final_scenario

log = structlog.get_logger("placer.milp")

SOLVERS = {"highs": mathopt.SolverType.HIGHS, "scip": mathopt.SolverType.GSCIP}
INTEGRALITY_TOL = 1e-6
LOOP_GAP = 0.01  # relative gap of the lazy loop's MILP solves before its screen is first clean (0: off)


class MilpModel:
    """The placement MILP: the variables in typed containers, and every row of
    :class:`~solvers.formulation.Formulation` translated in floating point (:meth:`add_row`)."""

    def __init__(self, problem: Problem):
        self.p = problem
        self.f = Formulation(problem)
        self.m = mathopt.Model(name=f"placer-{problem.scenario.name}")
        self.x: dict[int, mathopt.Variable] = {}
        self.use: dict[tuple[int, int], mathopt.Variable] = {}
        self.open: dict[int, mathopt.Variable] = {}
        self.facility: list[mathopt.Variable] = []
        self.redispatch: list[mathopt.Variable] = []
        self.redispatch_q: dict[tuple[int, int], mathopt.Variable] = {}  # (plant, period): rollouts' per-period grid
        self.raised: dict[tuple[int, ...], mathopt.Variable] = {}  # (plant,) or (plant, period) -> raised output
        self.flow: dict[int, mathopt.Variable] = {}  # line -> base-case flow (the up-front yardstick only)
        self.y: dict[tuple[int, int], mathopt.Variable] = {}  # (candidate, period) -> live racks (rollouts)
        self.option: dict[tuple[int, int], mathopt.Variable] = {}  # (power option, period) -> built
        self.objective_terms: list = []
        self._build()

    def _con(self, name: str, terms, lb: float = -math.inf, ub: float = math.inf) -> None:
        ct = self.m.add_linear_constraint(lb=lb, ub=ub, name=name)
        for coef, var in terms:
            ct.set_coefficient(var, float(coef))

    def var(self, ref: Ref) -> mathopt.Variable:
        kind, key = ref.kind, ref.key
        if kind == "y":
            i, q = key
            return self.x[i] if q == self.f.last else self.y[(i, q)]
        if kind == "use":
            t, s = key
            return self.use[(t, s)]
        if kind == "open":
            return self.open[key[0]]
        if kind == "facility" and key[1] == self.f.last:
            return self.facility[key[0]]
        if kind == "option":
            return self.option[(key[0], key[1])]
        if kind == "redispatch":
            return self.redispatch[key[0]] if len(key) == 1 else self.redispatch_q[(key[0], key[1])]
        if kind == "raise":
            return self.raised[key]
        if kind == "flow":
            return self.flow[key[0]]
        raise ValueError(f"the MILP holds no variable {kind}{list(key)} (aggregates are expanded first)")

    def add_row(self, row: Row) -> None:
        """Translate a formulation row in floating point; the final period's facility aggregates are
        the model's facility variables (the grid rows use them), earlier periods' are written out."""
        terms = [(c, self.var(ref)) for c, ref in self.f.expand(row.terms, keep=lambda ref: ref.key[1] == self.f.last)]
        lo, hi = -math.inf if row.lo is None else float(row.lo), math.inf if row.hi is None else float(row.hi)
        if not row.explain and row.enforce is None and len(terms) == 1 and terms[0][0] == 1:
            var = terms[0][1]  # a structural row on one variable is a bound (e.g. nothing live before go-live)
            var.lower_bound, var.upper_bound = max(var.lower_bound, lo), min(var.upper_bound, hi)
            return
        if row.enforce is not None:
            # sum >= lo when the boolean is 1, over non-negative terms: sum - lo * boolean >= 0 is exact
            if row.hi is not None or row.lo is None or any(c < 0 for c, _ in terms):
                raise ValueError(f"row '{row.name}': the MILP writes only lower-bounded non-negative indicator rows")
            terms, lo = terms + [(-lo, self.var(row.enforce))], 0.0
        self._con(row.name, terms, lo, hi)

    def _build(self) -> None:
        p, m = self.p, self.m
        cands, f, per = p.candidates, self.f, p.periods
        last = f.last
        for i, c in enumerate(cands):
            self.x[i] = m.add_integer_variable(
                lb=0, ub=c.max_racks, name=f"x[{p.tenants[c.t].id},{p.skus[c.k].id},{p.sites[c.s].id}]"
            )
        self.facility = [m.add_variable(lb=0.0, name=f"facility[{site.id}]") for site in p.sites]
        for o, opt in enumerate(p.options):  # power options (rollouts): built by period q
            for q in range(per.count):
                self.option[(o, q)] = m.add_binary_variable(name=f"option[{opt.id},{per.ids[q]}]")
        # Row order steers HiGHS's search: each site's facility definition comes just after its limits.
        # Measured on korea-2025 (the same rows in other orders; HiGHS nodes / simplex iterations to
        # OPTIMAL): 479 / 20,664 so; 579 / 20,706 with it just before them (the order before the
        # formulation, whose plan is $21k dearer, within the gap); 1,038 / 28,303 with every
        # definition first (the 1.4x slower solve of the first formulation).
        for row in f.demand():
            self.add_row(row)
        for s in range(len(p.sites)):
            for row in f.site_limits(s, last):
                self.add_row(row)
            self.add_row(f.facility_definition(s))
        for row in f.substation_limits(last):
            self.add_row(row)
        for row in f.power():
            self.add_row(row)
        for t, s in f.pairs():
            self.use[(t, s)] = m.add_binary_variable(name=f"use[{p.tenants[t].id},{p.sites[s].id}]")
            for row in f.pair_rules(t, s):
                self.add_row(row)
        for row in f.tenant_rules():
            self.add_row(row)
        for s in f.open_sites():
            self.open[s] = m.add_binary_variable(name=f"open[{p.sites[s].id}]")
            for row in f.open_links(s):
                self.add_row(row)
        # Rollouts skip the cuts: their objective is dominated by stranding, which the cuts do not
        # touch (measured on korea-2025-rollout at 90 s: the same bound, a 2 % worse plan with them).
        if not per.multi:
            for row in f.cuts(capacity_cuts(p, open_sites=set(self.open), pairs=set(self.use))):
                self.add_row(row)
        if per.multi:
            # The rollout's columns and rows come last (measured on korea-2025-rollout at 30 s: with
            # them first HiGHS's incumbent stranded 409,336 GPU-quarters instead of 303,864).
            for i, c in enumerate(cands):
                for q in range(last):
                    label = f"{p.tenants[c.t].id},{p.skus[c.k].id},{p.sites[c.s].id}"
                    self.y[(i, q)] = m.add_integer_variable(lb=0, ub=c.max_racks, name=f"y[{label},{per.ids[q]}]")
                self.y[(i, last)] = self.x[i]
            for row in f.monotone():
                self.add_row(row)
            for q in range(last):
                for row in f.period_limits(q):
                    self.add_row(row)
            for row in f.windows(by_period=True):
                self.add_row(row)
            for row in f.build_rates():
                self.add_row(row)
            for row in f.option_rules():
                self.add_row(row)
        terms, _ = f.objective()  # (the constants change no decision; assembly prices the plan)
        obj = [(c, self.var(ref)) for c, ref in terms]
        self.objective_terms = obj

    def add_grid(self, grid: GridModel, lower_mw: np.ndarray, loop: SecurityLoop) -> None:
        """Re-dispatch variables, their raised-output rows and cost, and the balance rows."""
        hours = HOURS_PER_YEAR * self.p.scenario.policy.cost.utilization
        weight = self.p.scenario.policy.grid.redispatch_weight
        for g, pid in enumerate(grid.plant_ids):
            self.redispatch.append(
                self.m.add_variable(lb=float(lower_mw[g]), ub=float(grid.spare_mw[g]), name=f"redispatch[{pid}]")
            )
        money = weight * hours * self.p.redispatch_money_factor  # a rollout's NPV: its last quarter, discounted
        self.objective_terms += add_raise_cost(self, loop.rows, money * grid.cost_usd_per_mwh)
        loop.add_balance(self)

    def set_objective(self) -> None:
        self.m.minimize(mathopt.fast_sum(c * v for c, v in self.objective_terms if c))


def _params(opts, engine: str, time_left_s: float, gap: float | None = None) -> mathopt.SolveParameters:
    params = mathopt.SolveParameters(
        time_limit=datetime.timedelta(seconds=max(0.05, time_left_s)),
        random_seed=opts.seed,
        enable_output=bool(opts.log_search),
        relative_gap_tolerance=float(opts.relative_gap if gap is None else gap),
    )
    if engine == "scip":
        params.threads = opts.workers  # HiGHS takes threads only as a global option
    return params


@dataclass
class _Incumbent:
    objective: float
    racks: dict[int, int]
    redispatch_mw: np.ndarray
    schedule: dict[tuple[int, int], int] | None
    options: dict[tuple[int, int], int] | None = None  # (power option, period) -> built


class _LnsStats(TypedDict):
    """What :meth:`_Run.reoptimise` did: neighbourhoods tried and improving, the starting engine
    objective (USD/yr), and each neighbourhood's size in sites."""

    neighbourhoods: int
    improved: int
    start_usd: float
    sizes: list[int]


class _Run:
    """One engine run on a built model: full solves, the contingency loop, fix-and-reoptimise."""

    def __init__(
        self,
        problem: Problem,
        mm: MilpModel,
        engine: str,
        loop: SecurityLoop | None,
        enforce: bool,
        periods: PeriodGrid | None = None,
    ):
        self.p, self.mm, self.engine, self.loop, self.enforce = problem, mm, engine, loop, enforce
        self.periods = periods  # a rollout's per-period loops (then ``loop`` is None)
        self.opts = problem.scenario.policy.solver
        self.solve_s = 0.0
        self.bound = -math.inf  # the best bound of any full solve: each is a relaxation of the secure problem
        self.interrupted = False  # Ctrl-C: no further solves; the best plan so far is returned, marked

    def solve(
        self, budget_s: float, hint: dict[int, int] | None, gap: float | None = None, start: _Incumbent | None = None
    ):
        """One full solve within ``budget_s``, hinted with the racks ``hint`` (and, a rollout's ``start``,
        with its whole schedule and options too: the incumbent itself)."""
        model_hint = None
        if hint and self.engine == "highs":  # measured: SCIP found no plan from a greedy hint in 12 s either
            values = {self.mm.x[i]: float(v) for i, v in hint.items()}
            if start is not None and start.schedule is not None:
                values.update({y: float(start.schedule.get(key, 0)) for key, y in self.mm.y.items()})
                values.update({b: float((start.options or {}).get(key, 0)) for key, b in self.mm.option.items()})
            model_hint = mathopt.ModelSolveParameters(solution_hints=[mathopt.SolutionHint(variable_values=values)])
        t = time.perf_counter()
        params = _params(self.opts, self.engine, budget_s, gap)
        stopper = SolveInterrupter()  # SCIP honours it; HiGHS under MathOpt (ortools 9.15) finishes its solve first
        res, interrupted = run_interruptibly(
            lambda: mathopt.solve(
                self.mm.m, SOLVERS[self.engine], params=params, model_params=model_hint, interrupter=stopper
            ),
            stopper.interrupt,
            engine=self.engine,
            stop_note=f"{self.engine} stops at the end of its current solve (at most {budget_s:.0f} s); "
            "Ctrl-C again to abort without a plan",
        )
        self.interrupted |= interrupted
        dt = time.perf_counter() - t
        self.solve_s += dt
        return res, dt

    def incumbent(self, res) -> _Incumbent:
        values = res.variable_values()
        schedule = {key: round(values[y]) for key, y in self.mm.y.items()} if self.p.periods.multi else None
        if self.periods is not None:  # periods x plants
            red = np.array(
                [
                    [values[self.mm.redispatch_q[(g, q)]] for g in range(len(loop.grid.plant_ids))]
                    for q, loop in enumerate(self.periods.loops)
                ]
            )
        else:
            red = np.array([values[v] for v in self.mm.redispatch])
        return _Incumbent(
            float(res.objective_value()),
            {i: round(values[v]) for i, v in self.mm.x.items()},
            red,
            schedule,
            {key: round(values[b]) for key, b in self.mm.option.items()} if self.mm.option else None,
        )

    def full_bound(self, res) -> None:
        bound = res.termination.objective_bounds.dual_bound
        if not math.isfinite(bound) and res.termination.reason == mathopt.TerminationReason.OPTIMAL:
            bound = res.objective_value()  # solved (e.g. in presolve) within relative_gap_tolerance
        if math.isfinite(bound):
            self.bound = max(self.bound, float(bound))

    def screen_and_cut(self, inc: _Incumbent) -> tuple[int, int, float]:
        """Screen a placement (a rollout's in every period); add the rows it violates. Returns (base
        rows, contingency rows, worst violation MW)."""
        if self.periods is not None:
            assert inc.schedule is not None, "a rollout's incumbent has its schedule"
            draws = self.periods.draws_mw(inc.schedule, inc.options)
            return self.periods.screen_and_cut(self.mm, draws, inc.redispatch_mw, inc.options)
        assert self.loop is not None, "only a grid-enforcing run screens (enforce implies a loop)"
        scr = self.loop.screen(_site_mw(self.p, inc.racks), inc.redispatch_mw)
        n_base, n_post = self.loop.add_rows(self.mm, scr)
        return n_base, n_post, scr.worst_violation_mw

    def reoptimise(self, best: _Incumbent, until: float) -> tuple[_Incumbent, _LnsStats]:
        """Fix-and-reoptimise neighbourhoods (solvers/lns.py) until ``until``; only screened-secure
        placements are accepted."""
        # a rollout's neighbourhoods are a third of its sites (korea-2025-rollout has 14: 20 would free all)
        size = max(2, len(self.p.sites) // 3) if self.p.periods.multi else min(20, len(self.p.sites))
        hood = Neighbourhoods(self.p, self.opts.seed, size=size)
        stats: _LnsStats = {"neighbourhoods": 0, "improved": 0, "start_usd": best.objective, "sizes": []}
        while until - time.perf_counter() > 1.0 and not self.interrupted:
            free = hood.next(best.racks)
            budget = min(5.0, until - time.perf_counter())
            undo = fix_outside(self.mm.x, self.p, free, best.racks)
            if best.schedule is not None:  # a rollout: the schedule outside the neighbourhood is pinned too
                undo += fix_outside(
                    {key: y for key, y in self.mm.y.items() if key[1] != self.mm.f.last},
                    self.p,
                    free,
                    best.schedule,
                    site_of=lambda key: self.p.candidates[key[0]].s,
                )
            try:
                res, dt = self.solve(budget, best.racks, start=best)
            finally:
                restore(undo)
            solved = res.termination.reason == mathopt.TerminationReason.OPTIMAL
            stats["neighbourhoods"] += 1
            stats["sizes"].append(len(free))
            hood.adapt(solved, dt, budget)
            if not res.has_primal_feasible_solution():
                continue
            inc = self.incumbent(res)
            if inc.objective >= best.objective - 1e-9 * abs(best.objective):
                continue
            if self.enforce and sum(self.screen_and_cut(inc)[:2]) > 0:
                continue  # its violated rows are in the model now; later neighbourhoods respect them
            best = inc
            stats["improved"] += 1
            log.info(
                "milp.lns",
                neighbourhood=stats["neighbourhoods"],
                sites=len(free),
                objective_usd=best.objective,
                seconds=round(dt, 3),
            )
        return best, stats


def solve_milp(
    problem: Problem,
    engine: str = "highs",
    *,
    hint: dict[int, int] | None = None,
    n1_mode: str = "lazy",
    extend: Callable[[MilpModel], object] | None = None,
) -> EngineResult:
    """Full solves under the contingency loop; on a single-period HiGHS run that is not yet
    optimal, fix-and-reoptimise neighbourhoods improve the plan and a last full solve, hinted
    with it, raises the bound. The plan is the best screened-secure placement found.

    ``n1_mode``: ``lazy`` first collects rows from LP-relaxation rounds (:func:`_relaxation_rounds`),
    then runs the loop; ``upfront`` (the benchmarks' yardstick) adds every binding-capable no-harm
    row (:meth:`SecurityLoop.reachable_rows`) before the first solve, within the time limit (else
    :class:`NoSolutionError`), and the loop only confirms the screen is clean.

    ``extend``: called on the built placement model before its grid and objective are set, to add a
    family from outside (the re-plan's ``moves``: :func:`solvers.replan_milp.add_moves`)."""
    if n1_mode not in ("lazy", "upfront"):
        raise ValueError(f"n1_mode must be 'lazy' or 'upfront', not {n1_mode!r}")
    sc = problem.scenario
    opts = sc.policy.solver
    hinted = bool(hint) and engine == "highs"  # (the loop re-hints each re-solve with its last placement)
    t0 = time.perf_counter()
    mm = MilpModel(problem)
    if extend is not None:
        extend(mm)
    grid = loop = None
    periods: PeriodGrid | None = None
    if has_grid(sc) and problem.periods.multi:  # every quarter against its own network
        periods = PeriodGrid.build(problem)
        mm.objective_terms += periods.add_to(mm, mm.redispatch_q)
    elif has_grid(sc):
        final = final_scenario(sc)  # grid limits of the final build-out: ratings after every upgrade
        grid = GridModel.from_scenario(final)
        pre = grid.preexisting_state()
        loop = SecurityLoop(final, grid, pre, [s.id for s in problem.sites], last=mm.f.last)
        mm.add_grid(grid, redispatch_lower_mw(final, pre), loop)
    mm.set_objective()
    build_s = time.perf_counter() - t0
    log.info(
        "milp.model",
        engine=engine,
        variables=mm.m.get_num_variables(),
        constraints=mm.m.get_num_linear_constraints(),
        build_seconds=round(build_s, 3),
    )
    limit_s = opts.time_limit_s
    deadline = time.perf_counter() + limit_s
    enforce = (loop is not None or periods is not None) and sc.policy.grid.security != "none"
    run = _Run(problem, mm, engine, loop, enforce, periods)
    iterations = periods.iterations if periods is not None else loop.iterations if loop is not None else []
    use_lns = engine == "highs"
    max_iter = sc.policy.grid.max_iterations if enforce else 1
    loop_t0 = time.perf_counter()
    best = last = repaired = None
    notes_extra: list[str] = []
    lower_mw = redispatch_lower_mw(final, pre) if loop is not None else None
    decomposed = False
    if decompose.applies(problem, engine):  # big single-period runs: the LP's bound, then large neighbourhoods
        start = decompose.guided_start(problem, mm, limit_s)
        run.bound = max(run.bound, start.bound_usd if start.bound_usd is not None else -math.inf)
        notes_extra.append(start.note)
        if start.racks is not None and (not hint or decompose.cheaper(problem, start.racks, hint)):
            hint, hinted = start.racks, True
        if start.racks is not None and hint is start.racks and decompose.SEARCH:
            found, stats = decompose.guided_search(
                problem, run, start.racks, deadline - decompose.FINAL_SHARE * limit_s, start.lp_seconds
            )
            if found is not None:  # secure: the loop's full solves are skipped, the last full solve remains
                best, max_iter, use_lns, decomposed = found, 0, False, True
                notes_extra.append(stats.note())
    optimal = False
    first_it = 1
    if enforce and n1_mode == "upfront":
        if loop is None:
            raise ValueError("n1_mode 'upfront' (the benchmarks' yardstick) is for single-period problems")
        assert grid is not None and lower_mw is not None, "enforce implies a grid and its loop"
        notes_extra.append(_add_upfront_rows(problem, mm, loop, lower_mw, deadline))
    elif enforce and not decomposed:  # (a decomposed run's loop is done)
        rounds = periods if periods is not None else loop
        assert rounds is not None, "enforce implies a loop"
        first_it = _relaxation_rounds(run, rounds, deadline, 0.25 * limit_s)
        if first_it > 1:
            added = sum(i.base_constraints_added + i.contingency_constraints_added for i in iterations)
            notes_extra.append(
                f"loop iterations 1-{first_it - 1} were LP-relaxation rounds ({added:,} rows collected before "
                "the first MILP solve)"
            )
    # Until the screen is clean, MILP solves stop at LOOP_GAP (their bounds are valid all the same:
    # each is a relaxation of the secure problem); the solve that ends the loop runs at the real gap.
    clean_loose: _Incumbent | None = None
    loose_gap = max(LOOP_GAP, opts.relative_gap) if enforce and n1_mode == "lazy" and LOOP_GAP else None
    # A rollout whose relaxation rounds ended clean solves at the real gap from the first solve on: each
    # MILP re-solve restarts the search from the root, and a rollout's root alone took 55 s of a 90 s
    # budget on korea-2025-rollout (three solves of 55 + 24 + 17 s, each from scratch). HiGHS then
    # improves it by neighbourhoods; SCIP (no neighbourhoods) spends 0.9 of the time in that solve.
    one_solve = (
        periods is not None
        and bool(iterations)
        and iterations[-1].base_constraints_added + iterations[-1].contingency_constraints_added == 0
    )
    if one_solve:
        loose_gap = None
    for it in range(first_it, max_iter + 1):
        # Leave time for the loop (a placement that breaks line limits must still be repaired before
        # the deadline) and, with neighbourhood search, for improving the plan and the bound after it.
        left = deadline - time.perf_counter()
        first = 0.4 if problem.periods.multi else 0.3  # of the time limit: a rollout's root alone is slow
        share = (first * limit_s / left if it == first_it else 0.3) if use_lns else 0.9 if one_solve else 0.6
        budget = left if it == max_iter else max(min(left, 10.0), share * left)
        res, dt = run.solve(budget, hint, loose_gap)
        reason = res.termination.reason
        log.info(
            "milp.solve",
            iteration=it,
            termination=reason.name,
            seconds=round(dt, 3),
            nodes=res.solve_stats.node_count,
            simplex_iterations=res.solve_stats.simplex_iterations,
            objective_usd=res.objective_value() if res.has_primal_feasible_solution() else None,
            bound_usd=res.termination.objective_bounds.dual_bound,
        )
        if reason in (mathopt.TerminationReason.INFEASIBLE, mathopt.TerminationReason.INFEASIBLE_OR_UNBOUNDED):
            raise InfeasibleError(*_explain(problem, loop, it, periods))
        if not res.has_primal_feasible_solution():
            if run.interrupted:
                raise SolveInterrupted(f"interrupted (Ctrl-C) before {engine} found any plan")
            raise NoSolutionError(
                f"{engine} found no plan within {opts.time_limit_s:g} s (termination {reason.name}); raise --time-limit"
            )
        run.full_bound(res)
        last = run.incumbent(res)
        if not enforce:
            best, optimal = last, reason == mathopt.TerminationReason.OPTIMAL
            break
        n_base, n_post, worst_mw = run.screen_and_cut(last)
        iterations.append(
            LoopIteration(
                iteration=it,
                seconds=round(dt, 4),
                objective=last.objective,
                base_constraints_added=n_base,
                contingency_constraints_added=n_post,
                worst_violation_mw=worst_mw,
            )
        )
        log.info(
            "milp.screen",
            iteration=it,
            base_added=n_base,
            contingency_added=n_post,
            worst_violation_mw=round(worst_mw, 6),
        )
        if n_base + n_post == 0:
            within = last.objective - run.bound <= opts.relative_gap * abs(last.objective)
            if loose_gap is not None and not within and it < max_iter and time.perf_counter() < deadline:
                # clean at the loose gap: secure, kept; the next solve, at the real gap, may still add rows
                loose_gap, clean_loose, hint = None, last, last.racks
                continue
            best, optimal = last, within or (reason == mathopt.TerminationReason.OPTIMAL and loose_gap is None)
            break
        # Keep a secure fallback: the same placement with a re-dispatch an LP finds under the rows so far
        # and its own lazy loop (cheap next to a MILP re-solve; big grids can need many iterations).
        left = deadline - time.perf_counter()
        if left > 1.0 and not run.interrupted and (repaired is None or last.objective < repaired.objective):
            fixed, objective = _repair(problem, run, last, min(15.0, 0.2 * left))
            if fixed is not None:
                if repaired is None or objective < repaired.objective:
                    repaired = _Incumbent(objective, last.racks, fixed, last.schedule, last.options)
        if repaired is not None and repaired.objective - run.bound <= opts.relative_gap * abs(repaired.objective):
            # The repaired plan is secure (its re-dispatch passed its own screen) and within the gap of a
            # valid bound of the secure problem: proven, no re-solve needed (the violations were the
            # MILP's arbitrary choice among equal-cost re-dispatches, as on case2383wp_k).
            best, optimal = repaired, True
            notes_extra.append(
                "the contingency loop ended on a repaired plan: the MILP's placement with a least-cost secure "
                "re-dispatch (an LP), within the gap of the MILP's bound"
            )
            break
        if time.perf_counter() > deadline or run.interrupted:
            break
        hint = last.racks
    if best is None and clean_loose is not None and (repaired is None or clean_loose.objective <= repaired.objective):
        best = clean_loose  # the loop stopped (time) after its real-gap solve added rows: the last clean plan
    if best is None and repaired is not None:
        best = repaired
        notes_extra.append(
            "the contingency loop did not converge in time: the plan keeps the MILP's placement "
            "with a least-cost re-dispatch an LP found under the same no-harm rows"
        )
    notes = [
        f"MILP through MathOpt/{engine}; grid security '{sc.policy.grid.security}' enforced by a lazy "
        "contingency loop (PTDF/LODF screen, violated rows added, re-solved)"
        if enforce
        else f"MILP through MathOpt/{engine}; no grid limits (no lines, or security 'none')"
    ] + notes_extra
    if best is not None and not optimal and deadline - time.perf_counter() > 5.0 and not run.interrupted:
        # Time is left and the plan is not proven: improve it (single-period HiGHS), then spend the
        # rest on one more full solve hinted with the best plan, for the bound and maybe a better plan.
        if use_lns:
            left = deadline - time.perf_counter()
            best, stats = run.reoptimise(best, until=deadline - 0.3 * left)
            sizes = stats["sizes"]
            notes.append(
                f"fix-and-reoptimise: {stats['neighbourhoods']} neighbourhoods"
                + (f" of {min(sizes)}-{max(sizes)} sites" if sizes else "")
                + f", {stats['improved']} improvements (engine objective {stats['start_usd']:,.0f} -> "
                f"{best.objective:,.0f} {'USD' if problem.periods.multi else 'USD/yr'})"
            )
        res, dt = run.solve(deadline - time.perf_counter(), best.racks, start=best)
        run.full_bound(res)
        log.info(
            "milp.solve",
            iteration="final",
            termination=res.termination.reason.name,
            seconds=round(dt, 3),
            nodes=res.solve_stats.node_count,
            simplex_iterations=res.solve_stats.simplex_iterations,
            objective_usd=res.objective_value() if res.has_primal_feasible_solution() else None,
            bound_usd=res.termination.objective_bounds.dual_bound,
        )
        if res.has_primal_feasible_solution() and res.objective_value() < best.objective:
            final_inc = run.incumbent(res)
            if not enforce or sum(run.screen_and_cut(final_inc)[:2]) == 0:
                best = final_inc
        notes.append("a last full solve, hinted with the best plan, used the time left (bound and plan)")
    secure = best is not None
    best = best or last  # the loop ran out of iterations or time: report the last placement, insecure
    assert best is not None, "the loop runs at least once, and each iteration sets last or raises"
    status: Status = (
        "OPTIMAL"
        if secure and (optimal or best.objective - run.bound <= opts.relative_gap * abs(best.objective))
        else "FEASIBLE"
    )
    grid_report, extra = None, []
    if loop is not None:
        assert grid is not None and lower_mw is not None, "a loop is built with its grid and lower bounds"
        site_mw = _site_mw(problem, best.racks)
        # The verdict alone first (one screen); the full report only for the re-dispatch the plan keeps.
        scr = loop.screen(site_mw, best.redispatch_mw)
        n_violations = len(scr.base_violations) + len(scr.post_violations)
        if n_violations:
            status = "FEASIBLE"
            notes.append(
                f"the contingency loop stopped (iteration or time limit) with {n_violations} no-harm violations left"
            )
        # Lexicographic tie-break: among re-dispatches no dearer than the MILP's, the one moving the
        # fewest MW (the MILP's own is an arbitrary vertex of many equal-cost ones).
        money = problem.redispatch_money_factor  # USD per year of re-dispatch -> the objective's unit
        before = money * redispatch_cost_usd_per_year(sc, grid.cost_usd_per_mwh, best.redispatch_mw)
        lean = parsimonious_redispatch(
            loop,
            site_mw,
            best.redispatch_mw,
            lower_mw,
            time_limit_s=min(10.0, max(1.0, deadline - time.perf_counter())),
        )
        after = money * redispatch_cost_usd_per_year(sc, grid.cost_usd_per_mwh, lean)
        lean_report = loop.report(site_mw, lean, enforced=enforce, loop_seconds=time.perf_counter() - loop_t0)
        # (under security 'none' no row holds the LP to the limits: keep the MILP's if it was cleaner)
        if lean_report.n_minus_1 == "secure" or n_violations:
            # engine objective moves with the (at most 1e-9 relative) cost change, so the bound is not shifted
            best = _Incumbent(best.objective + after - before, best.racks, lean, best.schedule, best.options)
            grid_report = lean_report
        else:
            grid_report = loop.report(
                site_mw, best.redispatch_mw, enforced=enforce, loop_seconds=time.perf_counter() - loop_t0
            )
        extra = [
            (
                "redispatch",
                redispatch_cost_usd_per_year(sc, grid.cost_usd_per_mwh, best.redispatch_mw),
                "generation cost of the plants re-dispatched to serve the new load",
            )
        ]
    period_grids: list[GridReport] | None = None
    redispatch_by_period: list[float] | None = None
    if periods is not None:
        assert best.schedule is not None, "a rollout's incumbent has its schedule"
        draws = periods.draws_mw(best.schedule, best.options)
        n_violations = periods.violations(draws, best.redispatch_mw, best.options)
        if n_violations:
            status = "FEASIBLE"
            notes.append(
                f"the contingency loop stopped (iteration or time limit) with {n_violations} no-harm violations "
                "left over the rollout's quarters"
            )
        before = periods.npv_usd(best.redispatch_mw)
        reports, used = periods.reports(
            draws,
            best.redispatch_mw,
            best.options,
            enforced=enforce,
            loop_seconds=time.perf_counter() - loop_t0,
            time_limit_s=min(10.0, max(1.0, deadline - time.perf_counter())),
        )
        best = _Incumbent(
            best.objective + periods.npv_usd(used) - before, best.racks, used, best.schedule, best.options
        )
        grid_report, period_grids = reports[-1], reports[:-1]
        redispatch_by_period = [periods.cost_usd_per_year(q, used[q]) for q in range(len(used))]
        extra = [
            (
                "redispatch",
                redispatch_by_period[-1],
                "generation cost of the plants re-dispatched to serve the final build-out's new load",
            )
        ]
    if problem.periods.multi:
        notes.append(
            "rollout: placement, schedule and options solved together; "
            + (
                "DC flow and the no-harm rule hold in every quarter, against that quarter's network and load"
                if enforce
                else "no grid limits (no lines, or security 'none')"
            )
        )
    params = {
        "engine": engine,
        "time_limit_s": opts.time_limit_s,
        "random_seed": opts.seed,
        "threads": opts.workers if engine == "scip" else 1,
        "relative_gap_tolerance": opts.relative_gap,
        "neighbourhood_search": use_lns or decomposed,
        "decomposition": decomposed,
        "hinted": hinted,
    }
    if run.interrupted:
        notes.append("interrupted (Ctrl-C): the plan is the best found by then; no further solves")
    return EngineResult(
        racks=best.racks,
        status=status,
        solver="milp" if engine == "highs" else "scip",
        solver_version=f"ortools {ortools.__version__} mathopt/{engine}",
        parameters=params,
        build_seconds=build_s,
        solve_seconds=run.solve_s,
        bound=run.bound if math.isfinite(run.bound) else None,
        engine_objective=best.objective,
        notes=notes,
        grid=grid_report,
        period_grids=period_grids,
        redispatch_by_period_usd_per_year=redispatch_by_period,
        extra_terms=extra,
        schedule=best.schedule,
        options=best.options,
        interrupted=run.interrupted,
    )


def _repair(problem: Problem, run: _Run, inc: _Incumbent, time_limit_s: float) -> tuple[np.ndarray | None, float]:
    """The same placement (and schedule) with a least-cost secure re-dispatch an LP finds under the
    loop's rows and its own lazy screen: (re-dispatch, its engine objective), or (None, inf)."""
    sc = problem.scenario
    if run.periods is not None:
        assert inc.schedule is not None, "a rollout's incumbent has its schedule"
        fixed = run.periods.repair(
            run.periods.draws_mw(inc.schedule, inc.options), inc.options, time_limit_s=time_limit_s
        )
        if fixed is None:
            return None, math.inf
        return fixed, inc.objective + run.periods.npv_usd(fixed) - run.periods.npv_usd(inc.redispatch_mw)
    loop = run.loop
    assert loop is not None, "a repair needs the loop"
    fixed = least_cost_redispatch(
        loop, _site_mw(problem, inc.racks), redispatch_lower_mw(loop.scenario, loop.pre), time_limit_s=time_limit_s
    )
    if fixed is None:
        return None, math.inf
    cost = loop.grid.cost_usd_per_mwh
    return fixed, inc.objective + problem.redispatch_money_factor * (
        redispatch_cost_usd_per_year(sc, cost, fixed) - redispatch_cost_usd_per_year(sc, cost, inc.redispatch_mw)
    )


def _add_upfront_rows(
    problem: Problem, mm: MilpModel, loop: SecurityLoop, lower_mw: np.ndarray, deadline: float
) -> str:
    """The up-front yardstick: every binding-capable no-harm row in the model before the first
    solve, in the compact form (:meth:`solvers.formulation_grid.GridRows.flow_limit`): a flow
    variable per line involved, defined once by its PTDF row, and each limit on 1 or 2 flows.
    Logs ``milp.upfront`` (rows built, binding-capable, monitored candidates, nonzeros built,
    seconds); raises :class:`NoSolutionError` when ``deadline`` passes first. Returns the plan's note.
    O(lines used x (G + S) + rows)."""
    t_rows = time.perf_counter()
    rows, n_cand = loop.reachable_rows(_site_max_mw(problem), lower_mw, loop.grid.spare_mw)
    nonzeros = 0

    def event(built: int) -> None:
        log.info(
            "milp.upfront",
            rows_built=built,
            rows_total=len(rows),
            candidates=n_cand,
            nonzeros_built=nonzeros,
            seconds=round(time.perf_counter() - t_rows, 3),
        )

    def stop(n: int) -> NoSolutionError:
        event(n)
        return NoSolutionError(
            f"up-front N-1: built {n:,} of {len(rows):,} binding-capable rows (of {n_cand:,} monitored) "
            f"in {time.perf_counter() - t_rows:.0f} s, time limit reached before the first solve"
        )

    used = sorted({l for l, _ in rows} | {int(loop.outages[j]) for _, j in rows if j >= 0})
    for n, l in enumerate(used):
        if n % 100 == 0 and time.perf_counter() > deadline:
            raise stop(0)
        mm.flow[l] = mm.m.add_variable(name=f"flow[{loop.grid.line_ids[l]}]")
        row = loop.rows.flow_definition(l)
        nonzeros += len(row.terms)
        mm.add_row(row)
    for n, (l, j) in enumerate(rows):
        if n % 500 == 0 and time.perf_counter() > deadline:
            raise stop(n)
        loop.added.add((l, j))
        row = loop.rows.flow_limit(l, j)
        nonzeros += len(row.terms)
        mm.add_row(row)
    event(len(rows))
    return (
        f"up-front N-1 (compact: {len(used):,} flow variables): {len(rows):,} binding-capable no-harm rows "
        f"({nonzeros:,} nonzeros) of {n_cand:,} monitored added before the first solve "
        f"({time.perf_counter() - t_rows:.1f} s)"
    )


def _relaxation_rounds(
    run: _Run, loop: SecurityLoop | PeriodGrid, deadline: float, budget_s: float, max_rounds: int = 30
) -> int:
    """Collect no-harm rows before any MILP solve: solve the LP relaxation, screen its (fractional)
    facility and re-dispatch, add the rows it breaks; repeat until its screen is clean, a round adds
    nothing, or ``budget_s`` is spent. Every row is a valid row of the secure problem, so the MILP
    solves after it are relaxations still (their bounds stay valid). Each round is recorded as a
    loop iteration. A rollout's rounds screen every quarter (``loop`` is its :class:`PeriodGrid`).
    Returns the next iteration number. O(one LP per round)."""
    mm = run.mm
    ints = [v for v in mm.m.variables() if v.integer]
    for v in ints:
        v.integer = False
    until = min(deadline, time.perf_counter() + budget_s)
    it = len(loop.iterations) + 1  # numbered after any earlier rounds
    try:
        while it <= max_rounds and time.perf_counter() < until:
            t = time.perf_counter()
            params = mathopt.SolveParameters(time_limit=datetime.timedelta(seconds=max(0.05, until - t)))
            res = mathopt.solve(mm.m, SOLVERS["highs"], params=params)
            if res.termination.reason != mathopt.TerminationReason.OPTIMAL:
                break
            values = res.variable_values()
            if isinstance(loop, PeriodGrid):  # the (fractional) schedule's draw, quarter by quarter
                live = {key: float(values[y]) for key, y in mm.y.items()}
                built = {key: int(values[b] > 0.5) for key, b in mm.option.items()}
                red_q = np.array(
                    [
                        [values[mm.redispatch_q[(g, q)]] for g in range(len(lp.grid.plant_ids))]
                        for q, lp in enumerate(loop.loops)
                    ]
                )
                n_base, n_post, worst_mw = loop.screen_and_cut(mm, loop.draws_mw(live, built), red_q, built)
            else:
                site_mw = np.array([values[v] for v in mm.facility])
                red_mw = np.array([values[v] for v in mm.redispatch])
                scr = loop.screen(site_mw, red_mw)
                n_base, n_post = loop.add_rows(mm, scr)
                worst_mw = scr.worst_violation_mw
            dt = time.perf_counter() - t
            run.solve_s += dt
            loop.iterations.append(
                LoopIteration(
                    iteration=it,
                    seconds=round(dt, 4),
                    objective=float(res.objective_value()),
                    base_constraints_added=n_base,
                    contingency_constraints_added=n_post,
                    worst_violation_mw=worst_mw,
                )
            )
            log.info("milp.relaxation", round=it, base_added=n_base, contingency_added=n_post, seconds=round(dt, 3))
            it += 1
            if n_base + n_post == 0:
                break
    finally:
        for v in ints:
            v.integer = True
    return it


def _site_max_mw(problem: Problem) -> np.ndarray:
    """An upper bound on each site's facility MW in any feasible placement: its feeds' N-1 limit, the
    band's maximum and its candidates' racks all placed, whichever is least. O(C)."""
    band = problem.scenario.policy.power_band_mw.max_mw
    racks = np.zeros(len(problem.sites))
    for c in problem.candidates:
        racks[c.s] += c.max_racks * problem.facility_mw(c.k, c.s)
    return np.minimum(np.minimum(np.asarray(problem.feed_limit_mw, float), band), racks)


def _site_mw(problem: Problem, racks: dict[int, int]) -> np.ndarray:
    out = np.zeros(len(problem.sites))
    for i, n in racks.items():
        c = problem.candidates[i]
        out[c.s] += n * problem.facility_mw(c.k, c.s)
    return out


def _explain(
    problem: Problem, loop: SecurityLoop | None, iteration: int, periods: PeriodGrid | None = None
) -> tuple[str, list[str]]:
    """Infeasibility in the planner's words: the placement rules (via CP-SAT's core) or the grid."""
    from solvers.cpsat import explain_infeasibility

    reasons = explain_infeasibility(problem, problem.scenario.policy.solver, rules_proven_infeasible=False)
    if reasons is None:
        # Neither a core of the placement rules nor a plan for them within the explanation budget.
        return "no placement satisfies all the constraints (the MILP proved it)", []
    if reasons:
        return "no placement satisfies all the constraints; these cannot all hold together:", reasons
    if periods is not None and any(lp.added for lp in periods.loops):
        return (
            "the placement rules can be met, but not while the grid carries each quarter's new load within its "
            f"limits (after {iteration} contingency-loop iterations); binding limits include:",
            periods.binding_names(),
        )
    if loop is None or not loop.added:
        return "no placement satisfies all the constraints", []
    names = []
    for l, j in sorted(loop.added)[:10]:
        line = loop.grid.line_ids[l]
        names.append(
            f"line {line} in the base case"
            if j < 0
            else f"line {line} after losing line {loop.grid.line_ids[loop.outages[j]]}"
        )
    return (
        (
            "the placement rules can be met, but not while the grid carries the new load within its "
            f"limits (after {iteration} contingency-loop iterations); binding limits include:"
        ),
        names,
    )
