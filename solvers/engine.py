"""The engine contract: what an engine declares, what it returns, and the registry of engines.

An engine takes a :class:`~solvers.problem.Problem` (already pre-checked) and returns one
:class:`EngineResult`: rack counts, the rollout schedule, its own status and bound, timings,
parameters and notes, and its grid report when it models line flows. It never builds a plan:
:func:`solvers.assemble.assemble_plan` turns every engine's result into a plan in one place,
and decides there what the engine's capabilities leave open (the re-dispatch of a grid-blind
engine, the bound floor that comes with it, ``placement_status`` and the whole plan's status).

:class:`Capabilities` states what an engine supports; ``tests/test_engine_contract.py`` runs
every registered engine against every capability it claims. The registry (:data:`REGISTRY`)
maps the ``--solver`` names to engines in the order they are offered.

Complexity: registry look-ups are O(1); nothing here solves anything.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from placer.plan import GridReport, Status
    from solvers.problem import Problem


@dataclass(frozen=True)
class Capabilities:
    """What an engine supports.

    * ``grid``: it places under the grid's line limits (base case and N-1) and reports its own
      grid verdict; a grid-blind engine's placement gets a re-dispatch chosen afterwards;
    * ``rollouts``: it solves multi-period scenarios (placement and schedule together);
    * ``bounds``: it returns a valid lower bound on its own objective (so a gap and OPTIMAL);
    * ``hints``: it accepts a starting placement (``solve(..., hint=racks)``) and uses it;
    * ``deterministic``: a fixed seed and worker count reproduce the plan of a solve that finishes
      (proven within its gap, or greedy's single pass). A solve stopped by a wall-clock limit may
      not reproduce; CP-SAT's does with ``policy.solver.deterministic`` (its limit then counts
      deterministic time), HiGHS's limit is always wall-clock."""

    grid: bool
    rollouts: bool
    bounds: bool
    hints: bool
    deterministic: bool

    def claimed(self) -> list[str]:
        """The names of the capabilities this engine claims, in declaration order."""
        return [f.name for f in fields(self) if getattr(self, f.name)]


@dataclass
class EngineResult:
    """What an engine hands to assembly; every money figure in USD per year.

    ``status`` is the engine's verdict on its own objective (``OPTIMAL`` proven within its gap,
    else ``FEASIBLE``). ``bound`` is the engine's lower bound on that objective (None without
    one) and ``engine_objective`` the engine's own value of its incumbent, in the same units:
    assembly recomputes the objective in floating point from the racks and shifts the bound by
    the difference (CP-SAT rounds its coefficients to whole dollars), so bound and objective
    compare like for like. ``extra_terms`` are cost terms the racks alone do not give (the
    MILP's re-dispatch); ``grid`` is the engine's grid report when it models line flows."""

    solver: str
    solver_version: str
    status: Status
    racks: dict[int, int]
    schedule: dict[tuple[int, int], int] | None = None
    bound: float | None = None
    engine_objective: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    grid: GridReport | None = None
    extra_terms: list[tuple[str, float, str]] = field(default_factory=list)
    interrupted: bool = False
    # rollouts with power options: (option, period) -> 1 when built by then (None: no options)
    options: dict[tuple[int, int], int] | None = None
    # rollouts on a grid: each period's grid report but the last (that one is ``grid``, the final
    # build-out's), and each period's re-dispatch cost, USD per year (the NPV charges it per quarter)
    period_grids: list[GridReport] | None = None
    redispatch_by_period_usd_per_year: list[float] | None = None


class Engine(ABC):
    """One placement engine behind the ``--solver`` name :attr:`name`."""

    name: str
    capabilities: Capabilities

    @abstractmethod
    def solve(
        self, problem: Problem, *, hint: dict[int, int] | None = None, on_progress: Callable[[dict], None] | None = None
    ) -> EngineResult:
        """Place the problem's demand. Raises :class:`placer.errors.InfeasibleError` (with
        reasons) when it proves no placement exists, :class:`placer.errors.NoSolutionError`
        when it found none in its time limit, :class:`placer.errors.SolveInterrupted` on
        Ctrl-C before any plan. ``hint`` is a placement to start from (engines without the
        ``hints`` capability ignore it); ``on_progress`` receives incumbent events where the
        engine reports them."""


class Registry(Mapping[str, Engine]):
    """The engines by ``--solver`` name, in registration order (a read-only mapping)."""

    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}

    def register(self, engine: Engine) -> Engine:
        if engine.name in self._engines:
            raise ValueError(f"engine '{engine.name}' is registered twice")
        self._engines[engine.name] = engine
        return engine

    def supporting(self, capability: str) -> list[Engine]:
        """The engines that claim ``capability`` (a field name of :class:`Capabilities`)."""
        return [e for e in self._engines.values() if getattr(e.capabilities, capability)]

    def __getitem__(self, name: str) -> Engine:
        return self._engines[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._engines)

    def __len__(self) -> int:
        return len(self._engines)


REGISTRY = Registry()
