"""Per site, the critical path to energisation of a rollout schedule (the plan's ``critical_path``).

Input: a multi-period :class:`~solvers.problem.Problem` (without options applied), the schedule
(cumulative live racks per (candidate, period)), the options built (option -> first period) and each
period's grid report (the engine's, as the plan reports them; empty without a grid).
Output: one :class:`placer.plan.SiteCriticalPath` per site of the final build-out, in the problem's
site order. The capacities in force per quarter are the problem's period tables with the options
applied (:func:`solvers.options.apply_options`, without on-site credit on the substations: on-site
supply is taken off the site's draw instead, as the verifier does); a line's ratings per period are
:func:`solvers.problem.effective_values`' (line options are refused by the schema). What "waits", "binds", "lifted"
and "critical" mean, and the words, are :mod:`placer.critical_path`'s.

Complexity: O(P·(C + S·F + B) + H·W·F) for P periods, C candidates, S sites, F feeds per site,
B substations, H held-back site-quarters and W waiting (tenant, SKU) pairs per site.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from placer.plan import Binding, GridReport, HeldBack, SiteCriticalPath
from solvers.options import apply_options
from solvers.problem import Problem, effective_values


def critical_paths(
    problem: Problem,
    schedule: dict[tuple[int, int], int],
    built: dict[int, int],
    grids: Sequence[GridReport | None] = (),
) -> list[SiteCriticalPath]:
    """See the module docstring."""
    sc, per0 = problem.scenario, problem.periods
    r = sc.rollout
    assert r is not None and per0.multi, "a critical path needs a rollout"
    per = apply_options(per0, problem.options, built, onsite_credit=False)
    n_p, ids, cands = per.count, per.ids, problem.candidates
    n_s, n_b = len(problem.sites), len(problem.substation_ids)
    onsite = [[0.0] * n_s for _ in range(n_p)]
    for o, first in built.items():
        opt = problem.options[o]
        if opt.onsite and opt.site is not None:
            for q in range(first, opt.until):
                onsite[q][opt.site] += opt.generation_mw

    # per quarter: live racks per candidate, MW per site, racks gone live per site, substation loads
    live = [[schedule.get((i, q), 0) for i in range(len(cands))] for q in range(n_p)]
    final = live[-1]
    it = [[0.0] * n_s for _ in range(n_p)]
    liquid = [[0.0] * n_s for _ in range(n_p)]
    air = [[0.0] * n_s for _ in range(n_p)]
    fac = [[0.0] * n_s for _ in range(n_p)]
    gone = [[0] * n_s for _ in range(n_p)]
    live_tk: list[dict[tuple[int, int], int]] = [{} for _ in range(n_p)]
    for q in range(n_p):
        for i, c in enumerate(cands):
            n = live[q][i]
            if n <= 0:
                continue
            it[q][c.s] += n * problem.it_mw(c.k)
            liquid[q][c.s] += n * problem.liquid_mw(c.k)
            air[q][c.s] += n * problem.air_mw(c.k)
            fac[q][c.s] += n * problem.facility_mw(c.k, c.s)
            gone[q][c.s] += max(0, n - (live[q - 1][i] if q else 0))
            live_tk[q][(c.t, c.k)] = live_tk[q].get((c.t, c.k), 0) + n
    # a substation's load is its sites' facility load in their feed shares; what it can take, its
    # headroom plus the on-site supply of those sites in the same shares (placer.critical_path)
    load = [[0.0] * n_b for _ in range(n_p)]
    relief = [[0.0] * n_b for _ in range(n_p)]
    for q in range(n_p):
        for s in range(n_s):
            for b, share in per.feed_shares[q][s].items():
                load[q][b] += fac[q][s] * share
                relief[q][b] += onsite[q][s] * share

    site_ids = [s.id for s in problem.sites]
    feeds_of: dict[str, set[str]] = {sid: set() for sid in site_ids}
    for e in sc.topology.edges_of_kind("feed"):
        feeds_of[e.from_node if e.from_node in feeds_of else e.to_node].add(str(e.id))
    sub_ids = problem.substation_ids
    built_at: dict[int, list[int]] = {}
    for o, first in built.items():
        built_at.setdefault(first, []).append(o)

    def capacity(limit: str, element: int, q: int) -> float:
        if limit == "it_capacity":
            return per.it_cap[q][element]
        if limit == "liquid_cooling":
            return per.liquid_cap[q][element]
        if limit == "air_cooling":
            return per.air_cap[q][element]
        if limit == "feed_n1":
            return per.feed_limit[q][element]
        return per.headroom[q][element] + relief[q][element]

    def sources(limit: str, element: int, q: int) -> list[str]:
        """What takes effect in quarter q on this limit's element."""
        out: list[str] = []
        period = ids[q]
        if limit in ("it_capacity", "liquid_cooling", "air_cooling"):
            sid = site_ids[element]
            out += [stage_ref(j) for j, st in enumerate(r.site_stages) if st.site == sid and st.period == period]
            kinds: tuple[str, ...] = ("site_stage",)
        elif limit == "feed_n1":
            sid = site_ids[element]
            out += [
                upgrade_ref(j)
                for j, up in enumerate(r.upgrades)
                if up.element in feeds_of[sid] and up.capacity_mw is not None and up.period == period
            ]
            kinds = ("feed", "onsite_generation", "direct_supply")
        else:
            bid = sub_ids[element]
            out += [
                upgrade_ref(j)
                for j, up in enumerate(r.upgrades)
                if up.element == bid and up.headroom_mw is not None and up.period == period
            ]
            kinds = ("substation_expansion",)
        for o in sorted(built_at.get(q, [])):
            opt, spec = problem.options[o], r.options[o]
            if limit == "substation_headroom":
                hit = (opt.kind in kinds and opt.substation == element) or (
                    opt.onsite and opt.site is not None and element in per.feed_shares[q][opt.site]
                )
            else:
                hit = opt.kind in kinds and opt.site == element
            if hit:
                out.append(option_ref(opt.id, spec.earliest))
        return out

    def lifted(limit: str, element: int, q: int) -> tuple[str | None, float | None, list[str]]:
        now = capacity(limit, element, q)
        for q2 in range(q + 1, n_p):
            later = capacity(limit, element, q2)
            if rises(now, later):
                return ids[q2], later, sources(limit, element, q2)
        return None, None, []

    # the grid: lazily, the line ratings in force per period
    ratings: dict[int, dict[str, dict[str, float]]] = {}

    def rating(line: str, post: bool, q: int) -> float:
        if q not in ratings:
            ratings[q] = effective_values(sc, q)
        return ratings[q]["emergency" if post else "rating"][line]

    def grid_lift(q: int, at: tuple[str, str | None, float, float]) -> tuple[str, float, list[str]] | None:
        line, outage, _flow, limit = at
        for q2 in range(q + 1, n_p):
            later = rating(line, outage is not None, q2)
            if rises(limit, later):
                refs = [
                    upgrade_ref(j)
                    for j, up in enumerate(r.upgrades)
                    if up.element == line
                    and up.period == ids[q2]
                    and (up.rating_mw is not None or up.emergency_rating_mw is not None)
                ]
                return ids[q2], later, refs
        return None

    # a tenant goes live from the latest 'earliest' of its windows
    go_live_refs: dict[tuple[str, str], list[str]] = {}
    earliest: dict[int, int] = {}
    t_index = {tn.id: t for t, tn in enumerate(problem.tenants)}
    for j, w in enumerate(r.go_live):
        if w.earliest is not None:
            go_live_refs.setdefault((w.tenant, w.earliest), []).append(go_live_ref(j))
            t = t_index[w.tenant]
            earliest[t] = max(earliest.get(t, 0), ids.index(w.earliest))

    out: list[SiteCriticalPath] = []
    for s, site in enumerate(problem.sites):
        mine = [i for i, c in enumerate(cands) if c.s == s and final[i] > 0]
        if not mine:
            continue
        to_come = [sum(max(0, final[i] - live[q][i]) for i in mine) for q in range(n_p)]
        delivered_q = [q for q in range(n_p) if any(per.delivered_racks[(cands[i].t, cands[i].k)][q] > 0 for i in mine)]
        start = delivered_q[0] if delivered_q else n_p
        full = next(q for q in range(n_p) if all(to_come[x] == 0 for x in range(q, n_p)))
        first_live = next(q for q in range(n_p) if any(live[q][i] > 0 for i in mine))
        held: list[HeldBack] = []
        for q in range(start, full):
            if to_come[q] == 0:
                continue
            waiting = []
            for i in mine:
                c = cands[i]
                idle = per.delivered_racks[(c.t, c.k)][q] - live_tk[q].get((c.t, c.k), 0)
                if final[i] > live[q][i] and idle > 0:
                    waiting.append((i, min(idle, final[i] - live[q][i])))
            gpus_waiting = sum(n * problem.skus[cands[i].k].gpus_per_rack for i, n in waiting)
            bindings: list[Binding] = []
            if not waiting:
                tk = {(cands[i].t, cands[i].k) for i in mine if final[i] > live[q][i]}
                when = next(
                    (
                        q2
                        for q2 in range(q + 1, n_p)
                        if any(per.delivered_racks[key][q2] > per.delivered_racks[key][q2 - 1] for key in tk)
                    ),
                    None,
                )
                refs = (
                    []
                    if when is None
                    else [
                        delivery_ref(j)
                        for j, d in enumerate(r.deliveries)
                        if d.period == ids[when]
                        and any(problem.tenants[t].id == d.tenant and problem.skus[k].id == d.sku for t, k in tk)
                    ]
                )
                bindings.append(
                    Binding(
                        limit="deliveries",
                        element=site.id,
                        lifted_in=None if when is None else ids[when],
                        lifted_by=refs,
                    )
                )
            else:
                found: dict[tuple[str, int | str], None] = {}
                free_mw: float | None = None  # the least facility MW of a rack no site limit blocks
                for i, _n in waiting:
                    c = cands[i]
                    f = problem.facility_mw(c.k, s)
                    hits: list[tuple[str, int | str]] = []
                    if blocks(it[q][s], problem.it_mw(c.k), per.it_cap[q][s]):
                        hits.append(("it_capacity", s))
                    if problem.liquid_mw(c.k) > 0 and blocks(
                        liquid[q][s], problem.liquid_mw(c.k), per.liquid_cap[q][s]
                    ):
                        hits.append(("liquid_cooling", s))
                    if problem.air_mw(c.k) > 0 and blocks(air[q][s], problem.air_mw(c.k), per.air_cap[q][s]):
                        hits.append(("air_cooling", s))
                    if blocks(fac[q][s], f, per.feed_limit[q][s]):
                        hits.append(("feed_n1", s))
                    for b, share in sorted(per.feed_shares[q][s].items()):
                        if blocks(load[q][b], f * share, capacity("substation_headroom", b, q)):
                            hits.append(("substation_headroom", b))
                    rate = per.build_rate[s]
                    if rate is not None and blocks(gone[q][s], 1, rate):
                        hits.append(("build_rate", s))
                    if earliest.get(c.t, 0) > q:
                        hits.append(("go_live", problem.tenants[c.t].id))
                    if not hits:
                        free_mw = f if free_mw is None else min(free_mw, f)
                        continue
                    for h in hits:
                        found[h] = None
                free = free_mw is not None
                line_q = None if free_mw is None else grid_at_limit(grids[q] if q < len(grids) else None, free_mw)
                if line_q is not None:
                    bindings.append(grid_binding(line_q, grid_lift(q, line_q)))
                elif free:
                    bindings.append(Binding(limit="none", element=site.id))
                if line_q is not None or not free:  # every waiting rack blocked: the union of the limits
                    for limit, element in found:
                        if limit in CAPACITY_LIMITS:
                            assert isinstance(element, int)
                            when_id, to, by = lifted(limit, element, q)
                            used = {
                                "it_capacity": it[q][s],
                                "liquid_cooling": liquid[q][s],
                                "air_cooling": air[q][s],
                                "feed_n1": fac[q][s],
                            }.get(limit, load[q][element])
                            avail = capacity(limit, element, q)
                            name = sub_ids[element] if limit == "substation_headroom" else site.id
                            bindings.append(
                                Binding(
                                    limit=limit,
                                    element=name,
                                    used=used,
                                    available=avail,
                                    unit="MW",
                                    lifted_in=when_id,
                                    lifted_to=to,
                                    lifted_by=by,
                                )
                            )
                        elif limit == "build_rate":
                            bindings.append(
                                Binding(
                                    limit="build_rate",
                                    element=site.id,
                                    used=float(gone[q][s]),
                                    available=float(per.build_rate[s] or 0),
                                    unit="racks",
                                )
                            )
                        else:
                            tenant = str(element)
                            when_id = ids[earliest[t_index[tenant]]]
                            bindings.append(
                                Binding(
                                    limit="go_live",
                                    element=tenant,
                                    lifted_in=when_id,
                                    lifted_by=go_live_refs.get((tenant, when_id), []),
                                )
                            )
            held.append(
                HeldBack(
                    period=ids[q],
                    racks_live=sum(live[q][i] for i in mine),
                    racks_to_come=to_come[q],
                    gpus_waiting=gpus_waiting,
                    binding=critical_first(bindings, q, ids),
                )
            )
        steps = path_steps(held)
        out.append(
            SiteCriticalPath(
                site=site.id,
                final_racks=sum(final[i] for i in mine),
                first_live=ids[first_live],
                full=ids[full],
                held_back=held,
                path=steps,
                text=path_text(site.id, steps, ids[first_live], ids[full]),
            )
        )
    return out
