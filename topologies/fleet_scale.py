"""A k-times fleet: a laid-out plan's sites replicated k times (the scheduler's 10x fleet).

:func:`scale_plan` copies every site of a laid-out plan ``k`` times: copy ``i`` of site ``s``
is ``s.ci`` (``haenam.c3``; copy 0 keeps its name), with its assignments, site totals, rack inventory and
layout report copied and every SU id suffixed, so :func:`placer.fleet.fleet_from_plan` gives a
fleet of ``k`` x the domains, GPUs and MW, with the same tenants owning ``k`` x their GPUs.
The copy is a scheduling fleet, not a placement: the grid, substations and money of the
original are not replicated (they are kept as they are, for the original sites only) and the
plan's scenario digest becomes :func:`scaled_digest` (SHA-256 of the original's and ``x{k}``), so a
schedule cannot be checked against the original fleet by mistake.

:func:`scaled_week` is the benchmark's 10x workload: the synthetic stream
(:func:`topologies.jobs_synthetic.korea_week`) over the scaled fleet, for fewer days when a
week is too long to simulate (the job count grows with the fleet: ~39,000 x k per week).

Complexity: O(k x (racks + assignments + sites)).
"""

from __future__ import annotations

import hashlib

from placer.errors import InputError
from placer.fleet import Fleet, fleet_from_plan
from placer.plan import Plan
from placer.workload import Workload

SEP = ".c"  # a copy suffix the schema's identifiers allow: haenam.c3


def _name(site: str, i: int) -> str:
    return site if i == 0 else f"{site}{SEP}{i}"


def scaled_digest(digest: str, k: int) -> str:
    """The k-times plan's digest: SHA-256 of the original's and ``x{k}`` (k = 1: the original)."""
    if k == 1:
        return digest
    return "sha256:" + hashlib.sha256(f"{digest}:x{k}".encode()).hexdigest()


def scale_plan(plan: Plan, k: int) -> Plan:
    """The plan with each site replicated ``k`` times (k >= 1; k = 1 returns an equal copy).

    Raises InputError when the plan has no rack inventory (nothing to schedule on).
    Complexity: O(k x racks)."""
    if not isinstance(k, int) or k < 1 or k > 1000:
        raise InputError(f"the scale factor must be an integer in 1..1000, got {k!r}", where="scale")
    if plan.layout is None or not plan.layout.racks:
        raise InputError("the plan has no rack inventory; lay it out first", file="plan", where="layout")
    assignments, sites, racks, layout_sites = [], [], [], []
    for i in range(k):
        assignments += [a.model_copy(update={"site": _name(a.site, i)}) for a in plan.assignments]
        sites += [s.model_copy(update={"site": _name(s.site, i)}) for s in plan.sites]
        racks += [
            r.model_copy(update={"site": _name(r.site, i), "su": r.su if i == 0 else f"{r.su}{SEP}{i}"})
            for r in plan.layout.racks
        ]
        layout_sites += [s.model_copy(update={"site": _name(s.site, i)}) for s in plan.layout.sites]
    layout = plan.layout.model_copy(
        update={"racks": racks, "sites": layout_sites, "notes": [*plan.layout.notes, f"scaled x{k} for scheduling"]}
    )
    return plan.model_copy(
        update={
            "scenario_digest": scaled_digest(plan.scenario_digest, k),
            "assignments": assignments,
            "sites": sites,
            "layout": layout,
        }
    )


def scaled_fleet(plan: Plan, k: int) -> Fleet:
    """``fleet_from_plan(scale_plan(plan, k))``."""
    return fleet_from_plan(scale_plan(plan, k))


def scaled_week(
    plan: Plan, k: int = 10, *, days: float = 7.0, seed: int = 0, load: float = 1.0
) -> tuple[Plan, Workload]:
    """The k-times plan and a synthetic stream over it (``days`` days, the benchmark's two
    curtailment events, moved into the window when it is shorter than five days).
    Complexity: O(k x racks + jobs)."""
    from topologies.jobs_synthetic import korea_week

    big = scale_plan(plan, k)
    wl = korea_week(fleet_from_plan(big), seed=seed, load=load, days=days)
    wl = wl.model_copy(update={"name": f"korea-week-x{k}-{days:g}d"})
    return big, wl


__all__ = ["scale_plan", "scaled_digest", "scaled_fleet", "scaled_week"]
