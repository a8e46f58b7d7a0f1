"""Verifier checks for a rollout (multi-period) plan, recomputed from the scenario and the schedule.

Inputs: a scenario with a ``rollout`` section and a plan with a ``schedule``. Output: a
list of :class:`placer.verify.Violation`-shaped tuples (code, entity, measured, limit,
unit, message). Capacities in force in each period are recomputed here from the
topology, the site stages and the grid upgrades (:func:`capacities_in_period`), not taken
from the solver.

Codes: SCHEDULE_MISSING, SCHEDULE_PERIODS, SCHEDULE_MONOTONE, SCHEDULE_DELIVERY,
SCHEDULE_FINAL, PERIOD_SITE_CAPACITY, PERIOD_LIQUID_COOLING, PERIOD_AIR_COOLING,
PERIOD_FEED_CAPACITY, PERIOD_SUBSTATION_HEADROOM, BUILD_RATE, GO_LIVE_WINDOW and
REPORTED_MISMATCH (going-live racks and GPUs, delivered/live/stranded GPUs per period,
each period's site rows -- IT and facility MW used and available --, installed-rack keys
that name no tenant/SKU/site of the scenario). The rollout's NPV is :mod:`placer.verify_npv`'s. The summary's
stranded GPU-quarters are a claim, checked by :mod:`placer.verify_claims`
(``STRANDING_CLAIM``) against :func:`stranded_gpu_quarters`.

Entities: ``tenant/sku/site@period`` (monotonicity, going live), ``tenant:T/sku:K@period``
(deliveries), ``tenant:T@period`` (go-live windows), ``site:S@period`` (site limits, feeds,
build rates, site rows), ``substation:B@period``, ``schedule:period``, ``schedule``,
``plan`` and ``summary``.

Complexity: O(P · (A + S · F)) for P periods, A schedule entries, S sites, F feeds per site.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from placer.contract import LIMIT_REL_TOL, MW_ABS_TOL, MW_REL_TOL
from placer.plan import Plan
from placer.scenario import Scenario, SiteStage
from placer.verify_finding import Finding
from placer.verify_options import built_options

CODES = [
    "SCHEDULE_MISSING",
    "SCHEDULE_PERIODS",
    "SCHEDULE_MONOTONE",
    "SCHEDULE_DELIVERY",
    "SCHEDULE_FINAL",
    "PERIOD_SITE_CAPACITY",
    "PERIOD_LIQUID_COOLING",
    "PERIOD_AIR_COOLING",
    "PERIOD_FEED_CAPACITY",
    "PERIOD_SUBSTATION_HEADROOM",
    "BUILD_RATE",
    "GO_LIVE_WINDOW",
]


@dataclass
class Capacities:
    it: dict[str, float]
    liquid: dict[str, float]
    air: dict[str, float]
    feed: dict[str, float]  # feed edge id -> MW
    headroom: dict[str, float]
    rating: dict[str, float]
    emergency: dict[str, float]
    # power options in service: N-1 supply MW a site gains beyond its feeds (feed options, on-site and
    # contracted supply), and the on-site / contracted MW that relieve its substations
    extra_feed: dict[str, float] = field(default_factory=dict)
    onsite: dict[str, float] = field(default_factory=dict)
    # line reinforcements in service: line id -> (rating, emergency rating) MW for the no-harm limits
    # (the pre-existing dispatch keeps ``rating`` / ``emergency``: the network as it is)
    line_limits: dict[str, tuple[float, float]] = field(default_factory=dict)


def capacities_in_period(scenario: Scenario, period: str | None, built: dict[str, str] | None = None) -> Capacities:
    """Topology values, replaced by every site stage and grid upgrade in service by ``period``,
    plus the effects of the power options ``built`` (option id -> period built) by then.

    A site with stages has nothing before its first stage. ``period=None`` (no rollout)
    gives the topology values; for a rollout the final build-out uses the last period.
    """
    topo = scenario.topology
    cap = Capacities(
        it={s.id: s.it_capacity_mw for s in topo.sites},
        liquid={s.id: s.liquid_cooling_mw for s in topo.sites},
        air={s.id: s.air_cooling_mw for s in topo.sites},
        feed={e.id: e.capacity_mw for e in topo.edges_of_kind("feed")},
        headroom={b.id: b.headroom_mw for b in topo.substations},
        rating={e.id: e.rating_mw for e in topo.edges_of_kind("line")},
        emergency={e.id: e.emergency_rating_mw or e.rating_mw for e in topo.edges_of_kind("line")},
    )
    r = scenario.rollout
    if r is None or period is None:
        return cap
    rank = {p: i for i, p in enumerate(r.periods)}
    now = rank[period]
    site = {s.id: s for s in topo.sites}
    latest_stage: dict[str, SiteStage] = {}
    for st in r.site_stages:
        best = latest_stage.get(st.site)
        if rank[st.period] <= now and (best is None or rank[st.period] >= rank[best.period]):
            latest_stage[st.site] = st
    for sid in {st.site for st in r.site_stages}:
        stage = latest_stage.get(sid)
        if stage is None:
            cap.it[sid] = cap.liquid[sid] = cap.air[sid] = 0.0
            continue
        frac = stage.it_capacity_mw / site[sid].it_capacity_mw
        cap.it[sid] = stage.it_capacity_mw
        cap.liquid[sid] = (
            stage.liquid_cooling_mw if stage.liquid_cooling_mw is not None else site[sid].liquid_cooling_mw * frac
        )
        cap.air[sid] = stage.air_cooling_mw if stage.air_cooling_mw is not None else site[sid].air_cooling_mw * frac
    for up in sorted((u for u in r.upgrades if rank[u.period] <= now), key=lambda u: rank[u.period]):
        if up.headroom_mw is not None:
            cap.headroom[up.element] = up.headroom_mw
        if up.capacity_mw is not None:
            cap.feed[up.element] = up.capacity_mw
        if up.rating_mw is not None:
            cap.rating[up.element] = up.rating_mw
            if up.emergency_rating_mw is None:
                cap.emergency[up.element] = max(cap.emergency[up.element], up.rating_mw)
        if up.emergency_rating_mw is not None:
            cap.emergency[up.element] = up.emergency_rating_mw
    options = {o.id: o for o in r.options}
    for oid, first in sorted((built or {}).items()):
        o = options[oid]
        if rank[first] > now or (o.until is not None and now >= rank[o.until]):
            continue  # not built yet, or a bridge already replaced
        if o.kind == "substation_expansion":
            cap.headroom[o.element] += o.headroom_mw or 0.0
        elif o.kind == "site_stage":
            added = o.it_capacity_mw or 0.0
            frac = added / site[o.element].it_capacity_mw
            cap.it[o.element] += added
            cap.liquid[o.element] += (
                o.liquid_cooling_mw if o.liquid_cooling_mw is not None else site[o.element].liquid_cooling_mw * frac
            )
            cap.air[o.element] += (
                o.air_cooling_mw if o.air_cooling_mw is not None else site[o.element].air_cooling_mw * frac
            )
        elif o.kind == "feed":
            cap.extra_feed[o.element] = cap.extra_feed.get(o.element, 0.0) + (o.feed_mw or 0.0)
        elif o.kind in ("onsite_generation", "direct_supply"):
            cap.extra_feed[o.element] = cap.extra_feed.get(o.element, 0.0) + (o.generation_mw or 0.0)
            cap.onsite[o.element] = cap.onsite.get(o.element, 0.0) + (o.generation_mw or 0.0)
        elif o.kind == "line":
            rating = max(cap.rating[o.element], o.rating_mw or 0.0)
            emergency = max(
                cap.emergency[o.element],
                o.emergency_rating_mw if o.emergency_rating_mw is not None else (o.rating_mw or 0.0),
            )
            was = cap.line_limits.get(o.element, (0.0, 0.0))
            cap.line_limits[o.element] = (max(was[0], rating), max(was[1], emergency))
    return cap


def _site_feeds(scenario: Scenario) -> dict[str, list[tuple[str, str]]]:
    """site -> [(feed id, substation id)]."""
    sites = {s.id for s in scenario.topology.sites}
    out: dict[str, list[tuple[str, str]]] = {s: [] for s in sites}
    for e in scenario.topology.edges_of_kind("feed"):
        site, sub = (e.from_node, e.to_node) if e.from_node in sites else (e.to_node, e.from_node)
        out[site].append((e.id, sub))
    return out


def _mw_close(reported: float, expected: float) -> bool:
    """Reported MW figures match within rel 1e-6 / abs 1e-6 MW (as in :mod:`placer.verify`)."""
    return math.isfinite(reported) and math.isclose(reported, expected, rel_tol=MW_REL_TOL, abs_tol=MW_ABS_TOL)


def _parse_key(key: str) -> tuple[str, str, str] | None:
    """'tenant/sku/site' -> (tenant, sku, site); None when malformed."""
    parts = key.split("/")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def _schedule_aligned(scenario: Scenario, plan: Plan) -> bool:
    """The plan has a schedule whose periods are exactly the scenario's rollout periods."""
    r = scenario.rollout
    return r is not None and plan.schedule is not None and [p.period for p in plan.schedule] == list(r.periods)


