"""Allocation of free GPUs to a job under its gang rule, restrictions, quota and a site's power.

The schedulers (:mod:`solvers.cluster_fifo`, :mod:`solvers.cluster_bestfit`, and the optimising
one) and the simulator share this module: a static :class:`FleetIndex` over the fleet (SUs,
their blocks, per-domain power figures, cached eligibility sets) and a mutable
:class:`FreePool` (free GPUs per domain and per SU, updated incrementally as a decision takes
GPUs). :func:`find` returns an allocation ``(domains, gpus)`` as two integer arrays, or None.

Gang rules (:mod:`placer.workload`), as placed here:

* ``domain``: the eligible domain with the fewest free GPUs that still holds the job (a partly
  used domain before a whole one: least fragmentation), in every mode;
* ``block``, block-aware (``blocks=True``): whole free SUs of one SKU inside one network block;
  block-unaware (``blocks=False``, what Slurm does without topology/block): whole free SUs of
  one SKU anywhere at one site, in fleet order, so the SUs may span blocks;
* ``site`` / ``any``: the GPUs of one SKU at one site (``any`` falls back to several sites only
  when no one site can hold it). Whole free domains first for the job's whole-domain part.

Two fits choose between candidates: ``first`` (the baselines: the lowest-numbered block or site
that holds the job; the remainder of a site job in the first domain, in fleet order, that holds
it) and ``best`` (topology-aware best fit: the block or site whose free capacity is the tightest
fit; the remainder in the partly used domain with the fewest free GPUs that holds it, so small
jobs fill partly used domains before breaking a whole one).

Eligibility (which domains a job may use) is the tenant's racks (``sharing: owned``) or every
rack (``pooled``), its SKU if given, its sites if given; each distinct eligibility is computed
once per fleet and cached, so a placement attempt costs O(eligible domains) numpy work plus
O(SUs or sites) for the choice, not a Python loop over the fleet.

Complexity: building the index is O(domains); :func:`find` is O(eligible domains) vectorised;
:meth:`FreePool.take` is O(allocation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placer.fleet import Fleet
from placer.workload import Job

FIRST = "first"
BEST = "best"

Allocation = tuple[np.ndarray, np.ndarray]  # (domain indices, GPUs on each)


@dataclass(frozen=True)
class Shape:
    """A job resolved against the fleet: indices instead of names, and its eligibility key."""

    tenant: int  # fleet tenant index
    sku: int  # fleet SKU index, -1: any one SKU
    sites: tuple[int, ...] | None  # allowed fleet site indices, None: any
    gang: str
    gpus: int
    pooled: bool

    @property
    def key(self) -> tuple:
        return (-1 if self.pooled else self.tenant, self.sku, self.sites)


class FleetIndex:
    """Static look-ups over a fleet: SU attributes, per-domain power, cached eligibility sets.

    ``idle_share[k]`` is fleet SKU k's idle draw over its full draw. ``mw_per_gpu[d]`` is a GPU's
    full facility draw (pue x kW / 1000), so a site's draw is
    ``sum_d mw_per_gpu[d] x (capped running GPUs + free[d] x idle_share)`` (placer.fleet.POWER_RULE)."""

    def __init__(self, fleet: Fleet, idle_share: np.ndarray):
        self.fleet = fleet
        self.n_sites = len(fleet.sites)
        self.n_skus = len(fleet.skus)
        self.n_sus = len(fleet.sus)
        self.dom_site = fleet.site.astype(np.int64)
        self.dom_sku = fleet.sku.astype(np.int64)
        self.dom_su = fleet.su.astype(np.int64)
        self.dom_block = fleet.block.astype(np.int64)
        self.dom_tenant = fleet.tenant.astype(np.int64)
        self.dom_gpus = fleet.gpus.astype(np.int64)
        self.idle_share = np.asarray(idle_share, dtype=np.float64)
        self.dom_idle = self.idle_share[self.dom_sku]
        self.mw_per_gpu = fleet.pue[self.dom_site] * fleet.kw_per_gpu / 1000.0
        self.idle_mw = np.bincount(
            self.dom_site, weights=self.mw_per_gpu * self.dom_gpus * self.dom_idle, minlength=self.n_sites
        )
        self.full_mw = np.bincount(self.dom_site, weights=self.mw_per_gpu * self.dom_gpus, minlength=self.n_sites)
        first = np.full(self.n_sus, -1, dtype=np.int64)
        order = np.argsort(self.dom_su, kind="stable")
        su_sorted = self.dom_su[order]
        starts = np.searchsorted(su_sorted, np.arange(self.n_sus + 1))
        first = order[starts[:-1]]
        self.su_domains = [order[starts[u] : starts[u + 1]] for u in range(self.n_sus)]
        self.su_block = self.dom_block[first]
        self.su_site = self.dom_site[first]
        self.su_sku = self.dom_sku[first]
        self.su_tenant = self.dom_tenant[first]
        self.su_gpus = np.bincount(self.dom_su, weights=self.dom_gpus, minlength=self.n_sus).astype(np.int64)
        self.tenant_of = {t: i for i, t in enumerate(fleet.tenants)}
        self.sku_of = {k: i for i, k in enumerate(fleet.skus)}
        self.site_of = {s: i for i, s in enumerate(fleet.sites)}
        self._domains: dict[tuple, np.ndarray] = {}
        self._sus: dict[tuple, np.ndarray] = {}
        self._empty: FreePool | None = None

    # -- eligibility ------------------------------------------------------------------------
    def resolve(self, job: Job, sharing: str) -> Shape | str:
        """The job's :class:`Shape`, or why it can never run here (an unknown name)."""
        t = self.tenant_of.get(job.tenant)
        if t is None and sharing != "pooled":
            return f"tenant '{job.tenant}' has no racks in the fleet (sharing: owned)"
        k = -1
        if job.sku is not None:
            k = self.sku_of.get(job.sku, -2)
            if k == -2:
                return f"sku '{job.sku}' is not in the fleet"
        sites = None
        if job.sites is not None:
            known = sorted({self.site_of[s] for s in job.sites if s in self.site_of})
            if not known:
                return f"none of its sites ({', '.join(job.sites)}) is in the fleet"
            sites = tuple(known)
        return Shape(-1 if t is None else t, k, sites, job.gang, job.gpus, sharing == "pooled")

    def eligible_domains(self, key: tuple) -> np.ndarray:
        """Sorted indices of the domains a job with this eligibility key may use (cached)."""
        got = self._domains.get(key)
        if got is None:
            tenant, sku, sites = key
            mask = np.ones(self.dom_gpus.shape[0], dtype=bool)
            if tenant >= 0:
                mask &= self.dom_tenant == tenant
            if sku >= 0:
                mask &= self.dom_sku == sku
            if sites is not None:
                mask &= np.isin(self.dom_site, np.asarray(sites, dtype=np.int64))
            got = self._domains[key] = np.flatnonzero(mask)
        return got

    def eligible_sus(self, key: tuple) -> np.ndarray:
        got = self._sus.get(key)
        if got is None:
            tenant, sku, sites = key
            mask = np.ones(self.n_sus, dtype=bool)
            if tenant >= 0:
                mask &= self.su_tenant == tenant
            if sku >= 0:
                mask &= self.su_sku == sku
            if sites is not None:
                mask &= np.isin(self.su_site, np.asarray(sites, dtype=np.int64))
            got = self._sus[key] = np.flatnonzero(mask)
        return got

    # -- power -----------------------------------------------------------------------------
    def delta_mw(self, alloc: Allocation, cap: float) -> np.ndarray:
        """Per-site rise in facility draw when ``alloc``'s GPUs go from idle to running at ``cap``."""
        doms, gpus = alloc
        w = gpus * self.mw_per_gpu[doms] * (cap - self.dom_idle[doms])
        return np.bincount(self.dom_site[doms], weights=w, minlength=self.n_sites)

    def full_and_idle_mw(self, alloc: Allocation) -> tuple[np.ndarray, np.ndarray]:
        """Per site: the allocation's draw at cap 1.0, and at idle."""
        doms, gpus = alloc
        full = gpus * self.mw_per_gpu[doms]
        s = self.dom_site[doms]
        return (
            np.bincount(s, weights=full, minlength=self.n_sites),
            np.bincount(s, weights=full * self.dom_idle[doms], minlength=self.n_sites),
        )

    def site_draw_mw(self, free: np.ndarray, cap_gpus: np.ndarray) -> np.ndarray:
        """Every site's draw from scratch: ``cap_gpus[d]`` is the sum over jobs at d of GPUs x cap."""
        w = self.mw_per_gpu * (cap_gpus + free * self.dom_idle)
        return np.bincount(self.dom_site, weights=w, minlength=self.n_sites)

    def empty_pool(self) -> FreePool:
        if self._empty is None:
            self._empty = FreePool(self, self.dom_gpus)
        return self._empty


