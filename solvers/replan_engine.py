"""The engine that runs a re-plan on the MILP (:mod:`solvers.replan_milp`), standing in for ``milp`` or
``scip`` when ``problem.replan`` is set: the same name and capabilities, its own solve (the stock MILP
does not know the ``moves`` family). CP-SAT reads the family itself. O(1)."""

from __future__ import annotations

from collections.abc import Callable

from solvers.engine import Engine, EngineResult
from solvers.engines import places_all_demand
from solvers.problem import Problem


class ReplanMilpEngine(Engine):
    def __init__(self, base: Engine):
        self.name, self.capabilities = base.name, base.capabilities
        self.backend = getattr(base, "backend", "highs")

    def solve(
        self, problem: Problem, *, hint: dict[int, int] | None = None, on_progress: Callable[[dict], None] | None = None
    ) -> EngineResult:
        from solvers.replan_milp import solve_replan_milp

        usable = hint if self.capabilities.hints and hint and places_all_demand(problem, hint) else None
        return solve_replan_milp(problem, self.backend, hint=usable)
