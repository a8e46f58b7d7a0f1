"""The re-plan MILP: :class:`solvers.milp.MilpModel` with the ``moves`` family added from outside.

Input: a :class:`~solvers.problem.Problem` with ``problem.replan`` set (:mod:`solvers.replan`);
output: an :class:`~solvers.engine.EngineResult` like :func:`solvers.milp.solve_milp`'s.

:class:`MilpModel` translates only the variable kinds it holds, so the ``moved`` variables and the
``moves``/``frozen`` rows are added here (:func:`add_moves`), with the move terms appended to its
objective before it is set. The solve is the lazy contingency loop of :mod:`solvers.milp` in its
plain form (solve, screen with PTDF/LODF, add the violated rows, re-solve until clean; the
parsimonious re-dispatch at the end), reusing its ``_Run``; it skips the LP-relaxation rounds and the
neighbourhood search: a re-plan starts from the previous placement as its hint, usually a near-optimal
start. (Hook wanted in milp.py: ``solve_milp(..., extend=callable(MilpModel))`` called before
``set_objective``, and ``MilpModel.var`` falling back to an ``extra`` dict of variables, would make this
module a 20-line extension instead of a second loop.)

Complexity: as :func:`solvers.milp.solve_milp` per MILP solve; O(C) more variables and rows.
"""

from __future__ import annotations

import math
import time

import ortools
import structlog
from ortools.math_opt.python import mathopt

from placer.errors import InfeasibleError, NoSolutionError, SolveInterrupted
from placer.plan import LoopIteration, Status
from solvers.dcpf import GridModel
from solvers.engine import EngineResult
from solvers.grid_periods import PeriodGrid
from solvers.grid_security import (
    SecurityLoop,
    has_grid,
    parsimonious_redispatch,
    redispatch_cost_usd_per_year,
    redispatch_lower_mw,
)
from solvers.milp import MilpModel, _explain, _Run, _site_mw
from solvers.problem import Problem, final_scenario
from solvers.replan import movable, move_rows, move_terms

log = structlog.get_logger("placer.replan")


def add_moves(mm: MilpModel) -> dict[int, mathopt.Variable]:
    """Add the ``moved`` variables (continuous in [0, previous]: at an optimum each equals the integer
    max(0, previous - x)), the ``moves`` and ``frozen`` rows, and the move cost to the objective terms.
    Call before ``set_objective``. Returns the ``moved`` variables by candidate. O(C)."""
    p, f = mm.p, mm.f
    assert p.replan is not None, "add_moves needs a re-plan"
    moved = {i: mm.m.add_variable(lb=0.0, ub=float(p.replan.previous[i]), name=f"moved[{i}]") for i in movable(f)}

    def var(ref):
        return moved[ref.key[0]] if ref.kind == "moved" else mm.var(ref)

    for row in move_rows(f):
        if row.family == "frozen":
            mm.add_row(row)  # over x alone: MilpModel translates it
            continue
        ct = mm.m.add_linear_constraint(lb=float(row.lo), name=row.name)  # type: ignore[arg-type]
        for coef, ref in row.terms:
            ct.set_coefficient(var(ref), float(coef))
    mm.objective_terms += [(c, var(ref)) for c, ref in move_terms(f)]
    return moved