_INDEX_ATTR = "_cluster_alloc_index"


def fleet_index(fleet: Fleet, idle_share: np.ndarray) -> FleetIndex:
    """The fleet's :class:`FleetIndex` for these idle shares, built once and kept on the fleet."""
    cache = fleet.__dict__.setdefault(_INDEX_ATTR, {})
    key = tuple(float(x) for x in idle_share)
    ix = cache.get(key)
    if ix is None:
        ix = cache[key] = FleetIndex(fleet, np.asarray(idle_share, dtype=np.float64))
    return ix


class FreePool:
    """Free GPUs per domain and per SU; :meth:`take` and :meth:`give` keep both in step."""

    def __init__(self, index: FleetIndex, free: np.ndarray):
        self.ix = index
        self.free = np.array(free, dtype=np.int64)
        self.su_free = np.bincount(index.dom_su, weights=self.free, minlength=index.n_sus).astype(np.int64)

    def copy(self) -> FreePool:
        other = FreePool.__new__(FreePool)
        other.ix, other.free, other.su_free = self.ix, self.free.copy(), self.su_free.copy()
        return other

    def take(self, alloc: Allocation) -> None:
        doms, gpus = alloc
        self.free[doms] -= gpus
        np.subtract.at(self.su_free, self.ix.dom_su[doms], gpus)

    def give(self, alloc: Allocation) -> None:
        doms, gpus = alloc
        self.free[doms] += gpus
        np.add.at(self.su_free, self.ix.dom_su[doms], gpus)


