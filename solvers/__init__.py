"""Solvers: a scenario in, a plan out.

``solve(scenario, solver="cpsat")`` is the one entry point. Engines:

* ``cpsat``  -- CP-SAT on integer racks (exact, with bound and gap), hinted by greedy;
* ``greedy`` -- the cheapest-site-first baseline.

Solver options (time limit, workers, seed) come from ``scenario.policy.solver``;
override them with ``time_limit_s``, ``workers`` and ``seed``.
"""

from __future__ import annotations

from typing import Callable

from placer.errors import InputError
from placer.plan import Plan
from placer.scenario import Scenario
from solvers.greedy import greedy_racks, solve_greedy
from solvers.problem import Problem, build_problem


def _cpsat(problem: Problem, on_progress: Callable | None) -> Plan:
    from solvers.cpsat import solve_cpsat

    hint, _ = greedy_racks(problem)
    return solve_cpsat(problem, hint=hint, on_progress=on_progress)


def _greedy(problem: Problem, on_progress: Callable | None) -> Plan:
    return solve_greedy(problem)


ENGINES: dict[str, Callable[[Problem, Callable | None], Plan]] = {
    "cpsat": _cpsat,
    "greedy": _greedy,
}


def solve(
    scenario: Scenario,
    solver: str = "cpsat",
    *,
    time_limit_s: float | None = None,
    workers: int | None = None,
    seed: int | None = None,
    on_progress: Callable[[dict], None] | None = None,
) -> Plan:
    """Place the scenario's demand with the named engine and return the plan.

    Raises :class:`placer.errors.InfeasibleError` (with reasons) when no placement exists
    and :class:`placer.errors.NoSolutionError` when none was found in the time limit.
    """
    if solver not in ENGINES:
        raise InputError(f"unknown solver '{solver}'; choose one of {', '.join(ENGINES)}", where="--solver")
    overrides = {k: v for k, v in (("time_limit_s", time_limit_s), ("workers", workers), ("seed", seed)) if v is not None}
    if overrides:
        scenario = scenario.model_copy(deep=True)
        scenario.policy.solver = scenario.policy.solver.model_copy(update=overrides)
    return ENGINES[solver](build_problem(scenario), on_progress)


__all__ = ["solve", "ENGINES"]
