"""The built-in ``korea-2025`` scenario: Korea's 260,000 Blackwell GPUs.

:func:`build_korea_2025` turns the compact source data in ``korea_2025.yaml`` (next to
this file; every figure carries a ``source`` or ``est.``) into a validated
:class:`~placer.scenario.Scenario`:

* **Inputs** -- ``korea_2025.yaml``: sites (with their utility feeds), substations,
  plants, metros, grid lines given by their ends, voltage and circuit count, per-voltage
  line parameters, tenants and policy; the hardware catalog is
  :data:`placer.catalog.DEFAULT_CATALOG`.
* **Derived** --
  grid lines: ``length = haversine_km x grid.line_route_factor``;
  ``reactance_pu = x_pu_per_km[kv] x length / circuits``;
  ``rating_mw = rating_mw_per_circuit[kv] x circuits``;
  ``emergency_rating_mw = rating_mw x grid.emergency_factor``.
  Fiber (not listed by hand): every site and metro is joined to its
  :data:`FIBER_NEIGHBOURS` nearest other sites/metros (ties broken by id), duplicates
  merged; if the result is disconnected, the shortest edge between two components is
  added until it is connected. ``length_km = haversine_km x ROUTE_FACTOR``.
* **Output** -- a ``Scenario`` (pydantic-validated); the same YAML always gives the same
  scenario and digest (edges are emitted in a fixed order).

Complexity: O(n^2 log n) for the fiber generation with n = sites + metros (all pairwise
distances, sorted per node), O(V + E) for the rest; n = 20 here, so building takes
milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from placer.catalog import DEFAULT_CATALOG
from placer.errors import InputError
from placer.io import parse_model
from placer.scenario import Scenario
from placer.topology import haversine_km

DATA_FILE = Path(__file__).parent / "korea_2025.yaml"
ROLLOUT_FILE = Path(__file__).parent / "korea_2025_rollout.yaml"
NPU_FILE = Path(__file__).parent / "korea_2025_npu.yaml"

ROUTE_FACTOR = 1.4
"""Fiber route length over straight-line distance (brief: 1.3--1.5)."""

FIBER_NEIGHBOURS = 3
"""Each site and metro gets a fiber edge to this many nearest other sites/metros."""

MIN_FIBER_KM = 0.1


def load_source(path: str | Path = DATA_FILE) -> dict[str, Any]:
    """The raw source data (a dict), as written in the YAML file."""
    # libyaml's parser when PyYAML has it: the same safe constructor and resolver, so the same data,
    # in a seventh of the time (measured: 0.07 s -> 0.01 s CPU for korea_2025.yaml)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)  # noqa: S506 (a safe loader)


def _km(a: dict[str, Any], b: dict[str, Any]) -> float:
    return haversine_km(a["lat"], a["lon"], b["lat"], b["lon"])


def fiber_edges(
    points: list[dict[str, Any]], k: int = FIBER_NEIGHBOURS, route_factor: float = ROUTE_FACTOR
) -> list[dict]:
    """Fiber edges joining each point to its ``k`` nearest others, made connected.

    ``points`` are dicts with ``id``, ``lat``, ``lon``. Returns edge dicts
    (``kind: fiber``, ``from`` < ``to`` by id, ``length_km``) sorted by (from, to).
    """
    ids = [p["id"] for p in points]
    by_id = {p["id"]: p for p in points}
    dist = {(a, b): _km(by_id[a], by_id[b]) for a in ids for b in ids if a != b}
    pairs: set[tuple[str, str]] = set()
    for a in ids:
        nearest = sorted((b for b in ids if b != a), key=lambda b: (dist[a, b], b))[:k]
        pairs.update((min(a, b), max(a, b)) for b in nearest)

    # Connect components greedily by the shortest bridging edge (Kruskal-like).
    parent = {i: i for i in ids}

    def find(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        parent[find(a)] = find(b)
    for _, a, b in sorted((dist[a, b], a, b) for a in ids for b in ids if a < b):
        if len({find(i) for i in ids}) == 1:
            break
        if find(a) != find(b):
            pairs.add((a, b))
            parent[find(a)] = find(b)

    return [
        {
            "kind": "fiber",
            "from": a,
            "to": b,
            "length_km": round(max(dist[a, b] * route_factor, MIN_FIBER_KM), 1),
            "source": f"generated: haversine x {route_factor} route factor (brief: 1.3-1.5)",
        }
        for a, b in sorted(pairs)
    ]


def _line_edges(data: dict[str, Any], nodes: dict[str, dict[str, Any]], source_file: str) -> list[dict]:
    grid = data["grid"]
    route, emergency = float(grid["line_route_factor"]), float(grid["emergency_factor"])
    out = []
    for i, line in enumerate(data["lines"]):
        kv = str(line["kv"]).removesuffix(".0")
        if kv not in grid["kv"]:
            raise InputError(
                f"no grid.kv entry for {kv} kV (have {sorted(grid['kv'])})", file=source_file, where=f"lines[{i}].kv"
            )
        for end in (line["from"], line["to"]):
            if end not in nodes:
                raise InputError(f"unknown node '{end}'", file=source_file, where=f"lines[{i}]")
        params = grid["kv"][kv]
        circuits = int(line.get("circuits", 2))
        length = _km(nodes[line["from"]], nodes[line["to"]]) * route
        rating = float(params["rating_mw_per_circuit"]) * circuits
        x = float(params["x_pu_per_km"]) * length / circuits
        out.append(
            {
                "kind": "line",
                "from": line["from"],
                "to": line["to"],
                "kv": float(line["kv"]),
                "rating_mw": rating,
                "emergency_rating_mw": round(rating * emergency, 1),
                "reactance_pu": float(f"{x:.4g}"),
                "source": (
                    f"{line.get('source', 'est.')}; {circuits} x {kv} kV, {length:.0f} km "
                    f"(straight line x {route:g}); x and rating per circuit from grid.kv.{kv}"
                ),
            }
        )
    return out


def _strip(entry: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in keys}


def build_from_source(
    data: dict[str, Any], source_file: str = str(DATA_FILE), extra_catalog: list[dict] | None = None
) -> Scenario:
    """Build a Scenario from the source dict (see :func:`load_source`).

    Invalid data raises :class:`~placer.errors.InputError` naming ``source_file``.
    """
    sites = [{"kind": "site", **_strip(s, "feeds")} for s in data["sites"]]
    substations = [{"kind": "substation", **s} for s in data["substations"]]
    plants = [{"kind": "plant", **p} for p in data["plants"]]
    metros = [{"kind": "metro", **m} for m in data["metros"]]
    nodes = sites + substations + plants + metros
    by_id = {n["id"]: n for n in nodes}

    # A second feed from the same substation gets a suffixed id (Topology generates it).
    feeds = [
        {
            "kind": "feed",
            "from": site["id"],
            "to": feed["substation"],
            "capacity_mw": feed["capacity_mw"],
            "source": feed.get("source", "est."),
        }
        for site in data["sites"]
        for feed in site["feeds"]
    ]

    fiber = fiber_edges([{"id": n["id"], "lat": n["lat"], "lon": n["lon"]} for n in sites + metros])
    lines = _line_edges(data, by_id, source_file)

    tenants = [_strip(t, "source") for t in data["tenants"]]
    policy = _strip(data["policy"], "source")

    return parse_model(
        Scenario,
        {
            "name": data["name"],
            "description": " ".join(str(data.get("description", "")).split()),
            "catalog": [sku.model_dump() for sku in DEFAULT_CATALOG] + list(extra_catalog or []),
            "topology": {"nodes": nodes, "edges": feeds + lines + fiber},
            "demand": {"tenants": tenants},
            "policy": policy,
        },
        source_file,
    )


def build_korea_2025() -> Scenario:
    """Korea's 260,000 Blackwell GPUs on 14 candidate sites, 580-630 MW facility band."""
    return build_from_source(load_source())