# -- placement --------------------------------------------------------------------------------
def find(pool: FreePool, shape: Shape, *, blocks: bool = True, fit: str = FIRST) -> Allocation | None:
    """Free GPUs for ``shape`` under its gang rule, or None when none fit now.

    ``blocks``: a 'block' job's SUs in one block (True) or anywhere at one site (False).
    ``fit``: FIRST (lowest-numbered candidate) or BEST (tightest candidate).
    Complexity: O(eligible domains) vectorised."""
    if shape.gang == "domain":
        return _find_domain(pool, shape)
    if shape.gang == "block":
        return _find_block(pool, shape, blocks, fit)
    alloc = _find_spread(pool, shape, fit, per_site=True)
    if alloc is None and shape.gang == "any":
        alloc = _find_spread(pool, shape, fit, per_site=False)
    return alloc


def _find_domain(pool: FreePool, shape: Shape) -> Allocation | None:
    idx = pool.ix.eligible_domains(shape.key)
    f = pool.free[idx]
    ok = np.flatnonzero(f >= shape.gpus)
    if ok.size == 0:
        return None
    j = ok[np.argmin(f[ok])]
    return np.array([idx[j]], dtype=np.int64), np.array([shape.gpus], dtype=np.int64)


def _find_block(pool: FreePool, shape: Shape, blocks: bool, fit: str) -> Allocation | None:
    ix = pool.ix
    sus = ix.eligible_sus(shape.key)
    size = ix.su_gpus[sus]
    whole = sus[pool.su_free[sus] == size]
    if whole.size == 0:
        return None
    place = ix.su_block[whole] if blocks else ix.su_site[whole]
    group = place * ix.n_skus + ix.su_sku[whole]
    cap = np.bincount(group, weights=ix.su_gpus[whole])
    cand = np.flatnonzero(cap >= shape.gpus)
    if cand.size == 0:
        return None
    g = cand[0] if fit == FIRST else cand[np.argmin(cap[cand])]
    members = whole[group == g]
    if fit == BEST:  # largest SUs first: fewest SUs; the pruning below drops any surplus
        members = members[np.argsort(-ix.su_gpus[members], kind="stable")]
    sizes = ix.su_gpus[members]
    n = int(np.searchsorted(np.cumsum(sizes), shape.gpus)) + 1
    chosen = list(members[:n])
    total = int(sizes[:n].sum())
    for u in sorted(chosen, key=lambda u: (ix.su_gpus[u], u)):
        if total - ix.su_gpus[u] >= shape.gpus:
            chosen.remove(u)
            total -= int(ix.su_gpus[u])
    doms = np.sort(np.concatenate([ix.su_domains[u] for u in chosen]))
    return doms, ix.dom_gpus[doms].copy()


