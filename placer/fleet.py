"""The fleet a scheduler runs on: every NVLink domain of a laid-out plan, in one fixed order.

:func:`fleet_from_plan` reads a plan's rack inventory (``plan.layout.racks``, from ``placer
layout`` or ``solve --layout``) and splits each rack into its NVLink domains: one per rack
for a rack-scale SKU (NVL72: 72 GPUs), ``gpus_per_rack / domain_gpus`` for an HGX rack (four
8-GPU nodes). Domains are numbered in the inventory's order, rack by rack, so a schedule can
name a domain by its index; the scheduler and the checker both build the fleet with this one
function (it is a definition, not a computation either of them checks) and a schedule records
:meth:`Fleet.digest` so it cannot be checked against another fleet.

Per domain: site, block, SU, tenant (its owner), SKU, GPUs and full-power IT kW per GPU (the
rack's IT kW over its GPUs, so a GPU's share of networking and the rack's overhead are in it).
Per site: the ratio of facility to IT power (the plan's PUE there) and the base allowance (the
plan's facility MW at the site: every GPU at full power).

Site power at the meter at any instant, as both scheduler and checker must compute it, is
``pue x sum over domains of kw_per_gpu x (sum of running GPUs x their cap + idle GPUs x
idle_share)`` (:data:`POWER_RULE`); the two keep their own arithmetic.

Complexity: O(racks + domains) to build; arrays are numpy for O(1) look-ups.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from placer.errors import InputError
from placer.plan import Plan
from placer.workload import DEFAULT_DOMAIN_GPUS, Workload

POWER_RULE = (
    "site facility MW = pue x sum over its domains of kw_per_gpu/1000 x "
    "(sum over running jobs' GPUs there of the job's cap + idle GPUs x the SKU's idle_share)"
)


@dataclass
class Fleet:
    """Every NVLink domain of a plan. Index ``d`` runs over domains; string tables are lists.

    * ``site[d]``, ``block[d]`` (``site/block``), ``su[d]`` (the SU id), ``tenant[d]``, ``sku[d]``:
      indices into ``sites``, ``blocks``, ``sus``, ``tenants``, ``skus``;
    * ``rack[d]``: the rack id ``site/hall/r<row>p<position>``, ``gpus[d]``, ``kw_per_gpu[d]``;
    * ``pue[s]`` and ``base_mw[s]`` per site; ``su_gpus[u]`` per SU (whole-SU jobs hold them all).
    """

    sites: list[str]
    blocks: list[str]
    sus: list[str]
    tenants: list[str]
    skus: list[str]
    racks: list[str]
    site: np.ndarray
    block: np.ndarray
    su: np.ndarray
    tenant: np.ndarray
    sku: np.ndarray
    rack: np.ndarray
    gpus: np.ndarray
    kw_per_gpu: np.ndarray
    pue: np.ndarray
    base_mw: np.ndarray
    su_gpus: np.ndarray
    block_site: np.ndarray
    plan_digest: str
    notes: list[str] = field(default_factory=list)

    @property
    def domains(self) -> int:
        return int(self.gpus.shape[0])

    @property
    def total_gpus(self) -> int:
        return int(self.gpus.sum())

    def owned_gpus(self) -> dict[str, int]:
        """GPUs each tenant owns."""
        out = np.bincount(self.tenant, weights=self.gpus, minlength=len(self.tenants))
        return {t: int(out[i]) for i, t in enumerate(self.tenants)}

    def digest(self) -> str:
        """SHA-256 over the domain table: two fleets with one digest are the same fleet."""
        h = hashlib.sha256()
        for name in ("sites", "blocks", "sus", "tenants", "skus", "racks"):
            h.update("\x1f".join(getattr(self, name)).encode())
            h.update(b"\x1e")
        for name in ("site", "block", "su", "tenant", "sku", "rack", "gpus"):
            h.update(np.ascontiguousarray(getattr(self, name), dtype=np.int64).tobytes())
        for name in ("kw_per_gpu", "pue", "base_mw"):
            h.update(np.round(np.asarray(getattr(self, name), dtype=np.float64), 9).tobytes())
        return "sha256:" + h.hexdigest()


def _index(table: list[str], lookup: dict[str, int], key: str) -> int:
    i = lookup.get(key)
    if i is None:
        i = lookup[key] = len(table)
        table.append(key)
    return i


def fleet_from_plan(plan: Plan, workload: Workload | None = None, plan_file: str = "plan") -> Fleet:
    """Split every rack of ``plan.layout`` into its NVLink domains.

    Inputs: a plan with a rack inventory; the workload for per-SKU ``domain_gpus`` and the base
    allowances it overrides. Raises InputError (naming ``plan_file``) when the plan has no
    layout or a rack's SKU has no assignment to take its GPUs and power from.
    Complexity: O(racks x domains per rack)."""
    if plan.layout is None or not plan.layout.racks:
        raise InputError(
            f"{plan_file}: layout: the plan has no rack inventory; lay it out first "
            "(placer layout SCENARIO PLAN -o plan2.json, or placer solve ... --layout)"
        )
    per_rack: dict[tuple[str, str], tuple[int, float]] = {}
    for a in plan.assignments:
        if a.racks:
            per_rack[(a.sku, a.site)] = (a.gpus // a.racks, 1000.0 * a.it_power_mw / a.racks)
    pue_of = {s.site: (s.facility_power_mw / s.it_power_mw if s.it_power_mw > 0 else 1.0) for s in plan.sites}
    base_of = {s.site: s.facility_power_mw for s in plan.sites}
    wl_domain = {s.sku: s.domain_gpus for s in workload.skus} if workload else {}

    tables: dict[str, list[str]] = {k: [] for k in ("sites", "blocks", "sus", "tenants", "skus", "racks")}
    lookups: dict[str, dict[str, int]] = {k: {} for k in tables}
    cols: dict[str, list] = {k: [] for k in ("site", "block", "su", "tenant", "sku", "rack", "gpus", "kw_per_gpu")}
    su_gpus: dict[int, int] = {}
    block_site: dict[int, int] = {}
    for i, r in enumerate(plan.layout.racks):
        key = (r.sku, r.site)
        if key not in per_rack:
            raise InputError(f"{plan_file}: layout.racks[{i}]: no assignment of sku '{r.sku}' at site '{r.site}'")
        gpus_per_rack, kw_per_rack = per_rack[key]
        dom = wl_domain.get(r.sku) or DEFAULT_DOMAIN_GPUS.get(r.sku) or gpus_per_rack
        dom = min(dom, gpus_per_rack)
        n_dom = max(1, math.ceil(gpus_per_rack / dom))
        s = _index(tables["sites"], lookups["sites"], r.site)
        b = _index(tables["blocks"], lookups["blocks"], f"{r.site}/{r.block}")
        u = _index(tables["sus"], lookups["sus"], r.su)
        t = _index(tables["tenants"], lookups["tenants"], r.tenant)
        k = _index(tables["skus"], lookups["skus"], r.sku)
        rk = _index(tables["racks"], lookups["racks"], f"{r.site}/{r.hall}/r{r.row}p{r.position}")
        block_site[b] = s
        left = gpus_per_rack
        for _ in range(n_dom):
            g = min(dom, left)
            left -= g
            for name, v in (("site", s), ("block", b), ("su", u), ("tenant", t), ("sku", k), ("rack", rk)):
                cols[name].append(v)
            cols["gpus"].append(g)
            cols["kw_per_gpu"].append(kw_per_rack / gpus_per_rack)
            su_gpus[u] = su_gpus.get(u, 0) + g
    base = dict(base_of)
    if workload is not None:
        for site, mw in workload.power.base_mw.items():
            base[site] = mw
    sites = tables["sites"]
    return Fleet(
        sites=sites,
        blocks=tables["blocks"],
        sus=tables["sus"],
        tenants=tables["tenants"],
        skus=tables["skus"],
        racks=tables["racks"],
        site=np.asarray(cols["site"], dtype=np.int32),
        block=np.asarray(cols["block"], dtype=np.int32),
        su=np.asarray(cols["su"], dtype=np.int32),
        tenant=np.asarray(cols["tenant"], dtype=np.int32),
        sku=np.asarray(cols["sku"], dtype=np.int32),
        rack=np.asarray(cols["rack"], dtype=np.int32),
        gpus=np.asarray(cols["gpus"], dtype=np.int32),
        kw_per_gpu=np.asarray(cols["kw_per_gpu"], dtype=np.float64),
        pue=np.asarray([pue_of.get(s, 1.0) for s in sites], dtype=np.float64),
        base_mw=np.asarray([base.get(s, 0.0) for s in sites], dtype=np.float64),
        su_gpus=np.asarray([su_gpus[u] for u in range(len(tables["sus"]))], dtype=np.int32),
        block_site=np.asarray([block_site[b] for b in range(len(tables["blocks"]))], dtype=np.int32),
        plan_digest=plan.scenario_digest,
    )


__all__ = ["POWER_RULE", "Fleet", "fleet_from_plan"]
