"""Verifier: a rollout plan's power options (``plan.investments``) against ``rollout.options``.

Input: a scenario with a rollout and a plan. Output: the options in service (:func:`built_options`,
option id -> the period it is built; the first valid entry of each), and :class:`Finding` tuples.
The capacities the options add are applied by :func:`placer.verify_schedule.capacities_in_period`
and judged by the schedule's PERIOD_* checks; the money by :mod:`placer.verify_npv`. Never imports
``solvers/``.

Codes: ``OPTION_UNKNOWN`` (an investment names no option of the scenario, or no rollout period),
``OPTION_TWICE`` (an option taken more than once), ``OPTION_EARLY`` (built before its earliest
quarter), ``OPTION_FORCED`` (a forced option not built by its earliest quarter), ``OPTION_REQUIRES``
(built before a prerequisite), ``OPTION_EXCLUDES`` (two options that exclude each other both built),
``OPTION_ONSITE_CAP`` (a site's on-site generation above ``policy.onsite_generation_max_mw``),
``OPTION_ABSORBED`` (on-site or contracted supply above the site's facility load in a quarter it is
in service: it runs flat out, so the model builds it only where the load absorbs it), and
``REPORTED_MISMATCH`` for an investment's kind, capex or fixed cost that is not the option's.

Complexity: O(I + O + P·A) for I investments, O options, P periods and A schedule entries.
"""

from __future__ import annotations

from placer.contract import LIMIT_REL_TOL
from placer.plan import Plan
from placer.scenario import Scenario
from placer.verify_finding import Finding

CODES = [
    "OPTION_UNKNOWN",
    "OPTION_TWICE",
    "OPTION_EARLY",
    "OPTION_FORCED",
    "OPTION_REQUIRES",
    "OPTION_EXCLUDES",
    "OPTION_ONSITE_CAP",
    "OPTION_ABSORBED",
]
ONSITE = ("onsite_generation", "direct_supply")


def built_options(scenario: Scenario, plan: Plan) -> dict[str, str]:
    """Option id -> the period it is built: the first investment naming a known option and a
    rollout period (the others are findings of :func:`check_options`). O(I)."""
    r = scenario.rollout
    if r is None:
        return {}
    known = {o.id for o in r.options}
    periods = set(r.periods)
    out: dict[str, str] = {}
    for inv in plan.investments or []:
        if inv.option in known and inv.period in periods and inv.option not in out:
            out[inv.option] = inv.period
    return out


def check_options(scenario: Scenario, plan: Plan) -> list[Finding]:
    """See the module docstring."""
    r = scenario.rollout
    if r is None:
        return []
    found: list[Finding] = []

    def add(code: str, entity: str, message: str, measured=None, limit=None, unit: str = "") -> None:
        found.append(Finding(code, entity, measured, limit, unit, message))

    options = {o.id: o for o in r.options}
    rank = {p: q for q, p in enumerate(r.periods)}
    built = built_options(scenario, plan)
    seen: set[str] = set()
    for j, inv in enumerate(plan.investments or []):
        ent = f"option:{inv.option}"
        if inv.option not in options or inv.period not in rank:
            what = (
                "no option of the scenario"
                if inv.option not in options
                else f"period {inv.period}, not a rollout period"
            )
            add("OPTION_UNKNOWN", ent, f"investments[{j}] names {what}")
            continue
        if inv.option in seen:
            add("OPTION_TWICE", ent, f"investments[{j}]: option '{inv.option}' is taken more than once")
            continue
        seen.add(inv.option)
        o = options[inv.option]
        if inv.kind != o.kind:
            add("REPORTED_MISMATCH", ent, f"investments[{j}].kind is '{inv.kind}', the option's is '{o.kind}'")
        for name, reported, expected in (
            ("capex_usd", inv.capex_usd, o.capex_usd),
            ("fixed_usd_per_year", inv.fixed_usd_per_year, o.fixed_usd_per_year),
        ):
            if reported != expected:
                add("REPORTED_MISMATCH", ent, f"investments[{j}].{name} is {reported!r}, the option's is {expected!r}")
    for oid, period in sorted(built.items()):
        o = options[oid]
        if rank[period] < rank[o.earliest]:
            add(
                "OPTION_EARLY",
                f"option:{oid}",
                f"option '{oid}' is built in {period}, before its earliest {o.earliest}",
            )
        for req in o.requires:
            if req not in built or rank[built[req]] > rank[period]:
                when = "never" if req not in built else f"only in {built[req]}"
                add(
                    "OPTION_REQUIRES",
                    f"option:{oid}",
                    f"option '{oid}' is built in {period}, but its prerequisite '{req}' is built {when}",
                )
        for other in o.excludes:
            if other in built and (oid < other or oid not in options[other].excludes):
                add(
                    "OPTION_EXCLUDES",
                    f"option:{oid}",
                    f"options '{oid}' and '{other}' exclude each other but both are built",
                )
    for oid, o in sorted(options.items()):
        if o.forced and (oid not in built or rank[built[oid]] > rank[o.earliest]):
            add("OPTION_FORCED", f"option:{oid}", f"the fixed upgrade '{oid}' is not in service from {o.earliest}")
    cap = scenario.policy.onsite_generation_max_mw
    for q, period in enumerate(r.periods):
        onsite: dict[str, float] = {}
        for oid, first in built.items():
            o = options[oid]
            if o.kind == "onsite_generation" and rank[first] <= q and (o.until is None or q < rank[o.until]):
                onsite[o.element] = onsite.get(o.element, 0.0) + (o.generation_mw or 0.0)
        for site, mw in sorted(onsite.items()):
            if mw > cap + LIMIT_REL_TOL * max(1.0, cap):
                add(
                    "OPTION_ONSITE_CAP",
                    f"site:{site}@{period}",
                    f"{mw:g} MW of on-site generation at {site} in {period}, above the {cap:g} MW "
                    "distributed-generation limit",
                    mw,
                    cap,
                    "MW",
                )
    # absorbed: the site's facility load, recomputed from the schedule, covers its on-site supply
    skus = {k.id: k for k in scenario.catalog}
    sites = {s.id: s for s in scenario.topology.sites}
    by_period = {rep.period: rep.installed_racks for rep in plan.schedule or []}
    for q, period in enumerate(r.periods):
        supply: dict[str, float] = {}
        for oid, first in built.items():
            o = options[oid]
            if o.kind in ONSITE and rank[first] <= q and (o.until is None or q < rank[o.until]):
                supply[o.element] = supply.get(o.element, 0.0) + (o.generation_mw or 0.0)
        if not supply:
            continue
        load: dict[str, float] = {}
        for key, n in by_period.get(period, {}).items():
            parts = key.split("/")
            if len(parts) == 3 and parts[1] in skus and parts[2] in sites:
                load[parts[2]] = (
                    load.get(parts[2], 0.0) + n * skus[parts[1]].it_kw_per_rack / 1000 * sites[parts[2]].pue
                )
        for site, mw in sorted(supply.items()):
            have = load.get(site, 0.0)
            if mw > have + LIMIT_REL_TOL * max(1.0, have):
                add(
                    "OPTION_ABSORBED",
                    f"site:{site}@{period}",
                    f"{mw:g} MW of on-site or contracted supply at {site} in {period}, but its load is {have:.3f} MW",
                    mw,
                    have,
                    "MW",
                )
    return found


__all__ = ["CODES", "built_options", "check_options"]
