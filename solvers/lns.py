"""Fix-and-reoptimise neighbourhoods for the placement MILP (large neighbourhood search).

Input: a :class:`~solvers.problem.Problem` and an incumbent placement (racks per
candidate). Output: :class:`Neighbourhoods`, a seeded stream of site sets to free, and
:func:`fix_outside`, which pins every candidate outside a set to its incumbent value in a
MathOpt model and returns how to undo it.

Why: on hundreds of sites the MILP's bound comes quickly once the capacity-link cuts are in
(:mod:`solvers.cuts`), but branch and bound finds good plans slowly. A neighbourhood frees
the racks at ``size`` geographically close sites (a seed site and its nearest neighbours:
moves between nearby sites are the ones fixed costs and feeds make hard to find) and keeps
every other rack where it is; the sub-MILP is small enough to solve to optimality in
seconds, and its optimum is never worse than the incumbent, which stays feasible. The
size adapts: it grows after a sub-problem solved well inside its budget and shrinks after
one that timed out. Seeds alternate between sites in use and any site, so closing a site
and opening a new one are both tried.

The full model's bound is untouched: the engine reports the bound of its full solves and
the gap of the best plan against it.

Complexity: O(S log S) per neighbourhood (a sort of precomputed distances), O(C) to fix.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from solvers.problem import Problem

if TYPE_CHECKING:
    from ortools.math_opt.python import mathopt


class Neighbourhoods:
    """Seeded site neighbourhoods around a seed site: itself and its nearest sites."""

    def __init__(self, problem: Problem, seed: int, size: int):
        self.p = problem
        self.rng = np.random.default_rng([seed, 7])
        lat = np.radians([s.lat for s in problem.sites])
        lon = np.radians([s.lon for s in problem.sites])
        # equirectangular distances: only the order of neighbours matters
        x = (lon[:, None] - lon[None, :]) * np.cos((lat[:, None] + lat[None, :]) / 2)
        y = lat[:, None] - lat[None, :]
        self.order = np.argsort(np.hypot(x, y), axis=1, kind="stable")
        self.size = max(2, min(size, len(problem.sites)))
        self.count = 0

    def next(self, racks: dict[int, int]) -> list[int]:
        used = sorted({self.p.candidates[i].s for i, n in racks.items() if n > 0})
        pool = used if (self.count % 2 == 0 and used) else range(len(self.p.sites))
        seed_site = int(self.rng.choice(list(pool)))
        self.count += 1
        return sorted(int(s) for s in self.order[seed_site, : self.size])

    def adapt(self, solved: bool, seconds: float, budget_s: float) -> None:
        """Grow after a sub-problem solved in under a quarter of its budget; shrink after a timeout."""
        if solved and seconds < 0.25 * budget_s:
            self.size = min(len(self.p.sites), math.ceil(self.size * 1.5))
        elif not solved:
            self.size = max(2, int(self.size / 1.5))


def fix_outside(
    variables: dict,
    problem: Problem,
    free_sites: list[int],
    racks: dict,
    site_of=None,
) -> list[tuple[mathopt.Variable, float, float]]:
    """Pin every variable outside ``free_sites`` to its value in ``racks`` (0 when absent); return the
    old bounds. Keys are candidate indices (the racks), or any key ``site_of`` maps to its site (a
    rollout's live racks per (candidate, period))."""
    free = set(free_sites)
    undo = []
    for i, var in variables.items():
        if (problem.candidates[i].s if site_of is None else site_of(i)) in free:
            continue
        undo.append((var, var.lower_bound, var.upper_bound))
        value = float(racks.get(i, 0))
        var.lower_bound, var.upper_bound = value, value
    return undo


def restore(undo: list[tuple[mathopt.Variable, float, float]]) -> None:
    for var, lb, ub in undo:
        var.lower_bound, var.upper_bound = lb, ub