def solve_replan_milp(problem: Problem, engine: str = "highs", *, hint: dict[int, int] | None = None) -> EngineResult:
    """Solve the re-plan: the placement MILP with the ``moves`` family, under the lazy contingency loop
    when the scenario has lines (a rollout's in every quarter, :class:`solvers.grid_periods.PeriodGrid`).
    Raises InfeasibleError (the reasons from CP-SAT's core, which names the ``frozen`` rows),
    NoSolutionError, SolveInterrupted, as :func:`solvers.milp.solve_milp`."""
    sc = problem.scenario
    opts = sc.policy.solver
    t0 = time.perf_counter()
    mm = MilpModel(problem)
    add_moves(mm)
    grid = loop = lower_mw = None
    periods: PeriodGrid | None = None
    if has_grid(sc) and problem.periods.multi:  # every quarter against its own network
        periods = PeriodGrid.build(problem)
        mm.objective_terms += periods.add_to(mm, mm.redispatch_q)
    elif has_grid(sc):
        final = final_scenario(sc)
        grid = GridModel.from_scenario(final)
        pre = grid.preexisting_state()
        loop = SecurityLoop(final, grid, pre, [s.id for s in problem.sites], last=mm.f.last)
        lower_mw = redispatch_lower_mw(final, pre)
        mm.add_grid(grid, lower_mw, loop)
    mm.set_objective()
    build_s = time.perf_counter() - t0
    enforce = (loop is not None or periods is not None) and sc.policy.grid.security != "none"
    run = _Run(problem, mm, engine, loop, enforce, periods)
    iterations = periods.iterations if periods is not None else loop.iterations if loop is not None else []
    deadline = time.perf_counter() + opts.time_limit_s
    max_iter = sc.policy.grid.max_iterations if enforce else 1
    loop_t0 = time.perf_counter()
    best = last = None
    optimal = False
    for it in range(1, max_iter + 1):
        res, dt = run.solve(deadline - time.perf_counter(), hint)
        reason = res.termination.reason
        log.info("replan.solve", iteration=it, termination=reason.name, seconds=round(dt, 3))
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
        solved = reason == mathopt.TerminationReason.OPTIMAL
        if not enforce:
            best, optimal = last, solved
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
        if n_base + n_post == 0:
            best, optimal = last, solved
            break
        if time.perf_counter() > deadline or run.interrupted:
            break
        hint = last.racks
    secure = best is not None
    best = best or last
    assert best is not None, "the loop runs at least once, and each iteration sets last or raises"
    status: Status = (
        "OPTIMAL"
        if secure and (optimal or best.objective - run.bound <= opts.relative_gap * abs(best.objective))
        else "FEASIBLE"
    )
    notes = [
        f"re-plan MILP through MathOpt/{engine}: the placement rows plus the moves family "
        "(racks below the previous plan's count at each site, priced at the move cost)"
        + ("; grid limits by the lazy contingency loop" if enforce else "")
    ]
    grid_report, extra = None, []
    period_grids, redispatch_by_period = None, None
    left_s = min(10.0, max(1.0, deadline - time.perf_counter()))
    if loop is not None:
        assert grid is not None and lower_mw is not None
        site_mw = _site_mw(problem, best.racks)
        scr = loop.screen(site_mw, best.redispatch_mw)
        if scr.base_violations or scr.post_violations:
            status = "FEASIBLE"
            notes.append("the contingency loop stopped (iteration or time limit) with no-harm violations left")
        money = problem.redispatch_money_factor  # USD per year of re-dispatch -> the objective's unit
        before = money * redispatch_cost_usd_per_year(sc, grid.cost_usd_per_mwh, best.redispatch_mw)
        lean = parsimonious_redispatch(loop, site_mw, best.redispatch_mw, lower_mw, time_limit_s=left_s)
        lean_report = loop.report(site_mw, lean, enforced=enforce, loop_seconds=time.perf_counter() - loop_t0)
        if lean_report.n_minus_1 == "secure" or scr.base_violations or scr.post_violations:
            after = money * redispatch_cost_usd_per_year(sc, grid.cost_usd_per_mwh, lean)
            best.objective += after - before
            best.redispatch_mw = lean
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
    if periods is not None:
        assert best.schedule is not None, "a rollout's incumbent has its schedule"
        draws = periods.draws_mw(best.schedule, best.options)
        if periods.violations(draws, best.redispatch_mw, best.options):
            status = "FEASIBLE"
            notes.append("the contingency loop stopped with no-harm violations left over the rollout's quarters")
        before = periods.npv_usd(best.redispatch_mw)
        reports, used = periods.reports(
            draws,
            best.redispatch_mw,
            best.options,
            enforced=enforce,
            loop_seconds=time.perf_counter() - loop_t0,
            time_limit_s=left_s,
        )
        best.objective += periods.npv_usd(used) - before
        best.redispatch_mw = used
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
        notes.append("rollout: placement, schedule and options solved together")
    if run.interrupted:
        notes.append("interrupted (Ctrl-C): the plan is the best found by then; no further solves")
    return EngineResult(
        racks=best.racks,
        status=status,
        solver="milp" if engine == "highs" else "scip",
        solver_version=f"ortools {ortools.__version__} mathopt/{engine}",
        parameters={
            "engine": engine,
            "time_limit_s": opts.time_limit_s,
            "random_seed": opts.seed,
            "relative_gap_tolerance": opts.relative_gap,
            "replan": True,
            "hinted": bool(hint),
        },
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