def _find_spread(pool: FreePool, shape: Shape, fit: str, *, per_site: bool) -> Allocation | None:
    ix = pool.ix
    idx = pool.ix.eligible_domains(shape.key)
    f = pool.free[idx]
    sku = ix.dom_sku[idx]
    group = (ix.dom_site[idx] * ix.n_skus + sku) if per_site else sku
    tot = np.bincount(group, weights=f)
    cand = np.flatnonzero(tot >= shape.gpus)
    if cand.size == 0:
        return None
    g = cand[0] if fit == FIRST else cand[np.argmin(tot[cand])]
    sel = group == g
    return _pick(idx[sel], f[sel], ix.dom_gpus[idx[sel]], shape.gpus, fit)


def _pick(doms: np.ndarray, free: np.ndarray, size: np.ndarray, need: int, fit: str) -> Allocation:
    """``need`` GPUs from ``doms`` (which hold at least that many): whole domains for the
    whole-domain part, the remainder in one domain if one holds it, else spread."""
    take = np.zeros(doms.shape[0], dtype=np.int64)
    whole = np.flatnonzero(free == size)
    dom_size = int(size.max())
    n_whole = min(need // dom_size, whole.size)
    if n_whole:
        w = whole[:n_whole]
        take[w] = size[w]
        need -= int(size[w].sum())
    if need > 0:
        left = free - take
        ok = np.flatnonzero(left >= need)
        if ok.size:
            if fit == FIRST:
                j = ok[0]
            else:  # partly used domains first (a whole one only if none holds it), fewest free
                partial = ok[left[ok] < size[ok]]
                pool = partial if partial.size else ok
                j = pool[np.argmin(left[pool])]
            take[j] += need
        else:
            avail = np.flatnonzero(left > 0)
            if fit == BEST:
                avail = avail[np.argsort(-left[avail], kind="stable")]
            cum = np.cumsum(left[avail])
            n = int(np.searchsorted(cum, need)) + 1
            chosen = avail[:n]
            got = left[chosen].copy()
            got[-1] -= int(cum[n - 1]) - need
            take[chosen] += got
    nz = np.flatnonzero(take)
    return doms[nz], take[nz]


def never_fits(
    index: FleetIndex, shape: Shape, quota_gpus: int, *, tenant: str = "", blocks: bool = True
) -> str | None:
    """Why ``shape`` (a job of ``tenant``) could never be placed on the empty fleet within the
    tenant's quota, or None when it could. Power is not a placement rule here (the base
    allowance lets every GPU run). Complexity: one :func:`find` on the empty fleet."""
    whose = f"tenant '{tenant}'" if tenant else "its tenant"
    if shape.gpus > quota_gpus:
        return f"{shape.gpus:,} GPUs exceed the quota of {whose} ({quota_gpus:,} GPUs)"
    alloc = find(index.empty_pool(), shape, blocks=blocks, fit=FIRST)
    if alloc is None:
        idx = index.eligible_domains(shape.key)
        where = {
            "domain": "one NVLink domain",
            "block": "whole SUs of one block" if blocks else "whole SUs of one site",
            "site": "one site",
            "any": "the GPUs",
        }[shape.gang]
        racks = "of any rack (sharing: pooled)" if shape.pooled else f"of the racks of {whose}"
        return (
            f"{shape.gpus:,} GPUs ({shape.gang} gang) do not fit in {where} {racks} it may use "
            f"({int(index.dom_gpus[idx].sum()):,} eligible GPUs in all)"
        )
    held = int(alloc[1].sum())
    if held > quota_gpus:
        return f"its whole SUs hold {held:,} GPUs, above the quota of {whose} ({quota_gpus:,} GPUs)"
    return None


__all__ = ["BEST", "FIRST", "Allocation", "FleetIndex", "FreePool", "Shape", "find", "fleet_index", "never_fits"]