def check_schedule(scenario: Scenario, plan: Plan) -> list[Finding]:
    r = scenario.rollout
    if r is None:
        return []
    if plan.schedule is None:
        return [
            Finding(
                "SCHEDULE_MISSING", "plan", None, None, "", "the scenario has a rollout but the plan has no schedule"
            )
        ]
    found: list[Finding] = []
    got = [p.period for p in plan.schedule]
    if got != list(r.periods):
        return [
            Finding(
                "SCHEDULE_PERIODS",
                "schedule",
                None,
                None,
                "",
                f"schedule periods {got} differ from the scenario's {list(r.periods)}",
            )
        ]
    skus = {k.id: k for k in scenario.catalog}
    sites = {s.id: s for s in scenario.topology.sites}
    tenants = {t.id: t for t in scenario.demand.tenants}
    feeds = _site_feeds(scenario)
    rank = {p: i for i, p in enumerate(r.periods)}

    delivered_cum: dict[tuple[str, str], list[int]] = {}
    for d in r.deliveries:
        row = delivered_cum.setdefault((d.tenant, d.sku), [0] * len(r.periods))
        for q in range(rank[d.period], len(r.periods)):
            row[q] += d.gpus

    prev: dict[str, int] = {}  # well-formed keys only
    in_service = built_options(scenario, plan)  # power options: id -> the period built
    for q, rep in enumerate(plan.schedule):
        period = rep.period
        cap = capacities_in_period(scenario, period, in_service)
        it: dict[str, float] = {}
        liquid: dict[str, float] = {}
        air: dict[str, float] = {}
        live_tk: dict[tuple[str, str], int] = {}
        live_gpus = 0
        now: dict[str, int] = {}
        for key, racks in sorted(rep.installed_racks.items()):
            parsed = _parse_key(key)
            if parsed is None or parsed[0] not in tenants or parsed[1] not in skus or parsed[2] not in sites:
                found.append(
                    Finding(
                        "REPORTED_MISMATCH",
                        f"schedule:{period}",
                        None,
                        None,
                        "",
                        f"installed_racks key '{key}' is not tenant/sku/site of this scenario",
                    )
                )
                continue
            now[key] = racks
            t, k, s = parsed
            sku = skus[k]
            mw = racks * sku.it_kw_per_rack / 1000.0
            it[s] = it.get(s, 0.0) + mw
            liquid[s] = liquid.get(s, 0.0) + mw * sku.liquid_share
            air[s] = air.get(s, 0.0) + mw * (1.0 - sku.liquid_share)
            live_tk[(t, k)] = live_tk.get((t, k), 0) + racks * sku.gpus_per_rack
            live_gpus += racks * sku.gpus_per_rack
            if racks < prev.get(key, 0) or racks < 0:
                before = prev.get(key, 0)
                found.append(
                    Finding(
                        "SCHEDULE_MONOTONE",
                        f"{key}@{period}",
                        racks,
                        before,
                        "racks",
                        f"{key} falls from {before} to {racks} racks in {period}: installed racks never move",
                    )
                )
        for key, before in prev.items():
            if key not in now and before > 0:
                found.append(
                    Finding(
                        "SCHEDULE_MONOTONE",
                        f"{key}@{period}",
                        0,
                        before,
                        "racks",
                        f"{key} falls from {before} to 0 racks in {period}",
                    )
                )
        # going live is the increase; each entry's GPUs are its racks times the SKU's GPUs per rack
        reported_going: dict[str, int] = {}
        for g in rep.going_live:
            key = f"{g.tenant}/{g.sku}/{g.site}"
            if key in reported_going:
                found.append(
                    Finding(
                        "REPORTED_MISMATCH",
                        f"{key}@{period}",
                        g.racks,
                        None,
                        "racks",
                        f"going_live lists {key} twice in {period}",
                    )
                )
                continue
            reported_going[key] = g.racks
            if g.sku in skus and g.gpus != g.racks * skus[g.sku].gpus_per_rack:
                found.append(
                    Finding(
                        "REPORTED_MISMATCH",
                        f"{key}@{period}",
                        g.gpus,
                        g.racks * skus[g.sku].gpus_per_rack,
                        "GPUs",
                        f"going_live reports {g.gpus:,} GPUs for {g.racks} racks of {g.sku}",
                    )
                )
        for key, racks in now.items():
            delta = racks - prev.get(key, 0)
            if delta > 0 and reported_going.get(key) != delta:
                found.append(
                    Finding(
                        "REPORTED_MISMATCH",
                        f"{key}@{period}",
                        reported_going.get(key),
                        delta,
                        "racks",
                        f"going_live reports {reported_going.get(key)} racks, installed rose by {delta}",
                    )
                )
        for key, racks in reported_going.items():
            delta = now.get(key, 0) - prev.get(key, 0)
            if racks != delta and delta <= 0:
                found.append(
                    Finding(
                        "REPORTED_MISMATCH",
                        f"{key}@{period}",
                        racks,
                        0,
                        "racks",
                        f"going_live reports {racks} racks but nothing was installed",
                    )
                )
        # deliveries and go-live windows
        for (t, k), gpus in sorted(live_tk.items()):
            have = delivered_cum.get((t, k), [0] * len(r.periods))[q]
            if gpus > have:
                found.append(
                    Finding(
                        "SCHEDULE_DELIVERY",
                        f"tenant:{t}/sku:{k}@{period}",
                        gpus,
                        have,
                        "GPUs",
                        f"{gpus:,} {k} GPUs of {t} live in {period}, only {have:,} delivered by then",
                    )
                )
        for w in r.go_live:
            live_t = sum(g for (t, _), g in live_tk.items() if t == w.tenant)
            if w.earliest is not None and q < rank[w.earliest] and live_t > 0:
                found.append(
                    Finding(
                        "GO_LIVE_WINDOW",
                        f"tenant:{w.tenant}@{period}",
                        live_t,
                        0,
                        "GPUs",
                        f"{live_t:,} GPUs of {w.tenant} live in {period}, before its earliest {w.earliest}",
                    )
                )
            if w.latest is not None and q >= rank[w.latest]:
                total = tenants[w.tenant].total_gpus
                if live_t < total:
                    found.append(
                        Finding(
                            "GO_LIVE_WINDOW",
                            f"tenant:{w.tenant}@{period}",
                            live_t,
                            total,
                            "GPUs",
                            f"only {live_t:,} of {total:,} GPUs of {w.tenant} live in {period}, "
                            f"after its latest {w.latest}",
                        )
                    )
        # capacities in force this period
        for s, mw in sorted(it.items()):
            for code, used, limit, what in (
                ("PERIOD_SITE_CAPACITY", mw, cap.it[s], "IT"),
                ("PERIOD_LIQUID_COOLING", liquid[s], cap.liquid[s], "liquid-cooled heat"),
                ("PERIOD_AIR_COOLING", air[s], cap.air[s], "air-cooled heat"),
            ):
                if used > limit + LIMIT_REL_TOL * max(1.0, limit):
                    found.append(
                        Finding(
                            code,
                            f"site:{s}@{period}",
                            used,
                            limit,
                            "MW",
                            f"{used:.3f} MW of {what} at {s} in {period}, {limit:g} MW available",
                        )
                    )
        feed_caps = {s: [cap.feed[f] for f, _ in feeds[s]] for s in sites}
        # the verifier's own arithmetic of placer.contract.n1_feed_limit_mw (total less the largest)
        n1 = {s: (c[0] if len(c) == 1 else sum(c) - max(c)) if c else 0.0 for s, c in feed_caps.items()}
        for s, extra in cap.extra_feed.items():  # feed options and on-site supply in service
            n1[s] += extra
        sub_load: dict[str, float] = {}
        for s, mw in sorted(it.items()):
            facility = mw * sites[s].pue
            caps = feed_caps[s]
            if facility > n1[s] + LIMIT_REL_TOL * max(1.0, n1[s]):
                found.append(
                    Finding(
                        "PERIOD_FEED_CAPACITY",
                        f"site:{s}@{period}",
                        facility,
                        n1[s],
                        "MW",
                        f"{facility:.3f} MW facility load at {s} in {period}; its feeds carry {n1[s]:g} MW"
                        + (" after losing any one" if len(caps) > 1 else ""),
                    )
                )
            feed_total = math.fsum(caps)
            drawn = max(0.0, facility - cap.onsite.get(s, 0.0))  # on-site supply serves its share first
            for (_feed, b), c in zip(feeds[s], caps):
                sub_load[b] = sub_load.get(b, 0.0) + drawn * c / feed_total
        for b, load in sorted(sub_load.items()):
            limit = cap.headroom[b]
            if load > limit + LIMIT_REL_TOL * max(1.0, limit):
                found.append(
                    Finding(
                        "PERIOD_SUBSTATION_HEADROOM",
                        f"substation:{b}@{period}",
                        load,
                        limit,
                        "MW",
                        f"{load:.3f} MW of new load on {b} in {period}, headroom {limit:g} MW",
                    )
                )
        # build rates
        for s, rate in r.build_rate_racks_per_period.items():
            built = sum(max(0, n - prev.get(key, 0)) for key, n in now.items() if key.split("/")[2] == s)
            if built > rate:
                found.append(
                    Finding(
                        "BUILD_RATE",
                        f"site:{s}@{period}",
                        built,
                        rate,
                        "racks",
                        f"{built} racks installed at {s} in {period}, build rate {rate}",
                    )
                )
        # reported figures: GPUs and each site's MW used against MW available
        delivered = sum(cum[q] for cum in delivered_cum.values())
        for name, reported, actual in (
            ("gpus_delivered", rep.gpus_delivered, delivered),
            ("gpus_live", rep.gpus_live, live_gpus),
            ("gpus_stranded", rep.gpus_stranded, delivered - live_gpus),
        ):
            if reported != actual:
                found.append(
                    Finding(
                        "REPORTED_MISMATCH",
                        f"schedule:{period}",
                        reported,
                        actual,
                        "GPUs",
                        f"{name} reported {reported:,}, recomputed {actual:,}",
                    )
                )
        seen: set[str] = set()
        for site_row in rep.sites:
            ent = f"site:{site_row.site}@{period}"
            if site_row.site not in sites or site_row.site in seen:
                found.append(
                    Finding(
                        "REPORTED_MISMATCH",
                        ent,
                        None,
                        None,
                        "",
                        f"schedule sites in {period}: '{site_row.site}' is "
                        + ("reported_mw twice" if site_row.site in seen else "not a site of this scenario"),
                    )
                )
                continue
            seen.add(site_row.site)
            s, mw = site_row.site, it.get(site_row.site, 0.0)
            for name, reported_mw, actual_mw in (
                ("it_power_mw", site_row.it_power_mw, mw),
                ("it_available_mw", site_row.it_available_mw, cap.it[s]),
                ("facility_power_mw", site_row.facility_power_mw, mw * sites[s].pue),
                ("facility_available_mw", site_row.facility_available_mw, n1[s]),
            ):
                if not _mw_close(reported_mw, actual_mw):
                    found.append(
                        Finding(
                            "REPORTED_MISMATCH",
                            ent,
                            reported_mw,
                            actual_mw,
                            "MW",
                            f"sites[{s}].{name} in {period} reported {reported_mw:.6g}, recomputed {actual_mw:.6g}",
                        )
                    )
        for s, mw in sorted(it.items()):
            if s not in seen and not _mw_close(0.0, mw):
                found.append(
                    Finding(
                        "REPORTED_MISMATCH",
                        f"site:{s}@{period}",
                        None,
                        mw,
                        "MW",
                        f"site '{s}' carries {mw:.6g} MW of IT in {period} but has no entry in that period's sites",
                    )
                )
        prev = now

    final: dict[str, int] = {}
    for a in plan.assignments:  # duplicate rows add up (DUPLICATE_ASSIGNMENT reports them)
        key = f"{a.tenant}/{a.sku}/{a.site}"
        final[key] = final.get(key, 0) + a.racks
    final = {k: v for k, v in final.items() if v > 0}
    last = {k: v for k, v in plan.schedule[-1].installed_racks.items() if v > 0}
    if final != last:
        diff = sorted(set(final.items()) ^ set(last.items()))[:3]
        found.append(
            Finding(
                "SCHEDULE_FINAL",
                f"schedule:{r.periods[-1]}",
                None,
                None,
                "",
                f"the last period's installed racks differ from the assignments (e.g. {diff})",
            )
        )
    # summary.stranded_gpu_quarters is a claim: placer.verify_claims compares it with
    # stranded_gpu_quarters() (STRANDING_CLAIM).
    return found


