"""Verifier: a rollout plan's ``critical_path``, recomputed from the scenario, the schedule and the
plan's power options.

Input: a scenario with a rollout and a plan. Output: :class:`Finding` tuples, code
``CRITICAL_PATH_MISMATCH`` (entity ``site:S``, or ``plan``): a rollout plan without a critical path
(or a single-period plan with one), a site of the final build-out missing, repeated or extra, and
any per-site figure -- final racks, first and full quarters, every held-back quarter's racks, waiting
GPUs and binding limits (their order, used and available MW, lifts and what lifts them) -- that
differs from the recomputation; the ``path`` steps and ``text`` must be
:func:`placer.critical_path.path_steps` and :func:`~placer.critical_path.path_text` of the plan's own
held-back quarters (one rendering, defined once in the schema layer). The capacities in force are
:func:`placer.verify_schedule.capacities_in_period`'s, the arithmetic this module's own; the rules
(waiting, binding, lifted, critical, the grid at its limit) are :mod:`placer.critical_path`'s. A
quarter's grid report is ``schedule[q].grid`` (the last quarter's ``plan.grid``), the line ratings in
force the verifier's own (:func:`placer.verify_schedule.capacities_in_period`). Never imports ``solvers/``.

A rollout whose grid is checked but lacks a quarter's grid report is not recomputed (GRID_MISSING says
why). Only the first difference per site is reported. Complexity: O(P·(A + S·F + B) + H·W·F) for P periods,
A schedule entries, S sites, F feeds per site, B substations, H held-back site-quarters and W waiting
(tenant, SKU) pairs per site.
"""

from __future__ import annotations

import math
from typing import Any

from placer.contract import MW_ABS_TOL, MW_REL_TOL
from placer.critical_path import (
    CAPACITY_LIMITS,
    blocks,
    critical_first,
    delivery_ref,
    go_live_ref,
    grid_at_limit,
    grid_binding,
    option_ref,
    path_steps,
    path_text,
    rises,
    stage_ref,
    upgrade_ref,
)
from placer.plan import Binding, HeldBack, Plan, SiteCriticalPath
from placer.scenario import Scenario
from placer.verify_finding import Finding
from placer.verify_grid import grid_checked
from placer.verify_options import built_options
from placer.verify_schedule import capacities_in_period

CODES = ["CRITICAL_PATH_MISMATCH"]
CODE = CODES[0]
ONSITE = ("onsite_generation", "direct_supply")