def build_korea_2025_npu() -> Scenario:
    """korea-2025 with capacity reserved for a domestic-NPU fleet (``korea_2025_npu.yaml``: FuriosaAI
    RNGD and Rebellions ATOM SKUs, est.; a tenant holding the reservation; the band widened by the
    fleet's facility power). The Blackwell tenants, sites and grid are korea-2025's. O(korea-2025)."""
    data, npu = load_source(), load_source(NPU_FILE)
    data["name"], data["description"] = npu["name"], npu["description"]
    data["tenants"] = [*data["tenants"], npu["tenant"]]
    data["policy"] = {**data["policy"], "power_band_mw": _strip(npu["power_band_mw"], "source")}
    return build_from_source(data, str(NPU_FILE), extra_catalog=npu["catalog"])


# --------------------------------------------------------------------------- rollout


def quarters(first: str, last: str) -> list[str]:
    """Consecutive quarters from ``first`` to ``last`` inclusive, e.g. 2026Q1..2026Q4."""
    a, b = int(first[:4]) * 4 + int(first[5]) - 1, int(last[:4]) * 4 + int(last[5]) - 1
    return [f"{n // 4}Q{n % 4 + 1}" for n in range(a, b + 1)]


def rollout_section(data: dict[str, Any], gpus_per_rack: dict[str, int], source_file: str = str(ROLLOUT_FILE)) -> dict:
    """The scenario's ``rollout`` dict from the compact rollout data (see ``korea_2025_rollout.yaml``).

    Deliveries are given in racks per quarter and become one ``Delivery`` (in GPUs) per
    (tenant, SKU, quarter), sources carried over; build rates and go-live windows lose
    their ``source`` (the schema has no field for it; the YAML keeps it).
    """
    deliveries = []
    for i, d in enumerate(data["deliveries"]):
        if d["sku"] not in gpus_per_rack:
            raise InputError(f"unknown SKU '{d['sku']}'", file=source_file, where=f"deliveries[{i}].sku")
        for period, racks in d["racks"].items():
            if not isinstance(racks, int) or racks <= 0:
                raise InputError(
                    f"racks must be a positive whole number, got {racks!r}",
                    file=source_file,
                    where=f"deliveries[{i}].racks.{period}",
                )
            deliveries.append(
                {
                    "tenant": d["tenant"],
                    "sku": d["sku"],
                    "period": str(period),
                    "gpus": racks * gpus_per_rack[d["sku"]],
                    "source": d.get("source", "est."),
                }
            )
    return {
        "periods": quarters(str(data["periods"]["first"]), str(data["periods"]["last"])),
        "deliveries": deliveries,
        "site_stages": [dict(st) for st in data.get("site_stages", [])],
        "upgrades": [dict(up) for up in data.get("upgrades", [])],
        "build_rate_racks_per_period": {
            site: int(v["racks"]) for site, v in data.get("build_rate_racks_per_period", {}).items()
        },
        "go_live": [_strip(w, "source") for w in data.get("go_live", [])],
        "options": [dict(o) for o in data.get("options", [])],
        **(
            {"stranding_usd_per_gpu_quarter": data["stranding_usd_per_gpu_quarter"]}
            if "stranding_usd_per_gpu_quarter" in data
            else {}
        ),
    }


