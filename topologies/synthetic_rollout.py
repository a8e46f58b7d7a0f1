"""A seeded synthetic rollout: :func:`topologies.synthetic.generate`'s scenario, delivered and
energized quarter by quarter, with power options to choose (issue 11's benchmark target: 100
sites, 12 quarters, 50 options).

Rules (all draws from one generator seeded by ``seed``; the same arguments give the same
scenario byte for byte):

* **Periods**: ``quarters`` consecutive quarters from 2026Q1.
* **Deliveries**: every tenant line's racks are spread over the first ``ceil(0.75 · quarters)``
  quarters (a multinomial draw, whole racks), so the fleet has arrived a quarter of the horizon
  before its end.
* **Site stages**: about 60 % of the sites (at least one) are energized late: nothing before a first
  stage in quarter 1 .. quarters/2 at half their IT, the full topology IT from a second stage no
  later than the second-to-last quarter. The final capacities are the topology's, so the final
  build-out has exactly the single-period scenario's room (which the generator makes feasible).
* **Options** (``options`` of them, kinds drawn in turn): ``site_stage`` bridges at staged sites
  (half the site's IT from quarter 0 or 1 until its first stage: a modular hall), ``feed``
  uprates (+20 % of the site's feeds), ``substation_expansion`` pairs (+20 % headroom; the second
  requires the first), and ``onsite_generation`` (at most 40 MW and a fifth of the site's IT, at
  1.3x the site's grid energy price). Every option only adds capacity, so the scenario without
  any option built is feasible. Capex: 1.5 M USD per MW for a bridge hall, 0.25 M USD per MW for a
  feed or transformer, 1.2 M USD per MW for generation (all est., order of magnitude); earliest
  quarters are drawn in the first half of the horizon.
* **Stranding**: SKUs of the synthetic pool have no price, so ``stranding_usd_per_gpu_quarter`` is
  2,500 USD (est.; the catalog's GB200 quarterly capital charge is USD 2,554).

Complexity: O(S + T·L·Q + O) on top of the single-period generator.
"""

from __future__ import annotations

import math

import numpy as np

from placer.errors import InputError
from placer.scenario import Scenario
from topologies.synthetic import generate

STREAM_ROLLOUT = 7  # a stream of its own: the single-period scenario's draws stay as they are
STRANDING_USD_PER_GPU_QUARTER = 2_500.0
KINDS = ("site_stage", "feed", "substation_expansion", "onsite_generation")


def _quarters(n: int, first_year: int = 2026) -> list[str]:
    return [f"{first_year + q // 4}Q{q % 4 + 1}" for q in range(n)]


