"""A seeded synthetic rollout: :func:`topologies.synthetic.generate`'s scenario, delivered and
energized quarter by quarter, with power options to choose (issue 11's benchmark target: 100
sites, 12 quarters, 50 options).

The rollout is power-short on purpose: GPUs arrive faster than sites energize, as in Korea's
(deliveries run ahead of energization), so stranding is real money and the options -- each aimed
at a limit that binds early -- are worth building where they are cheap enough and early enough.

Rules (all draws from one generator seeded by ``seed``; the same arguments give the same
scenario byte for byte):

* **Periods**: ``quarters`` consecutive quarters from 2026Q1; R = ``ceil(0.6 · quarters)``.
* **Deliveries**: every tenant line's racks are spread over the first ``ceil(quarters / 2)``
  quarters (a multinomial draw, whole racks).
* **Site stages**: about 90 % of the sites are energized late; the others (at least one when there
  are two sites or more), drawn from the cheapest 40 % by a cost proxy (capex per MW plus ~5 years
  of energy), have their IT from the start, as existing halls would. A late site has nothing before
  a first stage in quarter 2 .. R at half its IT and the full topology IT from a second stage after
  it (a first stage in the last quarter brings the full IT at once). The final capacities are the
  topology's, so the final build-out has exactly the single-period scenario's room (which the
  generator makes feasible).
* **Weak feeds**: the sites energized from the start (upgrade in quarter 2 .. R) and about a third of
  the staged ones whose first stage leaves a later quarter (upgrade after the first stage, by R where
  it can) draw on feeds at half their capacity until a fixed feed upgrade (``rollout.upgrades``)
  restores them, so their IT waits on their feeds for a while.
* **Tight substations**: the substations of the sites energized from the start have, until a fixed
  upgrade in quarter 2 .. R restores their headroom, only 60 % of what those sites' final facility
  power draws through them (their headroom if that is less).
* **Options** (``options`` of them, fewer when no target is left): kinds in turn, each aimed at a
  limit that binds early (a kind with no target left gives way to the next), each target drawn from
  the cheaper half, by the cost proxy, of those left. ``site_stage``: a bridge at a staged site, a
  modular hall of half its IT from quarter 0 or 1 until its first stage; ``feed``: an uprate at a
  weak-feed site, the missing half of its N-1 limit, from 1 .. 2 quarters before the fixed upgrade;
  ``substation_expansion``: a pair of transformers at a tight substation, each half the missing
  headroom, the second requiring the first; ``onsite_generation`` at a weak-feed site, at most 40 MW
  and a fifth of its IT, at 1.3x its grid energy price, from before the feed upgrade. Every option
  only adds capacity, so the scenario without any option built is feasible. Costs, all est. (order
  of magnitude): a bridge hall 1.0 M USD per MW plus 5 % a year, a feed uprate 0.15 M USD per MW, a
  transformer 0.1 M USD per MW, generation 1.0 M USD per MW.
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
# est. capital costs, USD per MW (order of magnitude; see the module docstring)
HALL_USD_PER_MW, FEED_USD_PER_MW, TX_USD_PER_MW, GEN_USD_PER_MW = 1.0e6, 1.5e5, 1.0e5, 1.0e6
ENERGY_HOURS = 40_000.0  # ~5 years at 90 % utilization: the energy side of a site's cost proxy


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
    arrive = max(1, math.ceil(quarters / 2))
    ramp = max(2, math.ceil(0.6 * quarters))  # first stages and fixed upgrades land in quarters 2 .. ramp
    per_rack = {s["id"]: s["gpus_per_rack"] for s in data["catalog"]}

    def late(lo: int = 2) -> int:
        """A quarter in lo .. ramp (within the horizon)."""
        lo = min(lo, quarters - 1)
        return int(rng.integers(lo, max(lo, min(ramp, quarters - 1)) + 1))

    deliveries = []
    for t in data["demand"]["tenants"]:
        for line in t["lines"]:
            racks = line["gpus"] // per_rack[line["sku"]]
            split = rng.multinomial(racks, np.full(arrive, 1.0 / arrive))
            for q, n in enumerate(split):
                if n:
                    g = int(n) * per_rack[line["sku"]]
                    deliveries.append({"tenant": t["id"], "sku": line["sku"], "period": periods[q], "gpus": g})

    nodes = data["topology"]["nodes"]
    site_nodes = [n for n in nodes if n["kind"] == "site"]
    sub_by_id = {n["id"]: n for n in nodes if n["kind"] == "substation"}
    feeds = [e for e in data["topology"]["edges"] if e["kind"] == "feed"]
    feeds_of: dict[str, list[dict]] = {}
    for e in feeds:
        site_end = e["from"] if e["from"] in {s["id"] for s in site_nodes} else e["to"]
        feeds_of.setdefault(site_end, []).append(e)

    # a site's rough cost per MW over a few years (capex + ~5 years of energy): the cheaper sites are
    # the ones a least-cost plan uses, so that is where existing capacity and the options are put
    proxy = {
        s["id"]: s["capex_usd_per_mw"] + ENERGY_HOURS * s["pue"] * s["energy_price_usd_per_mwh"] for s in site_nodes
    }
    cheap = sorted(range(len(site_nodes)), key=lambda i: (proxy[site_nodes[i]["id"]], i))
    n_early = max(1, round(0.1 * len(site_nodes))) if len(site_nodes) > 1 else 0
    pool = cheap[: max(n_early, math.ceil(0.4 * len(site_nodes)))]
    early_idx = set(rng.choice(pool, size=n_early, replace=False).tolist()) if n_early else set()
    stages, first_stage = [], {}
    for i, s in enumerate(site_nodes):
        if i in early_idx:
            continue
        q1 = late()
        first_stage[s["id"]] = q1
        if q1 + 1 < quarters:
            q2 = int(rng.integers(q1 + 1, quarters))
            stages.append({"site": s["id"], "period": periods[q1], "it_capacity_mw": round(s["it_capacity_mw"] / 2, 3)})
            stages.append({"site": s["id"], "period": periods[q2], "it_capacity_mw": s["it_capacity_mw"]})
        else:
            stages.append({"site": s["id"], "period": periods[q1], "it_capacity_mw": s["it_capacity_mw"]})

    # weak feeds: half capacity until a fixed upgrade restores them
    upgrades: list[dict] = []
    weak: dict[str, tuple[int, float]] = {}  # site -> (upgrade quarter, N-1 MW missing before it)
    for i, s in enumerate(site_nodes):
        sid = s["id"]
        drawn = rng.random()
        if i not in early_idx and (drawn >= 1 / 3 or first_stage[sid] + 1 >= quarters):
            continue
        # after the first stage: a window in which the site has IT but its feeds hold it back
        qf = late(2) if i in early_idx else late(first_stage[sid] + 1)
        caps = [e["capacity_mw"] for e in feeds_of[sid]]
        n1 = caps[0] if len(caps) == 1 else sum(caps) - max(caps)
        for e in feeds_of[sid]:
            upgrades.append({"element": e["id"], "period": periods[qf], "capacity_mw": e["capacity_mw"]})
            e["capacity_mw"] = round(e["capacity_mw"] / 2, 3)
        weak[sid] = (qf, round(n1 / 2, 3))
    # tight substations: 60 % of what the early sites draw through them until a fixed upgrade
    draw: dict[str, float] = {}
    for i in sorted(early_idx):
        s = site_nodes[i]
        feed_caps = {e["id"]: upgrade_cap for e in feeds_of[s["id"]] for upgrade_cap in [2 * e["capacity_mw"]]}
        total = sum(feed_caps.values())
        for e in feeds_of[s["id"]]:
            sub = e["to"] if e["to"] in sub_by_id else e["from"]
            draw[sub] = draw.get(sub, 0.0) + s["it_capacity_mw"] * s["pue"] * feed_caps[e["id"]] / total
    tight: dict[str, tuple[int, float]] = {}  # substation -> (upgrade quarter, headroom missing before it)
    for sub in sorted(draw):
        node = sub_by_id[sub]
        low = round(min(node["headroom_mw"], 0.6 * draw[sub]), 1)
        if low >= node["headroom_mw"]:
            continue
        qh = late()
        upgrades.append({"element": sub, "period": periods[qh], "headroom_mw": node["headroom_mw"]})
        tight[sub] = (qh, round(node["headroom_mw"] - low, 1))
        node["headroom_mw"] = low

    out: list[dict] = []
    used: dict[str, set[str]] = {k: set() for k in KINDS}
    for j in range(options):
        oid = f"o{j:03d}"
        for step in range(len(KINDS)):
            kind = KINDS[(j + step) % len(KINDS)]
            if kind == "site_stage":
                free = [sid for sid in first_stage if sid not in used[kind] and first_stage[sid] >= 1]
            elif kind == "feed":
                free = [sid for sid in weak if sid not in used[kind] and weak[sid][0] >= 2]
            elif kind == "substation_expansion":
                free = [b for b in tight if b not in used[kind]]
            else:
                free = [sid for sid in weak if sid not in used[kind]]
            if free:
                break
        else:
            break  # no target left for any kind
        # a random target among the cheaper half of those left
        free.sort(key=lambda x: (proxy.get(x, 0.0), x))
        target = free[int(rng.integers(0, max(1, math.ceil(len(free) / 2))))]
        used[kind].add(target)
        if kind == "site_stage":
            site = next(s for s in site_nodes if s["id"] == target)
            it = round(site["it_capacity_mw"] / 2, 3)
            start = min(int(rng.integers(0, 2)), first_stage[target] - 1)
            capex = round(HALL_USD_PER_MW * it)
            out.append(
                {
                    "id": f"{oid}-{target}-hall",
                    "kind": "site_stage",
                    "element": target,
                    "earliest": periods[start],
                    "until": periods[first_stage[target]],
                    "it_capacity_mw": it,
                    "capex_usd": capex,
                    "fixed_usd_per_year": round(0.05 * capex),
                    "source": "synthetic, est.",
                }
            )
        elif kind == "feed":
            qf, mw = weak[target]
            out.append(
                {
                    "id": f"{oid}-{target}-feed",
                    "kind": "feed",
                    "element": target,
                    "earliest": periods[max(1, qf - int(rng.integers(1, 3)))],
                    "feed_mw": mw,
                    "capex_usd": round(FEED_USD_PER_MW * mw),
                    "source": "synthetic, est.",
                }
            )
        elif kind == "substation_expansion":
            qh, missing = tight[target]
            mw = round(max(1.0, missing / 2), 1)
            earliest = max(1, qh - int(rng.integers(1, 3)))
            tx1 = {
                "id": f"{oid}-{target}-tx1",
                "kind": "substation_expansion",
                "element": target,
                "earliest": periods[earliest],
                "headroom_mw": mw,
                "capex_usd": round(TX_USD_PER_MW * mw),
                "source": "synthetic, est.",
            }
            out.append(tx1)
            if len(out) < options:  # the second transformer needs the first
                out.append({**tx1, "id": f"{oid}-{target}-tx2", "requires": [tx1["id"]]})
        else:
            site = next(s for s in site_nodes if s["id"] == target)
            mw = round(min(40.0, 0.2 * site["it_capacity_mw"]), 3)
            out.append(
                {
                    "id": f"{oid}-{target}-gen",
                    "kind": "onsite_generation",
                    "element": target,
                    "earliest": periods[int(rng.integers(0, max(1, weak[target][0])))],
                    "generation_mw": mw,
                    "energy_usd_per_mwh": round(1.3 * site["energy_price_usd_per_mwh"], 2),
                    "capex_usd": round(GEN_USD_PER_MW * mw),
                    "source": "synthetic, est.",
                }
            )
        if len(out) >= options:
            break
    out = out[:options]

    data["name"] = name or f"syn-rollout-s{sites}-q{quarters}-o{options}"
    data["description"] = (
        f"synthetic rollout (seed {seed}): {sites} sites, {quarters} quarters, {len(out)} power options; "
        f"{len(first_stage)} sites energized late, {len(weak)} on weak feeds, {len(tight)} tight substations; "
        "topologies/synthetic_rollout.py"
    )
    data["rollout"] = {
        "periods": periods,
        "deliveries": deliveries,
        "site_stages": stages,
        "upgrades": upgrades,
        "options": out,
        "stranding_usd_per_gpu_quarter": STRANDING_USD_PER_GPU_QUARTER,
    }
    return Scenario.model_validate(data)
