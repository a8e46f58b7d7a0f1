"""A one-site campus with a declared interior: the rack-level layout's test and benchmark case.

:func:`campus_scenario` builds a site with four halls that use every redundancy rule --
halls 1 and 2 on 2N A/B pairs, hall 3 on an N+1 group of four trains with rack-level energy
storage, hall 4 on two plain 'n' trains (failure domains) -- four CDU loops per hall (dry in
halls 1-2, evaporative at 1.8 L/kWh in halls 3-4, against a water allowance) and spine
blocks of 16 SUs. Demand is four tenants in the default catalog's SKUs, ``racks`` racks in
all (whole racks, mostly whole SUs); every MW figure scales with it. One substation, no
lines, so the placement is CP-SAT's in a second and the case times the layout.

Figures are est. (a plausible hyperscale campus, not a real one). O(1).
"""

from __future__ import annotations

import math

from placer.catalog import default_catalog
from placer.scenario import Scenario

# share of racks per tenant and SKU
MIX = (
    ("frontier", "gb300-nvl72", 0.40),
    ("cloud", "gb200-nvl72", 0.32),
    ("inference", "hgx-b200", 0.16),
    ("research", "gb300-nvl72", 0.12),
)


def campus_scenario(racks: int = 1000) -> Scenario:
    """The campus with ``racks`` racks of demand (>= 40). Deterministic: no randomness."""
    if racks < 40:
        raise ValueError("the campus needs at least 40 racks of demand")
    skus = {k.id: k for k in default_catalog()}
    counts = [max(1, round(racks * share)) for _, _, share in MIX]
    counts[0] += racks - sum(counts)
    lines: dict[str, list[dict]] = {}
    it_kw = liquid_kw = 0.0
    for (tenant, sku, _), n in zip(MIX, counts):
        lines.setdefault(tenant, []).append({"sku": sku, "gpus": n * skus[sku].gpus_per_rack})
        it_kw += n * skus[sku].it_kw_per_rack
        liquid_kw += n * skus[sku].it_kw_per_rack * skus[sku].liquid_share
    air_kw = it_kw - liquid_kw
    hall_it = it_kw / 4 / 1000 * 1.12  # each hall holds a quarter with 12 % to spare
    rows = max(2, math.ceil(racks / 4 * 1.4 / 36))
    halls = [
        {"id": f"hall-{h}", "rows": rows, "positions_per_row": 36, "air_cooling_mw": air_kw / 4 / 1000 * 1.25}
        for h in range(1, 5)
    ]
    trains: list[dict] = []
    for h in (1, 2):
        for side in ("a", "b"):
            trains.append(
                {
                    "id": f"h{h}-{side}",
                    "mw": hall_it * 1.45,
                    "halls": [f"hall-{h}"],
                    "redundancy": "2n",
                    "group": f"h{h}-ab",
                }
            )
    for k in range(1, 5):  # N+1: three carry the hall with storage, the fourth spare
        trains.append(
            {"id": f"h3-{k}", "mw": hall_it * 1.1 / 3, "halls": ["hall-3"], "redundancy": "n+1", "group": "h3-n1"}
        )
    for k in (1, 2):
        trains.append({"id": f"h4-{k}", "mw": hall_it * 1.45 / 2 * 1.1, "halls": ["hall-4"], "redundancy": "n"})
    # loops rated in whole SUs: each takes its share of the liquid-cooled SUs plus one
    liquid_sus = sum(
        math.ceil(n / skus[sku].scalable_unit_racks) for (_, sku, _), n in zip(MIX, counts) if skus[sku].liquid_share
    )
    su_liquid_mw = max(k.it_kw_per_rack * k.scalable_unit_racks * k.liquid_share for k in skus.values()) / 1000
    loop_mw = (math.ceil(liquid_sus / 16) + 1) * su_liquid_mw
    loops = []
    for h in range(1, 5):
        for k in range(1, 5):
            wet = h >= 3
            loops.append(
                {
                    "id": f"h{h}-loop-{k}",
                    "liquid_mw": loop_mw,
                    "halls": [f"hall-{h}"],
                    "kind": "evaporative" if wet else "dry",
                    "wue_l_per_kwh": 1.8 if wet else 0.0,
                }
            )
    su_per_hall = rows * 4
    blocks = [
        {"id": f"h{h}-block-{k}", "su_slots": 16, "halls": [f"hall-{h}"]}
        for h in range(1, 5)
        for k in range(1, max(3, math.ceil(su_per_hall / 16)) + 1)
    ]
    water = liquid_kw / 2 / 1000 * 24 * 1.8 * 1.2  # halls 3-4's share of the heat, 20 % to spare
    site_it = it_kw / 1000 * 1.1
    data = {
        "name": f"campus-{racks}",
        "description": f"one campus, {racks:,} racks, four halls on 2N, N+1 (with storage) and N power (est.)",
        "catalog": [k.model_dump() for k in skus.values()],
        "topology": {
            "nodes": [
                {
                    "kind": "site",
                    "id": "campus",
                    "lat": 36.5,
                    "lon": 127.3,
                    "region": "central",
                    "it_capacity_mw": site_it,
                    "liquid_cooling_mw": liquid_kw / 1000 * 1.1,
                    "air_cooling_mw": air_kw / 1000 * 1.2,
                    "pue": 1.2,
                    "energy_price_usd_per_mwh": 100.0,
                    "capex_usd_per_mw": 10_000_000.0,
                    "interior": {
                        "halls": halls,
                        "power_trains": trains,
                        "cooling_loops": loops,
                        "network_blocks": blocks,
                        "energy_storage": {"level": "rack", "halls": ["hall-3"], "peak_factor": 1.05},
                        "water_allowance_m3_per_day": water,
                        "source": "est.: a plausible campus for the layout benchmark",
                    },
                },
                {"kind": "substation", "id": "ss", "lat": 36.4, "lon": 127.3, "kv": 345.0, "headroom_mw": site_it * 3},
            ],
            "edges": [
                {"kind": "feed", "from": "campus", "to": "ss", "capacity_mw": site_it * 2},
                {"kind": "feed", "from": "campus", "to": "ss", "capacity_mw": site_it * 2},
            ],
        },
        "demand": {"tenants": [{"id": t, "lines": ls} for t, ls in lines.items()]},
        "policy": {
            "power_band_mw": {"min_mw": 0.0, "max_mw": site_it * 3},
            "solver": {"time_limit_s": 30.0, "workers": 2, "seed": 0},
        },
    }
    return Scenario.model_validate(data)


__all__ = ["campus_scenario"]
