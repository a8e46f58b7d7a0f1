"""Capacity-link cuts: valid inequalities that tighten the LP relaxation of the placement.

Input: a :class:`~solvers.problem.Problem`.
Output: a list of :class:`CapacityCut`, each saying "the racks of these candidates use at
most ``cap_mw`` of one site resource, and none at all unless the binary ``link`` is 1":

    sum_i per_rack_mw(i) * x_i  <=  cap_mw * link

for the site binary ``open[s]`` (every candidate at the site) and for the tenant-site
binary ``use[t, s]`` (the tenant's candidates at the site), over two resources: IT power
against the site's IT capacity and facility power against what its feeds carry with N-1.

Why: the model links racks to binaries candidate by candidate (``x_i <= max_racks_i *
use``). In the LP relaxation a tenant with several SKUs at a site can then pay for
``use`` as if each SKU could fill the site on its own, and a site's fixed cost is spread
over racks as if every candidate's bound were its capacity. The aggregated rows charge
the binaries for the share of the site's real capacity the racks take. They are implied
by the integer model (when the binary is 1 the site limit already holds; when it is 0 the
racks are 0), so they cut no integer plan. Measured on the ``large`` synthetic case
(500 sites, 1M GPUs): the LP bound rises from 4.22 to 4.67 G$/yr against a best plan of
4.75 G$/yr (see ``benchmarks/results``).

The MILP does not add them to rollouts (measured: the stranding-dominated objective kept the
same bound and got a worse plan). A cut is left out when the per-candidate links already imply it (the candidates' own
bounds cannot reach the capacity). Capacities are the largest over the rollout's periods
(valid for the final build-out, which meets the last period's).

Complexity: O(C) over the candidates, at most 2·(S + T·S) cuts.
"""

from __future__ import annotations

from dataclasses import dataclass

from solvers.problem import Problem


@dataclass(frozen=True)
class CapacityCut:
    family: str  # "open_capacity" or "use_capacity"
    entities: tuple[str, ...]  # (resource, site) or (resource, tenant, site)
    link: tuple[str, int] | tuple[str, tuple[int, int]]  # ("open", s) or ("use", (t, s))
    resource: str  # "it" or "facility"
    candidates: list[int]
    cap_mw: float

    @property
    def name(self) -> str:
        return f"{self.family}[{','.join(self.entities)}]"

    def binary(self, open_vars: dict, use_vars: dict):
        """The engine's variable this cut links to: ``open_vars[s]`` or ``use_vars[(t, s)]``."""
        kind, key = self.link
        return open_vars[key] if kind == "open" else use_vars[key]


def per_rack_mw(problem: Problem, resource: str, i: int) -> float:
    c = problem.candidates[i]
    return problem.it_mw(c.k) if resource == "it" else problem.facility_mw(c.k, c.s)


def capacity_cuts(problem: Problem, *, open_sites: set[int], pairs: set[tuple[int, int]]) -> list[CapacityCut]:
    """The cuts for the sites with an ``open`` binary and the (tenant, site) pairs with ``use``."""
    by_site: dict[int, list[int]] = {}
    by_pair: dict[tuple[int, int], list[int]] = {}
    for i, c in enumerate(problem.candidates):
        by_site.setdefault(c.s, []).append(i)
        by_pair.setdefault((c.t, c.s), []).append(i)
    groups: list[tuple[str, tuple[str, ...], tuple, int, list[int]]] = [
        ("open_capacity", (problem.sites[s].id,), ("open", s), s, by_site[s]) for s in sorted(open_sites)
    ]
    groups += [
        ("use_capacity", (problem.tenants[t].id, problem.sites[s].id), ("use", (t, s)), s, by_pair[(t, s)])
        for t, s in sorted(pairs)
    ]
    per = problem.relaxed  # every option built: the cuts stay valid
    peak = {"it": per.peak(per.it_cap), "facility": per.peak(per.feed_limit)}
    cuts = []
    for family, ids, link, s, idx in groups:
        for r in ("it", "facility"):
            cap = peak[r][s]
            reach = sum(per_rack_mw(problem, r, i) * problem.candidates[i].max_racks for i in idx)
            if reach > cap + 1e-9:
                cuts.append(CapacityCut(family, (r, *ids), link, r, idx, cap))
    return cuts