def stranded_gpu_quarters(scenario: Scenario, plan: Plan) -> int | None:
    """Sum over periods of GPUs delivered but not live, from the scenario's deliveries and the
    plan's schedule: 0 without a rollout; None when the plan has no schedule or its periods are
    not the scenario's (SCHEDULE_MISSING / SCHEDULE_PERIODS report that). Installed-rack keys
    that name no tenant/SKU/site of the scenario count as nothing live (REPORTED_MISMATCH
    reports them). O(D + P * A) for D deliveries, P periods, A schedule entries."""
    r = scenario.rollout
    if r is None:
        return 0
    if not _schedule_aligned(scenario, plan):
        return None
    delivered = 0
    for d in r.deliveries:
        delivered += d.gpus * (len(r.periods) - r.periods.index(d.period))
    skus = {k.id: k for k in scenario.catalog}
    tenants = {t.id for t in scenario.demand.tenants}
    sites = {s.id for s in scenario.topology.sites}
    live = 0
    for rep in plan.schedule or []:  # the same entries check_schedule counts as live (malformed keys: none)
        for key, n in rep.installed_racks.items():
            parsed = _parse_key(key)
            if parsed is not None and parsed[0] in tenants and parsed[1] in skus and parsed[2] in sites:
                live += n * skus[parsed[1]].gpus_per_rack
    return delivered - live


