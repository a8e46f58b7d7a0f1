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
``earliest``, ``latest`` and ``build_rate``; and the objective (:meth:`Formulation.objective`).
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

    def facility_definitions(self) -> Iterator[Row]:
        """``facility[s] = sum(facility_mw * x)`` for every site, final period: for an engine that
        holds the aggregates as variables (the MILP, whose grid rows use them); CP-SAT expands them."""
        p = self.p
        for s, site in enumerate(p.sites):
            yield Row(
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
        """Site, cooling, feed and substation limits in force in period q, on the racks live then."""
        p, cands, per = self.p, self.p.candidates, self.p.periods
        tag = (per.ids[q],) if per.multi else ()
        when = f" in {per.ids[q]}" if per.multi else ""
        for s, idx in sorted(self.by_site.items()):
            site = p.sites[s]
            ks = [cands[i].k for i in idx]
            ys = [self.y(i, q) for i in idx]
            yield Row(
                "site_it_capacity",
                (site.id, *tag),
                f"site {site.id} hosts at most {per.it_cap[q][s]:g} MW of IT load{when}",
                tuple((p.it_mw(k), y) for k, y in zip(ks, ys)),
                hi=per.it_cap[q][s],
                unit=MW,
            )
            for medium, heat_mw, cap in (("liquid", p.liquid_mw, per.liquid_cap), ("air", p.air_mw, per.air_cap)):
                heat = tuple((heat_mw(k), y) for k, y in zip(ks, ys) if heat_mw(k) > 0)
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
                ((1, self.facility(s, q)),),
                hi=per.feed_limit[q][s],
                unit=MW,
            )
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
                tuple(terms),
                hi=per.headroom[q][b],
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
        """(terms, constants) of the objective, USD per year: each rack's annual cost, the tenant-site
        penalty, the site fixed costs and, on rollouts, the stranding penalty (a constant per demand
        line minus the live GPUs of every period). CP-SAT rounds each to whole dollars."""
        p = self.p
        w = p.scenario.policy.objective
        terms: list[tuple[float, Ref]] = [(c.annual_cost_usd_per_rack, self.y(i)) for i, c in enumerate(p.candidates)]
        if w.tenant_site_usd_per_year > 0:
            terms += [(w.tenant_site_usd_per_year, self.use(t, s)) for t, s in self.pairs()]
        if w.site_fixed_weight > 0:
            terms += [(w.site_fixed_weight * p.sites[s].fixed_usd_per_year, self.open(s)) for s in self.open_sites()]
        constants: list[float] = []
        per = p.periods
        if per.multi and per.stranding_usd_per_gpu_quarter > 0:
            # stranded GPU-quarters = sum_q (delivered_q - live_q): a constant minus the live racks
            for (_t, k), cum in per.delivered_racks.items():
                constants.append(per.stranding_usd_per_gpu_quarter * p.skus[k].gpus_per_rack * sum(cum))
            for i, c in enumerate(p.candidates):
                for q in range(per.count):
                    terms.append((-per.stranding_usd_per_gpu_quarter * p.skus[c.k].gpus_per_rack, self.y(i, q)))
        return terms, constants

    def rollout(self) -> Iterator[Row]:
        """Monotone installs, deliveries, go-live windows and build rates (multi-period only)."""
        p, per = self.p, self.p.periods
        P = per.count
        for i, c in enumerate(p.candidates):
            label = (p.tenants[c.t].id, p.skus[c.k].id, p.sites[c.s].id)
            for q in range(1, P):
                yield Row(
                    "monotone",
                    (*label, per.ids[q]),
                    "installed racks stay installed",
                    ((1, self.y(i, q)), (-1, self.y(i, q - 1))),
                    lo=0,
                    explain=False,
                )
        for (t, k), idx in sorted(self.by_demand.items()):
            tenant, sku = p.tenants[t].id, p.skus[k].id
            for q in range(P):
                have = per.delivered_racks[(t, k)][q]
                yield Row(
                    "delivered",
                    (tenant, sku, per.ids[q]),
                    f"tenant {tenant}'s live {sku} GPUs by {per.ids[q]} do not exceed the "
                    f"{have * p.skus[k].gpus_per_rack:,} delivered by then",
                    tuple((1, self.y(i, q)) for i in idx),
                    hi=have,
                )
            first, last = per.earliest.get(t), per.latest.get(t)
            for q in range(P):
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
        for s, idx in sorted(self.by_site.items()):
            rate = per.build_rate[s]
            if rate is None:
                continue
            site = p.sites[s].id
            for q in range(P):
                yield Row(
                    "build_rate",
                    (site, per.ids[q]),
                    f"site {site} installs at most {rate} racks in {per.ids[q]}",
                    tuple([(1, self.y(i, q)) for i in idx] + ([(-1, self.y(i, q - 1)) for i in idx] if q else [])),
                    hi=rate,
                )