def build_rollout_from_source(
    base: dict[str, Any], rollout: dict[str, Any], source_file: str = str(ROLLOUT_FILE)
) -> Scenario:
    """korea-2025 built from ``base`` (see :func:`load_source`) with the rollout data ``rollout`` added.

    Same catalog, topology, demand and policy as the base scenario; the name, description
    and solver options come from the rollout data.
    """
    scenario = build_from_source(base)
    data = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["name"] = rollout["name"]
    data["description"] = " ".join(str(rollout.get("description", "")).split())
    data["policy"]["solver"] = _strip(rollout["solver"], "source")
    data["policy"].update(_strip(rollout.get("policy", {}), "source"))  # e.g. direct-supply regions
    data["rollout"] = rollout_section(rollout, {k.id: k.gpus_per_rack for k in scenario.catalog}, source_file)
    return parse_model(Scenario, data, source_file)


def build_korea_2025_rollout() -> Scenario:
    """korea-2025 deployed quarter by quarter, 2026Q1-2030Q4 (deliveries, site stages, grid upgrades)."""
    return build_rollout_from_source(load_source(), load_source(ROLLOUT_FILE))


__all__ = [
    "build_korea_2025",
    "build_korea_2025_rollout",
    "build_korea_2025_npu",
    "build_from_source",
    "build_rollout_from_source",
    "rollout_section",
    "quarters",
    "load_source",
    "fiber_edges",
    "ROUTE_FACTOR",
    "DATA_FILE",
    "ROLLOUT_FILE",
]
