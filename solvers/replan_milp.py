"""The re-plan MILP: :class:`solvers.milp.MilpModel` with the ``moves`` family added from outside.

Input: a :class:`~solvers.problem.Problem` with ``problem.replan`` set (:mod:`solvers.replan`);
output: an :class:`~solvers.engine.EngineResult` like :func:`solvers.milp.solve_milp`'s.

:class:`MilpModel` translates only the variable kinds it holds, so the ``moved`` variables and the
``moves``/``frozen`` rows are added here (:func:`add_moves`), with the move terms appended to its
objective before it is set; :func:`solvers.milp.solve_milp` calls it through its ``extend`` hook, so
the re-plan runs the same solve as any MILP (contingency loop, LP-relaxation rounds, neighbourhoods).

Complexity: as :func:`solvers.milp.solve_milp` per MILP solve; O(C) more variables and rows.
"""

from __future__ import annotations

from ortools.math_opt.python import mathopt

from solvers.engine import EngineResult
from solvers.milp import MilpModel, solve_milp
from solvers.problem import Problem
from solvers.replan import movable, move_rows, move_terms


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
    """Solve the re-plan: :func:`solvers.milp.solve_milp` with the ``moves`` family added
    (:func:`add_moves`), so it has the same contingency loop (a rollout's in every quarter),
    LP-relaxation rounds, neighbourhood search and re-dispatch as any MILP solve. Raises what
    :func:`solvers.milp.solve_milp` raises (an infeasible re-plan's reasons name the ``frozen`` rows)."""
    result = solve_milp(problem, engine, hint=hint, extend=add_moves)
    result.parameters["replan"] = True
    return result
