"""The registered engines: what each declares and how it runs.

Each class states its :class:`~solvers.engine.Capabilities` and delegates to its module, which
is imported only when the engine runs (CP-SAT and MathOpt are heavy imports, and a solve needs
only one of them). Registration order is the order ``--solver`` offers them.

| name | capabilities |
|---|---|
| ``cpsat`` | rollouts, bounds, hints, deterministic (grid-blind: re-dispatch chosen in assembly) |
| ``milp`` | grid, rollouts, bounds, hints, deterministic (HiGHS) |
| ``scip`` | grid, rollouts, bounds, deterministic (SCIP found no plan from a greedy hint) |
| ``greedy`` | rollouts, deterministic (no bound, grid-blind) |
"""

from __future__ import annotations

from collections.abc import Callable

from solvers.engine import REGISTRY, Capabilities, Engine, EngineResult
from solvers.problem import Problem


def places_all_demand(problem: Problem, racks: dict[int, int]) -> bool:
    """True when ``racks`` place every demand line exactly (a complete hint). O(C)."""
    placed: dict[tuple[int, int], int] = {}
    for i, n in racks.items():
        c = problem.candidates[i]
        placed[(c.t, c.k)] = placed.get((c.t, c.k), 0) + n
    return all(placed.get(key, 0) == need for key, need in problem.demand_racks.items())


class CpsatEngine(Engine):
    name = "cpsat"
    capabilities = Capabilities(grid=False, rollouts=True, bounds=True, hints=True, deterministic=True)

    def solve(
        self, problem: Problem, *, hint: dict[int, int] | None = None, on_progress: Callable[[dict], None] | None = None
    ) -> EngineResult:
        from solvers.cpsat import solve_cpsat

        return solve_cpsat(problem, hint=hint, on_progress=on_progress)


class MilpEngine(Engine):
    """The MILP through MathOpt with ``backend`` (``highs`` or ``scip``). ``n1_mode``: ``lazy`` (the
    contingency loop) or ``upfront`` (every binding-capable N-1 row before the first solve: the
    benchmarks' yardstick, not a ``--solver`` name)."""

    def __init__(self, name: str, backend: str, capabilities: Capabilities, n1_mode: str = "lazy"):
        self.name, self.backend, self.capabilities, self.n1_mode = name, backend, capabilities, n1_mode

    def solve(
        self, problem: Problem, *, hint: dict[int, int] | None = None, on_progress: Callable[[dict], None] | None = None
    ) -> EngineResult:
        from solvers.milp import solve_milp

        # A partial placement is no use as a MIP start: HiGHS would have to complete it first.
        usable = hint if self.capabilities.hints and hint and places_all_demand(problem, hint) else None
        return solve_milp(problem, self.backend, hint=usable, n1_mode=self.n1_mode)


class GreedyEngine(Engine):
    name = "greedy"
    capabilities = Capabilities(grid=False, rollouts=True, bounds=False, hints=False, deterministic=True)

    def solve(
        self, problem: Problem, *, hint: dict[int, int] | None = None, on_progress: Callable[[dict], None] | None = None
    ) -> EngineResult:
        from solvers.greedy import solve_greedy

        return solve_greedy(problem)


REGISTRY.register(CpsatEngine())
REGISTRY.register(
    MilpEngine("milp", "highs", Capabilities(grid=True, rollouts=True, bounds=True, hints=True, deterministic=True))
)
# SCIP gets no hint: measured, it found no plan from a greedy hint in 12 s either (solvers/milp.py).
REGISTRY.register(
    MilpEngine("scip", "scip", Capabilities(grid=True, rollouts=True, bounds=True, hints=False, deterministic=True))
)
REGISTRY.register(GreedyEngine())
