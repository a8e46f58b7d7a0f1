"""The placement model written once: named linear rows over typed variable references.

Input: a :class:`~solvers.problem.Problem`. Output: :class:`Row` objects, family by family
(:meth:`Formulation.rows`), that every exact engine translates into its own model: CP-SAT
(:mod:`solvers.cpsat`) scales them to integers (watts, whole GPUs) with the safe rounding of
:mod:`solvers.scaling` and guards them with explanation literals; the MILP (:mod:`solvers.milp`)
adds them in floating point. A row says ``lo <= sum(coef * var) <= hi`` over :class:`Ref`
variables and carries its family, its entity ids (its name is ``family[id,id,...]``) and the
sentence that explains it in the planner's words.

Variables (:class:`Ref`):

* ``y[i, q]``: racks of candidate i live in period q; the last period's are the placement's
  racks ``x[i]`` (a single-period problem has one period);
* ``use[t, s]``: tenant t has racks at site s; ``open[s]``: site s is used by anyone;
* ``option[o, q]``: power option o is built by period q (rollouts with ``rollout.options``);
* ``facility[s, q]``: site s's facility MW in period q, the aggregate
  ``sum(facility_mw(k, s) * y[i, q])`` over its candidates. :meth:`Formulation.expand` writes it
  out; the MILP keeps the final period's as a variable (its grid rows need it), CP-SAT expands
  every one (so the rounding applies to each rack's coefficient, as for every other row).

Families written here (the README's maths): ``demand``; per period ``site_it_capacity``,
``liquid_cooling``, ``air_cooling``, ``feed_capacity``, ``substation_headroom``; ``power_band_max``,
``power_band_min``, ``generation_adequacy``; per (tenant, site) ``use_link`` and ``training_island``
(an indicator row on ``use``); per tenant ``max_sites`` and ``latency_share``; ``open_link``; the
capacity-link cuts ``open_capacity`` and ``use_capacity`` (:mod:`solvers.cuts`); ``facility_def``
(for engines that hold the aggregates as variables); on rollouts ``monotone``, ``delivered``,
``earliest``, ``latest`` and ``build_rate``; with power options ``option_earliest``, ``option_forced``,
``option_monotone``, ``option_requires``, ``option_excludes``, ``option_absorbed`` and
``onsite_generation_cap`` (:meth:`Formulation.option_rules`), ``layout_*`` for sites with a
declared interior (:meth:`Formulation.layout_limits`), their effects as terms of the period
limits (:meth:`Formulation._option_terms`); and the objective (:meth:`Formulation.objective`):
annualised for a single period, the net present value for a rollout (:meth:`Formulation.npv_objective`).
Each family is a generator (per site, per period, per demand line where an engine needs them
apart): an engine calls them in its own order, since row order steers a MIP engine's search
(:class:`solvers.milp.MilpModel` keeps the order HiGHS was measured fastest with).
The grid's rows (``grid_balance``, ``line_limit``, ``line_limit_n1``, ``raise_def``) are written
once in :mod:`solvers.formulation_grid`, over the ``facility`` refs here and its own
``redispatch[g]`` and ``raise[g]``.

Complexity: O(P·C) rows' terms for P periods and C candidates (each family is linear in its
index set).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from solvers.problem import Problem

MW = "mw"  # real coefficients and limits in MW: CP-SAT scales them to watts, rounded on the safe side
COUNT = "count"  # integer coefficients and limits (racks, GPUs, sites): exact in every engine


class Ref(NamedTuple):
    """A model variable by container and key: ``y`` (i, q), ``use`` (t, s), ``open`` (s,), ``facility`` (s, q).
    (A named tuple: a model holds one per rack term, and tuples are the cheapest to make.)"""

    kind: str
    key: tuple[int, ...]


@dataclass(frozen=True)
class Row:
    """``lo <= sum(coef * var) <= hi`` (a missing side is None), named ``family[entities]``.

    ``unit`` is :data:`MW` or :data:`COUNT`. ``explain`` rows are planner's rules an infeasibility
    explanation may name; the others (links, cuts, monotone installs, pinned zeros) are structure,
    always enforced. With ``enforce`` the row holds only when that boolean is 1: CP-SAT enforces it
    so, the MILP writes a ``lo``-only row over non-negative terms as ``sum >= lo * enforce``."""

    family: str
    entities: tuple[str, ...]
    sentence: str
    terms: tuple[tuple[float, Ref], ...]
    lo: float | None = None
    hi: float | None = None
    unit: str = COUNT
    explain: bool = True
    enforce: Ref | None = None  # an indicator: the row holds only when this boolean is 1

    @property
    def name(self) -> str:
        return f"{self.family}[{','.join(self.entities)}]" if self.entities else self.family


class Formulation:
    """The rows of a problem's placement model, built on demand, family by family.

    ``wide_domains``: every candidate may hold its whole demand line (CP-SAT's explanation model
    keeps domains wide so that infeasibility lands in named rows); else its pruned maximum."""

    def __init__(self, problem: Problem, *, wide_domains: bool = False):
        self.p = problem
        self.wide_domains = wide_domains
        self.by_site: dict[int, list[int]] = {}
        self.by_demand: dict[tuple[int, int], list[int]] = {}
        self.by_pair: dict[tuple[int, int], list[int]] = {}
        for i, c in enumerate(problem.candidates):
            self.by_site.setdefault(c.s, []).append(i)
            self.by_demand.setdefault((c.t, c.k), []).append(i)
            self.by_pair.setdefault((c.t, c.s), []).append(i)
        self.last = problem.periods.count - 1
        self._pairs = sorted(self.by_pair)
        self._pairs_at: dict[int, list[tuple[int, int]]] = {}
        for t, s in self._pairs:
            self._pairs_at.setdefault(s, []).append((t, s))
        # facility MW per rack of each candidate, computed once (the same float every row uses)
        self._facility_mw = [problem.facility_mw(c.k, c.s) for c in problem.candidates]

    # ---- variables -------------------------------------------------------------
    def rack_bound(self, i: int) -> int:
        """The most racks candidate i can hold in any period."""
        c = self.p.candidates[i]
        return self.p.demand_racks[(c.t, c.k)] if self.wide_domains else c.max_racks

    def pairs(self) -> list[tuple[int, int]]:
        """The (tenant, site) pairs with a ``use`` boolean, sorted."""
        return self._pairs

    def open_sites(self) -> list[int]:
        """The sites with an ``open`` boolean: a fixed cost and at least one candidate, sorted."""
        return [s for s in sorted(self.by_site) if self.p.sites[s].fixed_usd_per_year > 0]

    # ---- references ------------------------------------------------------------
    def y(self, i: int, q: int | None = None) -> Ref:
        """Live racks of candidate i in period q (default: the last period, the placement's racks)."""
        return Ref("y", (i, self.last if q is None else q))

    @staticmethod
    def use(t: int, s: int) -> Ref:
        return Ref("use", (t, s))

    @staticmethod
    def open(s: int) -> Ref:
        return Ref("open", (s,))

    def option(self, o: int, q: int | None = None) -> Ref:
        """Power option o is built by period q (a boolean, monotone in q)."""
        return Ref("option", (o, self.last if q is None else q))

    def facility(self, s: int, q: int | None = None) -> Ref:
        return Ref("facility", (s, self.last if q is None else q))

    def expand(self, terms, keep=lambda ref: False) -> list[tuple[float, Ref]]:
        """``terms`` with every ``facility`` aggregate written out over its racks, except those
        ``keep(ref)`` says the engine holds as variables. O(terms + racks of the expanded sites)."""
        out: list[tuple[float, Ref]] = []
        for coef, ref in terms:
            if ref.kind != "facility" or keep(ref):
                out.append((coef, ref))
                continue
            s, q = ref.key
            fac = self._facility_mw
            out.extend((coef * fac[i], Ref("y", (i, q))) for i in self.by_site.get(s, []))
        return out

    def facility_definition(self, s: int) -> Row:
        """``facility[s] = sum(facility_mw * x)``, final period: for an engine that holds the aggregates
        as variables (the MILP, whose grid rows use them); CP-SAT expands them. Every site has one (a
        site without candidates defines its facility power as 0)."""
        p = self.p
        site = p.sites[s]
        return Row(
            "facility_def",
            (site.id,),
            f"site {site.id}'s facility power is its racks' IT power times its PUE",
            ((1, self.facility(s)),)
            + tuple((-p.facility_mw(p.candidates[i].k, s), self.y(i)) for i in self.by_site.get(s, [])),
            0,
            0,
            unit=MW,
            explain=False,
        )

    # ---- families ----------------------------------------------------------------
    def demand(self) -> Iterator[Row]:
        """Every demand line placed exactly (the final build-out)."""
        p = self.p
        for (t, k), racks in p.demand_racks.items():
            tenant, sku = p.tenants[t].id, p.skus[k].id
            yield Row(
                "demand",
                (tenant, sku),
                f"tenant {tenant} gets all {racks * p.skus[k].gpus_per_rack:,} {sku} GPUs it asked for",
                tuple((1, self.y(i)) for i in self.by_demand.get((t, k), [])),
                racks,
                racks,
            )

    def period_limits(self, q: int) -> Iterator[Row]:
        """Site, cooling, feed and substation limits in force in period q, on the racks live then:
        :meth:`site_limits` site by site, then :meth:`substation_limits`."""
        for s in sorted(self.by_site):
            yield from self.site_limits(s, q)
        yield from self.substation_limits(q)

    def site_limits(self, s: int, q: int) -> Iterator[Row]:
        """Site s's IT, cooling and feed limits in period q (none for a site without candidates)."""
        p, cands, per = self.p, self.p.candidates, self.p.periods
        idx = self.by_site.get(s)
        if not idx:
            return
        tag = (per.ids[q],) if per.multi else ()
        when = f" in {per.ids[q]}" if per.multi else ""
        site = p.sites[s]
        ks = [cands[i].k for i in idx]
        ys = [self.y(i, q) for i in idx]
        yield Row(
            "site_it_capacity",
            (site.id, *tag),
            f"site {site.id} hosts at most {per.it_cap[q][s]:g} MW of IT load{when}",
            tuple((p.it_mw(k), y) for k, y in zip(ks, ys)) + self._option_terms("it", s, q),
            hi=per.it_cap[q][s],
            unit=MW,
        )
        for medium, heat_mw, cap in (("liquid", p.liquid_mw, per.liquid_cap), ("air", p.air_mw, per.air_cap)):
            heat = tuple((heat_mw(k), y) for k, y in zip(ks, ys) if heat_mw(k) > 0)
            heat += self._option_terms(medium, s, q) if heat else ()
            if heat:
                yield Row(
                    f"{medium}_cooling",
                    (site.id, *tag),
                    f"site {site.id} rejects at most {cap[q][s]:g} MW of heat by {medium}{when}",
                    heat,
                    hi=cap[q][s],
                    unit=MW,
                )
        yield Row(
            "feed_capacity",
            (site.id, *tag),
            f"site {site.id}'s feeds carry at most {per.feed_limit[q][s]:g} MW of facility load"
            + (" after losing any one feed" if p.n_feeds[s] > 1 else "")
            + when,
            ((1, self.facility(s, q)),) + self._option_terms("feed", s, q),
            hi=per.feed_limit[q][s],
            unit=MW,
        )
        if q == per.count - 1:
            yield from self.layout_limits(s, q)

    def layout_limits(self, s: int, q: int) -> Iterator[Row]:
        """Aggregate layout feasibility (issue 13 §3) of a site with a declared interior, on the
        final build-out: relaxations of the rack-level layout's rows (:mod:`solvers.layout`), so the
        placement never puts at a site what no layout inside it can hold. ``layout_power``: the
        racks' transient peak (SKU ``transient_factor``, or the storage's ``peak_factor`` where it
        is lower, as if storage covered every hall) within the power paths' capacities under their
        redundancy rules; ``layout_liquid`` / ``layout_air``: heat within the loops' liquid MW and
        the halls' air MW; ``layout_space``: racks within positions; ``layout_blocks``: racks over
        SU size within block slots; ``layout_water``: liquid heat x 24 h x the least WUE of any
        loop within the allowance. A site without an interior has none (its default is derived not
        to bind). O(candidates at s)."""
        p = self.p
        site = p.sites[s]
        it = getattr(site, "interior", None)
        idx = self.by_site.get(s)
        if it is None or not idx:
            return
        cands = p.candidates
        ks = [cands[i].k for i in idx]
        ys = [self.y(i, q) for i in idx]
        smooth = it.energy_storage.peak_factor if it.energy_storage is not None else math.inf

        def peak(k: int) -> float:
            return p.it_mw(k) * min(p.skus[k].transient_factor or 1.0, smooth)

        paths_mw = sum(path.capacity_mw for path in it.power_paths())
        loops_mw = sum(lp.liquid_mw for lp in it.cooling_loops)
        air_mw = sum(h.air_cooling_mw for h in it.halls)
        positions = sum(h.rows * h.positions_per_row for h in it.halls)
        slots = sum(b.su_slots for b in it.network_blocks)
        rows = [
            (
                "layout_power",
                f"the power paths carry at most {paths_mw:g} MW of its racks' transient peak",
                peak,
                paths_mw,
            ),
            (
                "layout_liquid",
                f"its cooling loops remove at most {loops_mw:g} MW of liquid heat",
                p.liquid_mw,
                loops_mw,
            ),
            ("layout_air", f"its halls reject at most {air_mw:g} MW of heat by air", p.air_mw, air_mw),
        ]
        for family, what, coef, hi in rows:
            terms = tuple((coef(k), y) for k, y in zip(ks, ys) if coef(k) > 0)
            if terms:
                yield Row(family, (site.id,), f"inside site {site.id}, {what}", terms, hi=hi, unit=MW)
        yield Row(
            "layout_space",
            (site.id,),
            f"inside site {site.id}, its halls hold at most {positions:,} racks",
            tuple((1, y) for y in ys),
            hi=positions,
        )
        yield Row(
            "layout_blocks",
            (site.id,),
            f"inside site {site.id}, its network blocks connect at most {slots:,} SUs",
            tuple((1.0 / p.skus[k].scalable_unit_racks, y) for k, y in zip(ks, ys)),
            hi=slots,
            unit=MW,  # fractional coefficients: scaled and rounded on the safe side like MW
        )
        wue = min((lp.wue_l_per_kwh for lp in it.cooling_loops), default=0.0)
        if it.water_allowance_m3_per_day is not None and wue > 0:
            yield Row(
                "layout_water",
                (site.id,),
                f"inside site {site.id}, its loops use at most {it.water_allowance_m3_per_day:g} m3 of water a day",
                tuple((p.liquid_mw(k) * 24.0 * wue, y) for k, y in zip(ks, ys) if p.liquid_mw(k) > 0),
                hi=it.water_allowance_m3_per_day,
                unit=MW,
            )

    def substation_limits(self, q: int) -> Iterator[Row]:
        """Every substation's headroom in period q."""
        p, per = self.p, self.p.periods
        tag = (per.ids[q],) if per.multi else ()
        when = f" in {per.ids[q]}" if per.multi else ""
        # substation headroom: a site draws on its feeds in proportion to their capacity
        sub_terms: dict[int, list[tuple[float, Ref]]] = {}
        for s in self.by_site:
            for b, share in per.feed_shares[q][s].items():
                sub_terms.setdefault(b, []).append((share, self.facility(s, q)))
        for b, terms in sorted(sub_terms.items()):
            sid = p.substation_ids[b]
            yield Row(
                "substation_headroom",
                (sid, *tag),
                f"substation {sid} supplies at most {per.headroom[q][b]:g} MW of new load{when}",
                tuple(terms) + self._option_terms("headroom", b, q),
                hi=per.headroom[q][b],
                unit=MW,
            )

    def _option_terms(self, resource: str, index: int, q: int) -> tuple[tuple[float, Ref], ...]:
        """The options that add to a period limit, as terms ``-effect * option[o, q]`` (the limit's
        right-hand side stays the data's): ``it``, ``liquid``, ``air``, ``feed`` of site ``index``,
        ``headroom`` of substation ``index`` (expansions, and on-site supply at the sites it feeds, in
        their feed shares). O(O) per call; nothing without options."""
        p = self.p
        out: list[tuple[float, Ref]] = []
        for o, opt in enumerate(p.options):
            if resource == "headroom":
                mw = opt.headroom_mw if opt.substation == index else 0.0
                if opt.onsite and opt.site is not None:
                    mw += p.periods.feed_shares[q][opt.site].get(index, 0.0) * opt.generation_mw
            elif opt.site != index:
                continue
            else:
                mw = {
                    "it": opt.it_mw,
                    "liquid": opt.liquid_mw,
                    "air": opt.air_mw,
                    "feed": opt.feed_mw + opt.generation_mw,
                }[resource]
            if mw > 0 and opt.serves(q):
                out.append((-mw, self.option(o, q)))
        return tuple(out)

    def option_rules(self) -> Iterator[Row]:
        """The power options' logic (rollouts with options): built stays built; never before its
        earliest quarter; a forced option built from its earliest quarter; prerequisites built no
        later; exclusive pairs not both built; on-site generation per site within the policy's limit;
        on-site or contracted supply only where the site's load absorbs it (it runs flat out)."""
        p, per = self.p, self.p.periods
        n = per.count
        for o, opt in enumerate(p.options):
            for q in range(n):
                if q < opt.earliest:
                    yield Row(
                        "option_earliest",
                        (opt.id, per.ids[q]),
                        f"option {opt.id} is not in service before {per.ids[opt.earliest]}",
                        ((1, self.option(o, q)),),
                        0,
                        0,
                        explain=False,
                    )
                elif opt.forced:
                    yield Row(
                        "option_forced",
                        (opt.id, per.ids[q]),
                        f"the fixed upgrade {opt.id} is in service from {per.ids[opt.earliest]}",
                        ((1, self.option(o, q)),),
                        1,
                        1,
                    )
                if q:
                    yield Row(
                        "option_monotone",
                        (opt.id, per.ids[q]),
                        "a built option stays built",
                        ((1, self.option(o, q)), (-1, self.option(o, q - 1))),
                        lo=0,
                        explain=False,
                    )
                for r in sorted(set(opt.requires)):  # (a repeated entry is one rule, one row)
                    yield Row(
                        "option_requires",
                        (opt.id, p.options[r].id, per.ids[q]),
                        f"option {opt.id} needs {p.options[r].id} built first",
                        ((1, self.option(o, q)), (-1, self.option(r, q))),
                        hi=0,
                    )
            for x in sorted(set(opt.excludes)):
                if x > o or o not in p.options[x].excludes:  # each pair once
                    yield Row(
                        "option_excludes",
                        (opt.id, p.options[x].id),
                        f"options {opt.id} and {p.options[x].id} are not both built",
                        ((1, self.option(o)), (1, self.option(x))),
                        hi=1,
                    )
        supply: dict[int, list[int]] = {}
        for o, opt in enumerate(p.options):
            if opt.onsite and opt.site is not None:
                supply.setdefault(opt.site, []).append(o)
        for s, os in sorted(supply.items()):
            for q in range(n):
                yield Row(
                    "option_absorbed",
                    (p.sites[s].id, per.ids[q]),
                    f"on-site and contracted supply at {p.sites[s].id} runs only where its load absorbs it",
                    tuple((p.options[o].generation_mw, self.option(o, q)) for o in os if p.options[o].serves(q))
                    + ((-1, self.facility(s, q)),),
                    hi=0,
                    unit=MW,
                )
        cap = p.scenario.policy.onsite_generation_max_mw
        by_site: dict[int, list[int]] = {}
        for o, opt in enumerate(p.options):
            if opt.kind == "onsite_generation" and opt.site is not None:
                by_site.setdefault(opt.site, []).append(o)
        for s, os in sorted(by_site.items()):
            for q in range(n):
                gen = tuple((p.options[o].generation_mw, self.option(o, q)) for o in os if p.options[o].serves(q))
                if gen:
                    yield Row(
                        "onsite_generation_cap",
                        (p.sites[s].id, per.ids[q]),
                        f"site {p.sites[s].id} has at most {cap:g} MW of on-site generation in {per.ids[q]} "
                        "(distributed-generation limit)",
                        gen,
                        hi=cap,
                        unit=MW,
                    )

    def power(self) -> Iterator[Row]:
        """The facility power band and, when the topology has plants, generation adequacy."""
        p = self.p
        band = p.scenario.policy.power_band_mw
        every = tuple((1, self.facility(s)) for s in range(len(p.sites)))
        # Two rows, not one ranged: CP-SAT rounds an upper and a lower limit's coefficients apart.
        yield Row(
            "power_band_max",
            (),
            f"total facility power stays at or below {band.max_mw:g} MW",
            every,
            hi=band.max_mw,
            unit=MW,
        )
        yield Row(
            "power_band_min",
            (),
            f"total facility power reaches at least {band.min_mw:g} MW",
            every,
            lo=band.min_mw,
            unit=MW,
        )
        plants = p.scenario.topology.plants
        if plants:
            spare = sum(pl.spare_mw for pl in plants)
            yield Row(
                "generation_adequacy",
                (),
                f"total facility power stays within the plants' {spare:g} MW of spare capacity",
                every,
                hi=spare,
                unit=MW,
            )

    def tenant_rules(self) -> Iterator[Row]:
        """Per tenant: its site count and its latency shares (islands and links are structure)."""
        p, cands = self.p, self.p.candidates
        for t, tenant in enumerate(p.tenants):
            pairs = [self.use(tt, s) for (tt, s) in sorted(self.by_pair) if tt == t]
            if tenant.max_sites is not None and pairs:
                yield Row(
                    "max_sites",
                    (tenant.id,),
                    f"tenant {tenant.id} uses at most {tenant.max_sites} sites",
                    tuple((1, u) for u in pairs),
                    hi=tenant.max_sites,
                )
            for j, req in enumerate(tenant.latency):
                near = p.latency_eligible(req.metro, req.max_rtt_ms)
                need = math.ceil(req.min_share * tenant.total_gpus - 1e-9)
                yield Row(
                    "latency_share",
                    (tenant.id, req.metro, str(j)),
                    f"at least {req.min_share:.0%} of tenant {tenant.id}'s GPUs ({need:,}) sit within "
                    f"{req.max_rtt_ms:g} ms round trip of {req.metro}",
                    tuple(
                        (p.skus[c.k].gpus_per_rack, self.y(i)) for i, c in enumerate(cands) if c.t == t and c.s in near
                    ),
                    lo=need,
                )

    def pair_rules(self, t: int, s: int) -> Iterator[Row]:
        """Tenant t at site s: racks only where ``use[t, s]`` (per candidate with its own bound: a much
        tighter relaxation than one big-M on the total), and the training island when it is used."""
        p, cands = self.p, self.p.candidates
        tenant, site = p.tenants[t], p.sites[s]
        idx = self.by_pair[(t, s)]
        for i in idx:
            yield Row(
                "use_link",
                (tenant.id, p.skus[cands[i].k].id, site.id),
                "racks only at a site the tenant uses",
                ((1, self.y(i)), (-self.rack_bound(i), self.use(t, s))),
                hi=0,
                explain=False,
            )
        if tenant.min_island_gpus > 0:
            yield Row(
                "training_island",
                (tenant.id, site.id),
                f"tenant {tenant.id} has at least {tenant.min_island_gpus:,} GPUs at {site.id} if it uses it",
                tuple((p.skus[cands[i].k].gpus_per_rack, self.y(i)) for i in idx),
                lo=tenant.min_island_gpus,
                enforce=self.use(t, s),
            )

    def open_links(self, s: int) -> Iterator[Row]:
        """Site s is open when any tenant uses it (its fixed cost)."""
        site = self.p.sites[s].id
        for t, _ in self._pairs_at.get(s, []):
            tenant = self.p.tenants[t].id
            yield Row(
                "open_link",
                (tenant, site),
                f"site {site} is open when {tenant} uses it",
                ((1, self.use(t, s)), (-1, self.open(s))),
                hi=0,
                explain=False,
            )

    def cuts(self, cuts) -> Iterator[Row]:
        """The capacity-link cuts of :mod:`solvers.cuts` as rows: sum(per-rack MW * x) - cap * binary <= 0."""
        from solvers.cuts import per_rack_mw

        for cut in cuts:
            kind, key = cut.link
            binary = self.open(key) if kind == "open" else self.use(*key)
            yield Row(
                cut.family,
                cut.entities,
                f"the racks use at most {cut.cap_mw:g} MW of {cut.resource} capacity, none unless {binary.kind}",
                tuple(
                    [(per_rack_mw(self.p, cut.resource, i), self.y(i)) for i in cut.candidates]
                    + [(-cut.cap_mw, binary)]
                ),
                hi=0,
                unit=MW,
                explain=False,
            )

    def objective(self) -> tuple[list[tuple[float, Ref]], list[float]]:
        """(terms, constants) of the objective: USD per year for a single period (each rack's annual
        cost, the tenant-site penalty, the site fixed costs); a rollout's is its net present value,
        USD (:meth:`npv_objective`). CP-SAT rounds each to whole dollars."""
        if self.p.periods.multi:
            return self.npv_objective()
        p = self.p
        w = p.scenario.policy.objective
        terms: list[tuple[float, Ref]] = [(c.annual_cost_usd_per_rack, self.y(i)) for i, c in enumerate(p.candidates)]
        if w.tenant_site_usd_per_year > 0:
            terms += [(w.tenant_site_usd_per_year, self.use(t, s)) for t, s in self.pairs()]
        if w.site_fixed_weight > 0:
            terms += [(w.site_fixed_weight * p.sites[s].fixed_usd_per_year, self.open(s)) for s in self.open_sites()]
        return terms, []

    def npv_objective(self) -> tuple[list[tuple[float, Ref]], list[float]]:
        """(terms, constants) of a rollout's net present value, USD at the start of its first quarter,
        with d_q the discount factor of quarter q and L the quarter's length in years:

        * facility capex when racks go live: sum_q d_q capex (y_q - y_(q-1)), i.e. capex (d_q - d_(q+1))
          on y_q (d_P = 0);
        * energy and region surcharge per quarter of operation: d_q L (USD per year) on y_q;
        * an idle delivered GPU at its quarterly capital charge: a constant d_q charge GPUs delivered by
          q minus d_q charge on each live rack's GPUs;
        * a used site's fixed cost in every quarter its capacity is in service, the tenant-site penalty
          in every quarter: d_q L (USD per year) summed, on ``open`` and ``use``;
        * a power option's capex in the quarter it is built, its fixed cost and on-site energy premium
          per quarter in service, on ``option[o, q]`` as for the racks.

        Each quarter's re-dispatch (the MILP's per-quarter grid rows, :mod:`solvers.grid_periods`) is
        charged for that quarter, discounted. O(P·C)."""
        p, per = self.p, self.p.periods
        w = p.scenario.policy.objective
        d, years, n = per.discount, per.quarter_years, per.count
        terms: list[tuple[float, Ref]] = []
        for i, c in enumerate(p.candidates):
            capex = p.capex_usd_per_rack(c.k, c.s)
            running = (p.energy_usd_per_rack_year(c.k, c.s) + p.surcharge_usd_per_rack_year(c.k, c.s)) * years
            idle = per.idle_usd_per_gpu_quarter[c.k] * p.skus[c.k].gpus_per_rack
            for q in range(n):
                after = d[q + 1] if q + 1 < n else 0.0
                terms.append((capex * (d[q] - after) + (running - idle) * d[q], self.y(i, q)))
        if w.tenant_site_usd_per_year > 0:
            spread = w.tenant_site_usd_per_year * years * sum(d)
            terms += [(spread, self.use(t, s)) for t, s in self.pairs()]
        if w.site_fixed_weight > 0:
            for s in self.open_sites():
                served = sum(d[q] for q in range(n) if per.it_cap[q][s] > 0)
                fixed = w.site_fixed_weight * p.sites[s].fixed_usd_per_year * years * served
                terms.append((fixed, self.open(s)))
        for o, opt in enumerate(p.options):
            running = (opt.fixed_usd_per_year + opt.energy_premium_usd_per_year) * years
            for q in range(n):
                after = d[q + 1] if q + 1 < n else 0.0
                cost = opt.capex_usd * (d[q] - after) + (running * d[q] if opt.serves(q) else 0.0)
                terms.append((cost, self.option(o, q)))
        constants = [
            per.idle_usd_per_gpu_quarter[k] * p.skus[k].gpus_per_rack * sum(dq * r for dq, r in zip(d, cum))
            for (_t, k), cum in per.delivered_racks.items()
        ]
        return terms, constants

    def rollout(self) -> Iterator[Row]:
        """Monotone installs, deliveries, go-live windows and build rates (multi-period only)."""
        yield from self.monotone()
        yield from self.windows()
        yield from self.build_rates()

    def monotone(self) -> Iterator[Row]:
        """Installed racks stay installed: candidate by candidate, period by period."""
        p, per = self.p, self.p.periods
        for i, c in enumerate(p.candidates):
            label = (p.tenants[c.t].id, p.skus[c.k].id, p.sites[c.s].id)
            for q in range(1, per.count):
                yield Row(
                    "monotone",
                    (*label, per.ids[q]),
                    "installed racks stay installed",
                    ((1, self.y(i, q)), (-1, self.y(i, q - 1))),
                    lo=0,
                    explain=False,
                )

    def windows(self, *, by_period: bool = False) -> Iterator[Row]:
        """Each demand line's deliveries and go-live window: its ``delivered`` rows, then its ``earliest``
        zeros, then its ``latest`` rows, or with ``by_period`` the three period by period (the same
        rows; an engine's row order can steer its search)."""
        P = self.p.periods.count
        for t, k in sorted(self.by_demand):
            if by_period:
                for q in range(P):
                    yield from self._delivered(t, k, q)
                    yield from self._window(t, k, q)
            else:
                for q in range(P):
                    yield from self._delivered(t, k, q)
                for q in range(P):
                    yield from self._window(t, k, q)

    def _delivered(self, t: int, k: int, q: int) -> Iterator[Row]:
        p, per = self.p, self.p.periods
        tenant, sku = p.tenants[t].id, p.skus[k].id
        have = per.delivered_racks[(t, k)][q]
        yield Row(
            "delivered",
            (tenant, sku, per.ids[q]),
            f"tenant {tenant}'s live {sku} GPUs by {per.ids[q]} do not exceed the "
            f"{have * p.skus[k].gpus_per_rack:,} delivered by then",
            tuple((1, self.y(i, q)) for i in self.by_demand[(t, k)]),
            hi=have,
        )

    def _window(self, t: int, k: int, q: int) -> Iterator[Row]:
        p, per = self.p, self.p.periods
        tenant, sku = p.tenants[t].id, p.skus[k].id
        idx = self.by_demand[(t, k)]
        first, last = per.earliest.get(t), per.latest.get(t)
        if first is not None and q < first:
            for i in idx:
                yield Row(
                    "earliest",
                    (tenant, sku, p.sites[p.candidates[i].s].id, per.ids[q]),
                    f"tenant {tenant} has nothing live before {per.ids[first]}",
                    ((1, self.y(i, q)),),
                    0,
                    0,
                    explain=False,
                )
        if last is not None and q >= last:
            yield Row(
                "latest",
                (tenant, sku, per.ids[q]),
                f"all of tenant {tenant}'s {sku} GPUs are live by {per.ids[last]}",
                tuple((1, self.y(i, q)) for i in idx),
                lo=p.demand_racks[(t, k)],
            )

    def build_rates(self) -> Iterator[Row]:
        """Racks installed per period at each site with a build rate."""
        p, per = self.p, self.p.periods
        for s, idx in sorted(self.by_site.items()):
            rate = per.build_rate[s]
            if rate is None:
                continue
            site = p.sites[s].id
            for q in range(per.count):
                yield Row(
                    "build_rate",
                    (site, per.ids[q]),
                    f"site {site} installs at most {rate} racks in {per.ids[q]}",
                    tuple([(1, self.y(i, q)) for i in idx] + ([(-1, self.y(i, q - 1)) for i in idx] if q else [])),
                    hi=rate,
                )