def with_final_capacities(scenario: Scenario, built: dict[str, str] | None = None) -> Scenario:
    """A copy of a rollout scenario whose topology holds the last period's capacities: the
    final build-out is judged against what is in service at the end of the rollout, with the
    power options ``built`` (see :func:`with_capacities`)."""
    if scenario.rollout is None:
        return scenario
    return with_capacities(scenario, scenario.rollout.periods[-1], built)


def with_capacities(scenario: Scenario, period: str, built: dict[str, str] | None = None) -> Scenario:
    """A copy of a rollout scenario whose topology holds ``period``'s capacities with the power
    options ``built`` by then. A site's extra N-1 supply (feed options, on-site supply) scales its
    feeds (the N-1 limit, total less the largest, scales with them; the shares stay); on-site supply
    relieves its substations in those shares (raising their headroom by as much)."""
    if scenario.rollout is None:
        return scenario
    cap = capacities_in_period(scenario, period, built)
    feeds = _site_feeds(scenario)
    scale: dict[str, float] = {}
    for s, extra in cap.extra_feed.items():
        c = [cap.feed[f] for f, _ in feeds[s]]
        n1 = c[0] if len(c) == 1 else sum(c) - max(c)
        scale[s] = (n1 + extra) / n1 if n1 > 0 else 1.0
        total = math.fsum(c)
        for (_f, b), cf in zip(feeds[s], c):
            cap.headroom[b] += cap.onsite.get(s, 0.0) * cf / total
    site_of = {f: s for s, fs in feeds.items() for f, _ in fs}
    out = scenario.model_copy(deep=True)
    for node in out.topology.nodes:
        if node.kind == "site":
            node.it_capacity_mw, node.liquid_cooling_mw, node.air_cooling_mw = (
                cap.it[node.id],
                cap.liquid[node.id],
                cap.air[node.id],
            )
        elif node.kind == "substation":
            node.headroom_mw = cap.headroom[node.id]
    for edge in out.topology.edges:
        if edge.kind == "feed":
            eid = str(edge.id)  # ids are filled in by validation
            edge.capacity_mw = cap.feed[eid] * scale.get(site_of[eid], 1.0)
        elif edge.kind == "line":
            eid = str(edge.id)
            edge.rating_mw, edge.emergency_rating_mw = cap.rating[eid], cap.emergency[eid]
    return out