def generate_rollout(
    *,
    sites: int,
    gpus: int,
    quarters: int,
    options: int,
    seed: int,
    name: str | None = None,
) -> Scenario:
    """A seeded synthetic rollout; see the module docstring for the rules. Raises
    :class:`~placer.errors.InputError` for impossible arguments (``where`` names it)."""
    for where, value, lo in (("quarters", quarters, 2), ("options", options, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise InputError(f"must be an integer of at least {lo}; got {value!r}", where=where)
    base = generate(sites=sites, gpus=gpus, seed=seed)
    data = base.model_dump(mode="json", by_alias=True, exclude_none=True)
    rng = np.random.default_rng([seed, STREAM_ROLLOUT])
    periods = _quarters(quarters)
    arrive = max(1, math.ceil(0.75 * quarters))
    per_rack = {s["id"]: s["gpus_per_rack"] for s in data["catalog"]}

    deliveries = []
    for t in data["demand"]["tenants"]:
        for line in t["lines"]:
            racks = line["gpus"] // per_rack[line["sku"]]
            split = rng.multinomial(racks, np.full(arrive, 1.0 / arrive))
            for q, n in enumerate(split):
                if n:
                    g = int(n) * per_rack[line["sku"]]
                    deliveries.append({"tenant": t["id"], "sku": line["sku"], "period": periods[q], "gpus": g})

    site_nodes = [n for n in data["topology"]["nodes"] if n["kind"] == "site"]
    substations = [n for n in data["topology"]["nodes"] if n["kind"] == "substation"]
    feeds_of: dict[str, float] = {}
    for e in data["topology"]["edges"]:
        if e["kind"] == "feed":
            feeds_of[e["from"]] = feeds_of.get(e["from"], 0.0) + e["capacity_mw"]
    n_staged = max(1, round(0.6 * len(site_nodes)))
    staged_idx = sorted(rng.choice(len(site_nodes), size=n_staged, replace=False).tolist())
    stages, first_stage = [], {}
    half = max(1, quarters // 2)
    for i in staged_idx:
        s = site_nodes[i]
        q1 = int(rng.integers(1, half + 1))
        q2 = int(rng.integers(q1 + 1, quarters)) if q1 + 1 < quarters else q1
        first_stage[s["id"]] = q1
        if q2 > q1:
            stages.append({"site": s["id"], "period": periods[q1], "it_capacity_mw": round(s["it_capacity_mw"] / 2, 3)})
        stages.append({"site": s["id"], "period": periods[q2], "it_capacity_mw": s["it_capacity_mw"]})

    out: list[dict] = []
    bridged: set[str] = set()
    for j in range(options):
        kind = KINDS[j % len(KINDS)]
        early = int(rng.integers(0, half))
        oid = f"o{j:03d}"
        if kind == "site_stage":
            free = [sid for sid in first_stage if sid not in bridged and first_stage[sid] >= 1]
            if free:
                sid = free[int(rng.integers(0, len(free)))]
                bridged.add(sid)
                site = next(s for s in site_nodes if s["id"] == sid)
                it = round(site["it_capacity_mw"] / 2, 3)
                start = min(int(rng.integers(0, 2)), first_stage[sid] - 1)
                out.append(
                    {
                        "id": f"{oid}-{sid}-hall",
                        "kind": "site_stage",
                        "element": sid,
                        "earliest": periods[start],
                        "until": periods[first_stage[sid]],
                        "it_capacity_mw": it,
                        "capex_usd": round(1.5e6 * it),
                        "source": "synthetic, est.",
                    }
                )
                continue
            kind = "feed"  # no staged site left to bridge
        if kind == "feed":
            site = site_nodes[int(rng.integers(0, len(site_nodes)))]
            mw = round(0.2 * feeds_of[site["id"]], 3)
            out.append(
                {
                    "id": f"{oid}-{site['id']}-feed",
                    "kind": "feed",
                    "element": site["id"],
                    "earliest": periods[early],
                    "feed_mw": mw,
                    "capex_usd": round(2.5e5 * mw),
                    "source": "synthetic, est.",
                }
            )
        elif kind == "substation_expansion":
            sub = substations[int(rng.integers(0, len(substations)))]
            mw = round(max(1.0, 0.2 * sub["headroom_mw"]), 3)
            first = {
                "id": f"{oid}-{sub['id']}-tx",
                "kind": "substation_expansion",
                "element": sub["id"],
                "earliest": periods[early],
                "headroom_mw": mw,
                "capex_usd": round(2.5e5 * mw),
                "source": "synthetic, est.",
            }
            # every second expansion is a second transformer that needs an earlier one at the same substation
            prior = [o for o in out if o["kind"] == "substation_expansion" and "requires" not in o]
            if prior and j % 8 == 2:
                p = prior[-1]
                first.update(element=p["element"], requires=[p["id"]], id=f"{oid}-{p['element']}-tx2")
            out.append(first)
        else:
            site = site_nodes[int(rng.integers(0, len(site_nodes)))]
            mw = round(min(40.0, 0.2 * site["it_capacity_mw"]), 3)
            out.append(
                {
                    "id": f"{oid}-{site['id']}-gen",
                    "kind": "onsite_generation",
                    "element": site["id"],
                    "earliest": periods[early],
                    "generation_mw": mw,
                    "energy_usd_per_mwh": round(1.3 * site["energy_price_usd_per_mwh"], 2),
                    "capex_usd": round(1.2e6 * mw),
                    "source": "synthetic, est.",
                }
            )
    # on-site generation: at most 40 MW per site, all options together (Korea's Distributed Energy Act)
    by_site: dict[str, float] = {}
    kept = []
    for o in out:
        if o["kind"] == "onsite_generation":
            if by_site.get(o["element"], 0.0) + o["generation_mw"] > 40.0:
                continue
            by_site[o["element"]] = by_site.get(o["element"], 0.0) + o["generation_mw"]
        kept.append(o)

    data["name"] = name or f"syn-rollout-s{sites}-q{quarters}-o{options}"
    data["description"] = (
        f"synthetic rollout (seed {seed}): {sites} sites, {quarters} quarters, {len(kept)} power options; "
        f"{n_staged} sites energized late; topologies/synthetic_rollout.py"
    )
    data["rollout"] = {
        "periods": periods,
        "deliveries": deliveries,
        "site_stages": stages,
        "options": kept,
        "stranding_usd_per_gpu_quarter": STRANDING_USD_PER_GPU_QUARTER,
    }
    return Scenario.model_validate(data)
