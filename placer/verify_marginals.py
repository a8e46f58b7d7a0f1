"""Verifier checks of a plan's marginal values (``plan.marginal_values``).

The duals themselves come from an LP the verifier does not solve; what it can check, it recomputes
from the scenario and the plan's racks alone:

* ``MARGINAL_UNKNOWN_LIMIT``: each reported limit names a limit of the scenario -- a known family, an
  existing site, substation or tenant latency requirement, and the name ``family[entities]``;
* ``MARGINAL_NOT_BINDING``: the limit is binding in the plan, by the verifier's own load: its room
  (limit minus load, or load minus a lower limit) is at most one rack of the largest per-rack amount
  any SKU of the catalog adds to it (the duals are of fractional racks; whole racks may leave less
  than one rack of room unused); a line limit, by the verifier's own flows: the line is among its ten
  most loaded, within one rack's facility MW of its limit at its worst case;
* ``MARGINAL_FIGURES``: the reported limit and plan values are the recomputed ones; the sense is the
  family's; more room never costs (``value_per_unit >= 0``); ``saving_per_step = value_per_unit *
  step``; each re-solve check names a reported limit with its predicted savings, and says ``agrees``
  (the probe step) and ``linear_over_step`` (the whole step) exactly when the LP's saving is within
  1 % (or 1 USD) of the prediction.

A rollout's site limits are per quarter (``site_it_capacity[site,quarter]``): the plan's live racks in
that quarter (its schedule) against the capacities in force then, with the plan's power options, as
the schedule checks count them (:func:`placer.verify_schedule.capacities_in_period`).

Never imports ``solvers``. Complexity: O(L + A) for L reported limits (the fiber paths come from
:mod:`placer.verify`'s own Dijkstra, passed in).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from placer.contract import MW_ABS_TOL, MW_REL_TOL, USD_ABS_TOL, USD_REL_TOL, limit_slack
from placer.plan import MarginalValue, Plan
from placer.scenario import Scenario
from placer.verify_finding import Finding
from placer.verify_options import built_options
from placer.verify_schedule import capacities_in_period

CODES = ["MARGINAL_UNKNOWN_LIMIT", "MARGINAL_NOT_BINDING", "MARGINAL_FIGURES"]
SITE_FAMILIES = ("site_it_capacity", "liquid_cooling", "air_cooling", "feed_capacity")
TOTAL_FAMILIES = ("power_band_max", "power_band_min", "generation_adequacy")
LOWER_FAMILIES = ("power_band_min", "latency_share")
LINE_FAMILIES = ("line_limit", "line_limit_n1")


def _agree(predicted: float, measured: float) -> bool:
    return abs(predicted - measured) <= max(1.0, 0.01 * abs(predicted))


def check_marginals(
    scenario: Scenario,
    plan: Plan,
    derived,
    feed_n1_mw: Callable[[str], float],
    rtt_ms: Callable[[list[str]], dict[str, dict[str, float]]],
    most_loaded: list | None = None,
) -> list[Finding]:
    """Findings of the marginal-value checks. ``derived``: the verifier's recomputed loads (``it``,
    ``liquid``, ``air``, ``facility`` per site, ``substation_load``, ``total_facility``,
    ``tenant_site_gpus``); ``feed_n1_mw(site)``: its feeds' N-1 limit; ``rtt_ms(metros)``: round trips;
    ``most_loaded``: the verifier's own ten most loaded lines, each at its worst case (None: no grid
    checked), against which a line limit's binding is judged."""
    mv = plan.marginal_values
    found: list[Finding] = []
    if mv is None:
        return found

    def add(code: str, entity: str, message: str, measured=None, limit=None, unit: str = "") -> None:
        found.append(Finding(code, entity, measured, limit, unit, message))

    skus = list(scenario.catalog)
    sites = {s.id: s for s in scenario.topology.sites}
    subs = {b.id: b for b in scenario.topology.substations}
    tenants = {t.id: t for t in scenario.demand.tenants}
    it_rack = max(k.it_kw_per_rack / 1000.0 for k in skus)
    max_pue = max((s.pue for s in sites.values()), default=1.0)
    band = scenario.policy.power_band_mw
    d = derived

    periods = list(scenario.rollout.periods) if scenario.rollout is not None else []
    built = built_options(scenario, plan) if periods else {}

    def in_period(fam: str, s: str, period: str) -> tuple[float, float, float] | str:
        """A rollout's site limit in one quarter: the plan's live racks then against the capacities in
        force then (stages, upgrades, the plan's power options), as the schedule checks count them."""
        rep = next((r for r in plan.schedule or [] if r.period == period), None)
        if rep is None:
            return f"the plan's schedule has no period '{period}'"
        skus_by = {k.id: k for k in skus}
        load = 0.0
        for key, n in rep.installed_racks.items():
            t, k, site_id = key.split("/")
            if site_id != s or k not in skus_by:
                continue
            it_mw = n * skus_by[k].it_kw_per_rack / 1000.0
            load += {
                "site_it_capacity": it_mw,
                "liquid_cooling": it_mw * skus_by[k].liquid_share,
                "air_cooling": it_mw * (1.0 - skus_by[k].liquid_share),
                "feed_capacity": it_mw * sites[s].pue,
            }[fam]
        cap = capacities_in_period(scenario, period, built)
        if fam == "feed_capacity":
            caps = [
                cap.feed[str(e.id)] for e in scenario.topology.edges_of_kind("feed") if s in (e.from_node, e.to_node)
            ]
            n1 = (caps[0] if len(caps) == 1 else math.fsum(caps) - max(caps)) if caps else 0.0
            return n1 + cap.extra_feed.get(s, 0.0), load, it_rack * sites[s].pue
        limit = {"site_it_capacity": cap.it, "liquid_cooling": cap.liquid, "air_cooling": cap.air}[fam][s]
        return float(limit), load, it_rack

    def recompute(v: MarginalValue) -> tuple[float, float, float] | str:
        """(limit, plan value, one rack) of a reported limit, or why it names no limit."""
        fam, ent = v.family, v.entities
        expected = f"{fam}[{','.join(ent)}]" if ent else fam
        if v.limit != expected:
            return f"its name '{v.limit}' is not {expected}"
        if fam in SITE_FAMILIES and periods:
            if len(ent) != 2 or ent[0] not in sites or ent[1] not in periods:
                return f"no site and quarter '{','.join(ent)}'"
            return in_period(fam, ent[0], ent[1])
        if fam in SITE_FAMILIES:
            if len(ent) != 1 or ent[0] not in sites:
                return f"no site '{','.join(ent)}'"
            s, site = ent[0], sites[ent[0]]
            if fam == "site_it_capacity":
                return float(site.it_capacity_mw), d.it[s], it_rack
            if fam == "liquid_cooling":
                liquid = max(k.it_kw_per_rack * k.liquid_share for k in skus) / 1e3
                return float(site.liquid_cooling_mw), d.liquid[s], liquid
            if fam == "air_cooling":
                air = max(k.it_kw_per_rack * (1.0 - k.liquid_share) for k in skus) / 1e3
                return float(site.air_cooling_mw), d.air[s], air
            return feed_n1_mw(s), d.facility[s], it_rack * site.pue
        if fam == "substation_headroom":
            if periods:
                return "a rollout's substation headroom is not reported per quarter"
            if len(ent) != 1 or ent[0] not in subs:
                return f"no substation '{','.join(ent)}'"
            return float(subs[ent[0]].headroom_mw), d.substation_load[ent[0]], it_rack * max_pue
        if fam in TOTAL_FAMILIES:
            if ent:
                return f"{fam} takes no entities"
            if fam == "generation_adequacy":
                if not scenario.topology.plants:
                    return "the topology has no plants"
                spare = math.fsum(p.spare_mw for p in scenario.topology.plants)
                return spare, d.total_facility, it_rack * max_pue
            limit = band.max_mw if fam == "power_band_max" else band.min_mw
            return float(limit), d.total_facility, it_rack * max_pue
        if fam == "latency_share":
            if len(ent) != 3 or ent[0] not in tenants or not ent[2].isdigit():
                return f"no latency requirement '{','.join(ent)}'"
            t, j = tenants[ent[0]], int(ent[2])
            if j >= len(t.latency) or t.latency[j].metro != ent[1]:
                return f"tenant '{t.id}' has no latency requirement {j} to '{ent[1]}'"
            req = t.latency[j]
            rtt = rtt_ms([req.metro])[req.metro]
            near = sum(
                g
                for (tid, s), g in d.tenant_site_gpus.items()
                if tid == t.id and rtt.get(s, math.inf) <= req.max_rtt_ms + limit_slack(req.max_rtt_ms)
            )
            need = math.ceil(req.min_share * t.total_gpus - 1e-9)
            return float(need), float(near), float(max(k.gpus_per_rack for k in skus))
        if fam in LINE_FAMILIES:
            lines = {str(e.id) for e in scenario.topology.edges_of_kind("line")}
            if most_loaded is None:
                return "the plan's grid is not checked (no lines, or security 'none')"
            if len(ent) != (1 if fam == "line_limit" else 2) or any(x not in lines for x in ent):
                return f"no line '{','.join(ent)}'"
            worst = next((w for w in most_loaded if w.line == ent[0]), None)
            rack = it_rack * max_pue  # a rack moves at most its facility MW onto a line
            if worst is None:
                if most_loaded and all(w.limit_mw - abs(w.flow_mw) <= rack for w in most_loaded):
                    return v.limit_value, v.limit_value, rack  # ten or more lines bind: it may be any of them
                return v.limit_value, 0.0, rack  # not among the most loaded: not binding (its flow not shown)
            return worst.limit_mw, abs(worst.flow_mw), rack
        return f"unknown family '{fam}'"

    reported: dict[str, MarginalValue] = {}
    for n, v in enumerate(mv.limits):
        ent = f"marginal:{v.limit}"
        got = recompute(v)
        if isinstance(got, str):
            add("MARGINAL_UNKNOWN_LIMIT", ent, f"marginal_values.limits[{n}] names no limit of the scenario: {got}")
            continue
        reported[v.limit] = v
        limit, value, one_rack = got
        lower = v.family in LOWER_FAMILIES
        if (v.sense == "lower") != lower:
            add("MARGINAL_FIGURES", ent, f"{v.limit} is {'a lower' if lower else 'an upper'} limit, reported {v.sense}")
        room = value - limit if lower else limit - value
        if room > one_rack + limit_slack(limit):
            add(
                "MARGINAL_NOT_BINDING",
                ent,
                f"{v.limit} is not binding in the plan: {room:,.4g} {v.unit} of room (recomputed {value:,.6g} against "
                f"{limit:,.6g}), more than one rack ({one_rack:,.4g} {v.unit})",
                room,
                one_rack,
                v.unit,
            )
        for what, rep, exp in (("limit_value", v.limit_value, limit), ("plan_value", v.plan_value, value)):
            if v.family in LINE_FAMILIES:
                break  # (the worst case of the line may be another outage at the same loading: binding is judged)
            if not math.isclose(rep, exp, rel_tol=MW_REL_TOL, abs_tol=MW_ABS_TOL):
                add(
                    "MARGINAL_FIGURES", ent, f"{v.limit}: {what} is {rep:,.6g}, recomputed {exp:,.6g}", rep, exp, v.unit
                )
        if v.value_per_unit < -USD_ABS_TOL:
            add("MARGINAL_FIGURES", ent, f"{v.limit}: more room cannot cost more (value {v.value_per_unit:,.2f})")
        if not math.isclose(v.saving_per_step, v.value_per_unit * v.step, rel_tol=USD_REL_TOL, abs_tol=USD_ABS_TOL):
            add(
                "MARGINAL_FIGURES",
                ent,
                f"{v.limit}: saving_per_step {v.saving_per_step:,.2f} is not value_per_unit x step "
                f"({v.value_per_unit:,.2f} x {v.step:g})",
            )
    for n, c in enumerate(mv.checks):
        ent = f"marginal:{c.limit}"
        mv_limit = reported.get(c.limit)
        if mv_limit is None:
            add("MARGINAL_FIGURES", ent, f"marginal_values.checks[{n}] checks '{c.limit}', which is not reported")
            continue
        close = math.isclose(c.predicted_saving, mv_limit.saving_per_step, rel_tol=USD_REL_TOL, abs_tol=USD_ABS_TOL)
        if c.step != mv_limit.step or not close:
            add("MARGINAL_FIGURES", ent, f"checks[{n}]: step or predicted saving differ from the limit's")
        probe = mv_limit.value_per_unit * c.probe_step
        if not math.isclose(c.probe_predicted_saving, probe, rel_tol=USD_REL_TOL, abs_tol=USD_ABS_TOL):
            add("MARGINAL_FIGURES", ent, f"checks[{n}]: probe_predicted_saving is not value_per_unit x probe_step")
        for flag, name, predicted, measured in (
            (c.agrees, "agrees", c.probe_predicted_saving, c.probe_lp_saving),
            (c.linear_over_step, "linear_over_step", c.predicted_saving, c.lp_saving),
        ):
            if _agree(predicted, measured) != flag:
                add(
                    "MARGINAL_FIGURES",
                    ent,
                    f"checks[{n}] says {name}={flag}, but the LP saving {measured:,.2f} is "
                    f"{'within' if not flag else 'not within'} 1 % of the predicted {predicted:,.2f}",
                )
    return found