def _differs(reported: Any, expected: Any, where: str) -> str | None:
    """Where two dumped models first differ (MW figures within the verifier's tolerance), or None."""
    if isinstance(expected, float) or isinstance(reported, float):
        if (
            isinstance(reported, int | float)
            and isinstance(expected, int | float)
            and math.isfinite(reported)
            and math.isclose(reported, expected, rel_tol=MW_REL_TOL, abs_tol=MW_ABS_TOL)
        ):
            return None
        return f"{where} is {reported!r}, recomputed {expected!r}"
    if isinstance(expected, dict) and isinstance(reported, dict):
        for key in expected:
            found = _differs(reported.get(key), expected[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(reported, list):
        if len(reported) != len(expected):
            return f"{where} has {len(reported)} entries, recomputed {len(expected)}"
        for j, (a, b) in enumerate(zip(reported, expected)):
            found = _differs(a, b, f"{where}[{j}]")
            if found:
                return found
        return None
    return None if reported == expected else f"{where} is {reported!r}, recomputed {expected!r}"


def expected_held_back(scenario: Scenario, plan: Plan) -> dict[str, tuple[int, str, str, list[HeldBack]]]:
    """Per site of the final build-out (the last period's installed racks): (final racks, first live
    quarter, full quarter, held-back quarters), recomputed. Requires a schedule aligned with the
    rollout's periods. O(see the module docstring)."""
    r = scenario.rollout
    assert r is not None and plan.schedule is not None
    periods = list(r.periods)
    n_p = len(periods)
    skus = {k.id: k for k in scenario.catalog}
    sites = {s.id: s for s in scenario.topology.sites}
    tenants = {t.id for t in scenario.demand.tenants}
    built = built_options(scenario, plan)
    rank = {p: q for q, p in enumerate(periods)}

    installed: list[dict[tuple[str, str, str], int]] = []
    for rep in plan.schedule:
        row: dict[tuple[str, str, str], int] = {}
        for name, n in rep.installed_racks.items():
            parts = name.split("/")
            if len(parts) == 3 and parts[0] in tenants and parts[1] in skus and parts[2] in sites:
                triple = (parts[0], parts[1], parts[2])
                row[triple] = row.get(triple, 0) + n
        installed.append(row)
    final = {key: n for key, n in installed[-1].items() if n > 0}

    feeds: dict[str, list[tuple[str, str]]] = {s: [] for s in sites}  # site -> [(feed id, substation)]
    for e in scenario.topology.edges_of_kind("feed"):
        site, sub = (e.from_node, e.to_node) if e.from_node in sites else (e.to_node, e.from_node)
        feeds[site].append((str(e.id), sub))
    delivered: dict[tuple[str, str], list[int]] = {}  # cumulative GPUs
    arrivals: dict[tuple[str, str], set[int]] = {}
    for d in r.deliveries:
        cum = delivered.setdefault((d.tenant, d.sku), [0] * n_p)
        for q in range(rank[d.period], n_p):
            cum[q] += d.gpus
        arrivals.setdefault((d.tenant, d.sku), set()).add(rank[d.period])
    go_from: dict[str, int] = {}
    for w in r.go_live:
        if w.earliest is not None:
            go_from[w.tenant] = max(go_from.get(w.tenant, 0), rank[w.earliest])

    # quarter by quarter: capacities in force, MW used per site, racks gone live, substation loads
    it_cap, liq_cap, air_cap, n1, head = [], [], [], [], []
    rating: list[dict[str, float]] = []
    emergency: list[dict[str, float]] = []
    share_of: list[dict[str, dict[str, float]]] = []
    used_it, used_liq, used_air, used_fac, gone, live_tk = [], [], [], [], [], []
    sub_load, sub_cap = [], []
    for q, period in enumerate(periods):
        cap = capacities_in_period(scenario, period, built)
        it_cap.append(cap.it)
        liq_cap.append(cap.liquid)
        air_cap.append(cap.air)
        head.append(cap.headroom)
        rating.append(cap.rating)
        emergency.append(cap.emergency)
        limits: dict[str, float] = {}
        shares: dict[str, dict[str, float]] = {}
        for s, fs in feeds.items():
            c = [cap.feed[f] for f, _ in fs]
            limits[s] = (c[0] if len(c) == 1 else math.fsum(c) - max(c)) if c else 0.0
            limits[s] += cap.extra_feed.get(s, 0.0)
            total = math.fsum(c)
            shares[s] = {}
            for (_f, b), cf in zip(fs, c):
                shares[s][b] = shares[s].get(b, 0.0) + (cf / total if total > 0 else 0.0)
        n1.append(limits)
        share_of.append(shares)
        it: dict[str, float] = {}
        liq: dict[str, float] = {}
        air: dict[str, float] = {}
        fac: dict[str, float] = {}
        went: dict[str, int] = {}
        tk: dict[tuple[str, str], int] = {}
        for (t, k, s), n in installed[q].items():
            sku = skus[k]
            mw = n * sku.it_kw_per_rack / 1000.0
            it[s] = it.get(s, 0.0) + mw
            liq[s] = liq.get(s, 0.0) + mw * sku.liquid_share
            air[s] = air.get(s, 0.0) + mw * (1.0 - sku.liquid_share)
            fac[s] = fac.get(s, 0.0) + mw * sites[s].pue
            before = installed[q - 1].get((t, k, s), 0) if q else 0
            went[s] = went.get(s, 0) + max(0, n - before)
            tk[(t, k)] = tk.get((t, k), 0) + n * sku.gpus_per_rack
        used_it.append(it)
        used_liq.append(liq)
        used_air.append(air)
        used_fac.append(fac)
        gone.append(went)
        live_tk.append(tk)
        load: dict[str, float] = {}
        can: dict[str, float] = dict(cap.headroom)
        for s, sh in shares.items():
            for b, share in sh.items():
                load[b] = load.get(b, 0.0) + fac.get(s, 0.0) * share
                can[b] += cap.onsite.get(s, 0.0) * share
        sub_load.append(load)
        sub_cap.append(can)

    def capacity(limit: str, element: str, q: int) -> float:
        table = {"it_capacity": it_cap, "liquid_cooling": liq_cap, "air_cooling": air_cap, "feed_n1": n1}
        return table[limit][q][element] if limit in table else sub_cap[q][element]

    def sources(limit: str, element: str, q: int) -> list[str]:
        period = periods[q]
        out: list[str] = []
        if limit == "substation_headroom":
            out += [
                upgrade_ref(j)
                for j, up in enumerate(r.upgrades)
                if up.element == element and up.headroom_mw is not None and up.period == period
            ]
        elif limit == "feed_n1":
            mine = {f for f, _ in feeds[element]}
            out += [
                upgrade_ref(j)
                for j, up in enumerate(r.upgrades)
                if up.element in mine and up.capacity_mw is not None and up.period == period
            ]
        else:
            out += [stage_ref(j) for j, st in enumerate(r.site_stages) if st.site == element and st.period == period]
        for o in r.options:  # scenario order
            if built.get(o.id) != period:
                continue
            if limit == "substation_headroom":
                hit = (o.kind == "substation_expansion" and o.element == element) or (
                    o.kind in ONSITE and element in share_of[q].get(o.element, {})
                )
            elif limit == "feed_n1":
                hit = o.kind in ("feed", *ONSITE) and o.element == element
            else:
                hit = o.kind == "site_stage" and o.element == element
            if hit:
                out.append(option_ref(o.id, o.earliest))
        return out

    reports = [rep.grid for rep in plan.schedule[:-1]] + [plan.grid]

    def grid_lift(q: int, at: tuple[str, str | None, float, float]) -> tuple[str, float, list[str]] | None:
        line, outage, _flow, limit = at
        table = rating if outage is None else emergency
        for x in range(q + 1, n_p):
            if line in table[x] and rises(limit, table[x][line]):
                refs = [
                    upgrade_ref(j)
                    for j, up in enumerate(r.upgrades)
                    if up.element == line
                    and up.period == periods[x]
                    and (up.rating_mw is not None or up.emergency_rating_mw is not None)
                ]
                return periods[x], table[x][line], refs
        return None

    result: dict[str, tuple[int, str, str, list[HeldBack]]] = {}
    for s in sites:  # scenario order
        mine = sorted(key for key in final if key[2] == s)
        if not mine:
            continue
        to_come = [sum(max(0, final[key] - installed[q].get(key, 0)) for key in mine) for q in range(n_p)]
        starts = [q for q in range(n_p) if any(delivered.get((t, k), [0] * n_p)[q] > 0 for t, k, _ in mine)]
        start = starts[0] if starts else n_p
        full = min(q for q in range(n_p) if all(v == 0 for v in to_come[q:]))
        first_live = min(q for q in range(n_p) if any(installed[q].get(key, 0) > 0 for key in mine))
        held: list[HeldBack] = []
        for q in range(start, full):
            if to_come[q] == 0:
                continue
            waiting: list[tuple[tuple[str, str, str], int]] = []
            for key in mine:
                t, k, _ = key
                idle = delivered.get((t, k), [0] * n_p)[q] - live_tk[q].get((t, k), 0)
                left = final[key] - installed[q].get(key, 0)
                if left > 0 and idle > 0:
                    waiting.append((key, min(idle, left * skus[k].gpus_per_rack)))
            bindings: list[Binding] = []
            if not waiting:
                pending = sorted({(t, k) for t, k, _ in mine if final[(t, k, s)] > installed[q].get((t, k, s), 0)})
                when = min((x for key in pending for x in arrivals.get(key, set()) if x > q), default=None)
                refs = [
                    delivery_ref(j)
                    for j, d in enumerate(r.deliveries)
                    if when is not None and rank[d.period] == when and (d.tenant, d.sku) in pending
                ]
                bindings.append(
                    Binding(
                        limit="deliveries",
                        element=s,
                        lifted_in=None if when is None else periods[when],
                        lifted_by=refs,
                    )
                )
            else:
                found: list[tuple[str, str]] = []
                free_mw: float | None = None  # the least facility MW of a rack no site limit blocks
                for (t, k, _), _gpus in waiting:
                    sku = skus[k]
                    it_mw = sku.it_kw_per_rack / 1000.0
                    fac_mw = it_mw * sites[s].pue
                    hits: list[tuple[str, str]] = []
                    if blocks(used_it[q].get(s, 0.0), it_mw, it_cap[q][s]):
                        hits.append(("it_capacity", s))
                    if sku.liquid_share > 0 and blocks(
                        used_liq[q].get(s, 0.0), it_mw * sku.liquid_share, liq_cap[q][s]
                    ):
                        hits.append(("liquid_cooling", s))
                    if sku.liquid_share < 1 and blocks(
                        used_air[q].get(s, 0.0), it_mw * (1.0 - sku.liquid_share), air_cap[q][s]
                    ):
                        hits.append(("air_cooling", s))
                    if blocks(used_fac[q].get(s, 0.0), fac_mw, n1[q][s]):
                        hits.append(("feed_n1", s))
                    for b, share in sorted(share_of[q][s].items()):
                        if blocks(sub_load[q].get(b, 0.0), fac_mw * share, sub_cap[q][b]):
                            hits.append(("substation_headroom", b))
                    rate = r.build_rate_racks_per_period.get(s)
                    if rate is not None and blocks(gone[q].get(s, 0), 1, rate):
                        hits.append(("build_rate", s))
                    if go_from.get(t, 0) > q:
                        hits.append(("go_live", t))
                    if not hits:
                        free_mw = fac_mw if free_mw is None else min(free_mw, fac_mw)
                        continue
                    found += [h for h in hits if h not in found]
                free = free_mw is not None
                line_q = None if free_mw is None else grid_at_limit(reports[q], free_mw)
                if line_q is not None:
                    bindings.append(grid_binding(line_q, grid_lift(q, line_q)))
                elif free:
                    bindings.append(Binding(limit="none", element=s))
                for limit, element in found if line_q is not None or not free else []:
                    if limit in CAPACITY_LIMITS:
                        now = capacity(limit, element, q)
                        lift = next((x for x in range(q + 1, n_p) if rises(now, capacity(limit, element, x))), None)
                        used = {
                            "it_capacity": used_it,
                            "liquid_cooling": used_liq,
                            "air_cooling": used_air,
                            "feed_n1": used_fac,
                            "substation_headroom": sub_load,
                        }[limit][q].get(element, 0.0)
                        bindings.append(
                            Binding(
                                limit=limit,
                                element=element,
                                used=used,
                                available=now,
                                unit="MW",
                                lifted_in=None if lift is None else periods[lift],
                                lifted_to=None if lift is None else capacity(limit, element, lift),
                                lifted_by=[] if lift is None else sources(limit, element, lift),
                            )
                        )
                    elif limit == "build_rate":
                        rate = r.build_rate_racks_per_period[s]
                        bindings.append(
                            Binding(
                                limit="build_rate",
                                element=s,
                                used=float(gone[q].get(s, 0)),
                                available=float(rate),
                                unit="racks",
                            )
                        )
                    else:
                        when_p = periods[go_from[element]]
                        refs = [
                            go_live_ref(j)
                            for j, w in enumerate(r.go_live)
                            if w.tenant == element and w.earliest == when_p
                        ]
                        bindings.append(Binding(limit="go_live", element=element, lifted_in=when_p, lifted_by=refs))
            held.append(
                HeldBack(
                    period=periods[q],
                    racks_live=sum(installed[q].get(key, 0) for key in mine),
                    racks_to_come=to_come[q],
                    gpus_waiting=sum(g for _, g in waiting),
                    binding=critical_first(bindings, q, periods),
                )
            )
        result[s] = (sum(final[key] for key in mine), periods[first_live], periods[full], held)
    return result


def check_critical_path(scenario: Scenario, plan: Plan) -> list[Finding]:
    """See the module docstring."""
    r = scenario.rollout
    if r is None:
        if plan.critical_path is not None:
            return [Finding(CODE, "plan", None, None, "", "a single-period plan reports a critical path")]
        return []
    if plan.critical_path is None:
        return [Finding(CODE, "plan", None, None, "", "the rollout plan reports no critical path")]
    if plan.schedule is None or [p.period for p in plan.schedule] != list(r.periods):
        return []  # SCHEDULE_MISSING / SCHEDULE_PERIODS say why nothing can be recomputed
    if grid_checked(scenario) and (plan.grid is None or any(p.grid is None for p in plan.schedule[:-1])):
        return []  # GRID_MISSING: without a quarter's grid report, whether its grid binds is unknown
    expected = expected_held_back(scenario, plan)
    found: list[Finding] = []
    reported: dict[str, SiteCriticalPath] = {}
    for cp in plan.critical_path:
        if cp.site in reported or cp.site not in expected:
            why = "is listed twice" if cp.site in reported else "is not a site of the final build-out"
            found.append(Finding(CODE, f"site:{cp.site}", None, None, "", f"critical_path: site '{cp.site}' {why}"))
            continue
        reported[cp.site] = cp
    order = [cp.site for cp in plan.critical_path if cp.site in expected]
    if order != [s for s in expected if s in reported]:
        found.append(Finding(CODE, "plan", None, None, "", "critical_path is not in the scenario's site order"))
    for s, (racks, first_live, full, held) in expected.items():
        got = reported.get(s)
        if got is None:
            found.append(Finding(CODE, f"site:{s}", None, None, "", f"critical_path has no entry for site '{s}'"))
            continue
        diff = _differs(
            got.model_dump(include={"final_racks", "first_live", "full", "held_back"}),
            {
                "final_racks": racks,
                "first_live": first_live,
                "full": full,
                "held_back": [h.model_dump() for h in held],
            },
            f"critical_path[{s}]",
        )
        if diff is None:
            steps = [p.model_dump() for p in path_steps(got.held_back)]
            diff = _differs([p.model_dump() for p in got.path], steps, f"critical_path[{s}].path")
        if diff is None:
            text = path_text(s, got.path, got.first_live, got.full)
            diff = None if got.text == text else f"critical_path[{s}].text is {got.text!r}, its steps say {text!r}"
        if diff is not None:
            found.append(Finding(CODE, f"site:{s}", None, None, "", diff))
    return found


__all__ = ["CODES", "check_critical_path", "expected_held_back"]
