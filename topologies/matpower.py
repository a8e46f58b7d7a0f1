"""Import a MATPOWER case (e.g. a PGLib-OPF ``.m`` file) as a placer scenario.

``import_case(path, sites=N, seed=S, gpus=G)`` reads the case with matpowercaseframes and
returns a validated :class:`~placer.scenario.Scenario` that ``placer solve`` can run.

Inputs: a MATPOWER version-2 case (``mpc.baseMVA``, ``mpc.bus``, ``mpc.gen``,
``mpc.branch``, optional ``mpc.gencost``); the number of candidate sites, a seed, and
the total GPU count.

Grid mapping (DC model; every rule here is the documented one, the scenario
``description`` lists what was dropped or changed for this particular case):

* **Buses -> substations** ``bus:<BUS_I>``: ``kv = BASE_KV`` (1.0 when the case gives 0);
  ``load_mw = PD + GS`` -- a shunt conductance draws GS MW at 1 pu voltage, which is how
  MATPOWER's own DC power flow treats it. A bus whose PD + GS is negative (embedded
  generation or a boundary equivalent) gets ``load_mw = 0`` plus a zero-cost plant
  ``inj:<BUS_I>`` (capacity = -(PD + GS), no spare) so the case keeps that supply; the
  least-cost dispatch takes all of it unless a line limit stops it.
  Isolated buses (BUS_TYPE 4) are dropped with their branches and generators.
  ``headroom_mw`` = the bus's N-1 firm line capacity (sum of the ratings of its lines
  minus the largest; 0 with a single line) less its existing load, clamped to
  [0, HEADROOM_CAP_MW].
* **Generators -> plants** ``gen:<row>`` (1-based row of ``mpc.gen``), type ``other``,
  each on its own bus joined to the generator's bus by a step-up line ``gsu:<row>``
  (reactance GSU_X_PU, rating GSU_RATING_FACTOR x PMAX, so the transformer never binds
  before the machine does). Out-of-service generators and those with PMAX <= 0
  (synchronous condensers) are dropped. ``capacity_mw = PMAX``; PMIN is not modelled
  (output runs from 0). ``cost_usd_per_mwh`` = the linear gencost term (polynomial
  model) or the average slope (piecewise-linear model), floored at 0; without gencost,
  the type default. ``spare_mw = share x PMAX`` with one share for the whole case:
  ``share = min(max(SPARE_SHARE, 1.25 x band_max / total PMAX), 0.5 x (1 - load / total PMAX))``
  -- at least 10 % or enough for the new load with a 25 % margin, but never more than
  half of the capacity the existing load does not need. When that is below the power
  band's minimum, the description says so (the scenario then fails generation adequacy).
* **Branches -> lines** ``br:<row>`` (1-based row of ``mpc.branch``), BR_STATUS = 1 only.
  ``rating_mw = RATE_A`` (MVA read as MW, as DC studies do); ``emergency_rating_mw =
  RATE_C``, or RATE_A when RATE_C is 0 or below RATE_A; a rating of 0 means unlimited and
  becomes UNLIMITED_MW. ``reactance_pu = BR_X x TAP`` (TAP 0 read as 1) -- MATPOWER's
  DC model scales the series susceptance by 1/TAP, so this reproduces its flows exactly;
  |BR_X x TAP| below REACTANCE_MIN_PU (e.g. BR_X = 0) becomes TINY_X_PU. A negative
  reactance (series compensation: a series capacitor) is kept as it is, the standard DC
  model (MATPOWER's makeBdc); the import fails, naming the branches and buses, only when
  the bus susceptance matrix is then singular (:func:`placer.grid_check.singular_susceptance`);
  an outage that would leave it singular is refused by ``solve`` and ``verify`` under N-1
  (checking every outage here would cost E solves on every import).
  ``phase_shift_deg = SHIFT``: as in makeBdc, a shifter of angle phi on a branch of
  susceptance b carries ``b (theta_from - theta_to - phi)``, i.e. a fixed injection
  ``b phi`` at the from bus and ``-b phi`` at the to bus plus a fixed flow offset
  ``-b phi``; when the branch is lost, its shift goes with it. Branch resistance and
  charging are irrelevant in DC.
* **Re-dispatch cost** (solver and verifier): each plant's re-dispatch Delta_g is charged
  only where it raises output: ``redispatch = redispatch_weight x utilization x 8760 x
  sum_g cost_usd_per_mwh_g x max(Delta_g, 0)`` USD/yr; lowering a plant earns no credit.
  Among the dispatches of least cost, placer picks one that moves the fewest MW
  (sum_g |Delta_g|): a second LP with the cost held at its optimum.
* **Layout.** MATPOWER has no coordinates, so bus positions come from a seeded
  force-directed (Fruchterman-Reingold) layout of the bus graph scaled to a Korea-sized box (LAT_BOX, LON_BOX,
  about 450 x 280 km), so fiber lengths are plausible. Plants sit ~1 km from their bus.
* **Metros** ``metro:<k>`` at the N_METROS highest-load buses.
* **Sites** ``site:<k>`` (``numpy.random.default_rng(seed)``): buses drawn without
  replacement, weighted by load, among buses with headroom (with replacement once they
  run out). Each site has two feeds -- its bus and the neighbouring bus with the most
  headroom -- each able to carry the whole facility (2N). IT capacity is drawn so the
  sites together hold 2--3x the demand; PUE 1.10--1.40, energy price 70--140 USD/MWh,
  capex 9--13 MUSD/MW, fixed 1--4 MUSD/yr; region = ``area<AREA>``. Fiber joins each
  site to its two nearest metros and to the largest metro, metros in a chain, with
  length = FIBER_ROUTE_FACTOR x great-circle distance.
* **Demand**: the Korea tenant mix (naver 60 : samsung 50 : sk 50 : hyundai 50 :
  government 50) scaled to ``gpus``, each rounded to whole GB200 NVL72 racks, at least
  one (the SKU comes from :data:`placer.catalog.DEFAULT_CATALOG`, whose whole list goes
  into the scenario's catalog); a training island of one scalable unit (8 racks) or the
  whole tenant if smaller; 20 % of each tenant's GPUs within the median site round trip
  of the largest metro.
* **Power band** = [0.8, 1.2] x demand IT x mean site PUE.

Errors: :class:`~placer.errors.InputError` naming the file and the MATPOWER field/row; a file
that is not a MATPOWER case says so in one line ("not a MATPOWER case: ...").

Complexity: O(V + E) for the mapping plus the layout, O(iterations x V^2) with the
iterations scaled down for big cases (about 1 s at 1,354 buses); sites and fiber O(S x M).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from pydantic import ValidationError

from placer.catalog import DEFAULT_CATALOG
from placer.errors import InputError
from placer.grid_check import singular_susceptance
from placer.io import validation_error_to_input_error
from placer.scenario import PHASE_SHIFT_MAX_DEG, REACTANCE_MAX_PU, REACTANCE_MIN_PU, Scenario
from placer.topology import haversine_km

SKU_ID = "gb200-nvl72"
UNLIMITED_MW = 99_999.0  # stand-in for MATPOWER's "rating 0 = unlimited" (the schema wants a finite number)
TINY_X_PU = 1e-4  # for BR_X = 0: a near-ideal connection that keeps B non-singular
GSU_X_PU = 1e-4
GSU_RATING_FACTOR = 1.1
SPARE_SHARE = 0.10
HEADROOM_CAP_MW = 1_000.0  # a large substation's transformer bank; keeps unlimited lines from implying GW of headroom
LAT_BOX = (34.4, 38.4)
LON_BOX = (126.4, 129.4)
N_METROS = 5
FIBER_ROUTE_FACTOR = 1.3
TENANT_MIX = (("naver", 60), ("samsung", 50), ("sk", 50), ("hyundai", 50), ("government", 50))
BAND = (0.8, 1.2)
LAYOUT_CHUNK_PAIRS = 2_000_000  # bus pairs per block of the layout's repulsion (32 MB of float64 per array)
MAX_CASE_BYTES = 256 * 2**20  # PGLib's largest case (78,484 buses) is about 30 MiB


def _fail(path, message: str, where: str | None = None) -> InputError:
    return InputError(message, file=str(path), where=where)


def _read(path: Path):
    from matpowercaseframes import CaseFrames

    if not path.exists():
        raise _fail(path, "no such file")
    if not path.is_file():  # a directory, or a FIFO that would block the read forever
        raise _fail(path, "not a regular file")
    try:
        head = path.read_bytes()[: MAX_CASE_BYTES + 1]
    except OSError as exc:
        raise _fail(path, f"cannot read: {exc.strerror or exc}") from None
    if len(head) > MAX_CASE_BYTES:
        raise _fail(path, f"not a MATPOWER case: larger than {MAX_CASE_BYTES // 2**20} MiB")
    text = head.decode("utf-8", errors="replace")
    missing = [f"mpc.{m}" for m in ("baseMVA", "bus", "gen", "branch") if not re.search(rf"mpc\.{m}\s*=", text)]
    if missing:
        raise _fail(
            path,
            f"not a MATPOWER case: no {', '.join(missing)} assignment found "
            "(expected a MATPOWER version-2 .m file such as a PGLib-OPF case)",
        )
    try:
        cf = CaseFrames(str(path))
    except Exception as exc:  # the parser raises many types; all mean "not a readable case"
        raise _fail(path, f"not a MATPOWER case: the parser stopped ({type(exc).__name__}: {exc})") from None
    for name, cols in (
        ("bus", ("BUS_I", "BUS_TYPE", "PD", "GS", "BASE_KV", "BUS_AREA")),
        ("gen", ("GEN_BUS", "PG", "PMAX", "GEN_STATUS")),
        ("branch", ("F_BUS", "T_BUS", "BR_X", "RATE_A", "RATE_C", "TAP", "SHIFT", "BR_STATUS")),
    ):
        frame = getattr(cf, name, None)
        if frame is None or len(frame) == 0:
            raise _fail(path, "missing or empty", where=f"mpc.{name}")
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise _fail(path, f"missing columns {missing}", where=f"mpc.{name}")
        values = frame[list(cols)].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0]) + 1
            raise _fail(path, "non-finite number", where=f"mpc.{name} row {row}")
    try:
        base = float(cf.baseMVA)
    except (AttributeError, TypeError, ValueError):
        raise _fail(path, "missing or invalid", where="mpc.baseMVA") from None
    if not (base > 0 and math.isfinite(base)):
        raise _fail(path, f"must be positive (got {base!r})", where="mpc.baseMVA")
    return cf, base


def _linear_costs(cf, n_gen: int) -> np.ndarray | None:
    """Marginal cost per generator, USD/MWh, from gencost; None when the case has none."""
    gc = getattr(cf, "gencost", None)
    if gc is None or len(gc) < n_gen:
        return None
    out = np.zeros(n_gen)
    for g in range(n_gen):
        row = gc.iloc[g]
        model, n = int(row["MODEL"]), int(row["NCOST"])
        vals = row.to_numpy(dtype=float)[4:]  # MODEL, STARTUP, SHUTDOWN, NCOST, then the parameters
        if model == 2:  # polynomial c_{n-1} .. c_0: the linear term is the second from the end
            out[g] = vals[n - 2] if n >= 2 else 0.0
        elif model == 1 and n >= 2:  # piecewise linear x1, y1, ..., xn, yn: average slope
            x, y = vals[0 : 2 * n : 2], vals[1 : 2 * n : 2]
            out[g] = (y[-1] - y[0]) / (x[-1] - x[0]) if x[-1] > x[0] else 0.0
    return np.maximum(np.nan_to_num(out), 0.0)


def _layout(graph: nx.Graph, seed: int) -> dict[int, tuple[float, float]]:
    """Seeded Fruchterman-Reingold layout of the bus graph, scaled into the lat/lon box.

    Our own few lines of numpy rather than networkx's spring_layout: that one changed its
    algorithm between releases (the digest of an imported scenario would drift with the
    networkx version) and takes ~4 s at 1,354 buses. Each iteration is O(V^2) (all-pairs
    repulsion, in blocks of rows so memory stays O(LAYOUT_CHUNK_PAIRS)), so big grids get
    fewer iterations (at least 15): about 1 s at 1,354 buses, ~5 s at 4,661.
    """
    order = list(graph.nodes)
    n = len(order)
    index = {v: i for i, v in enumerate(order)}
    f = np.array([index[u] for u, _ in graph.edges], dtype=np.int64)
    t = np.array([index[v] for _, v in graph.edges], dtype=np.int64)
    rng = np.random.default_rng(seed)
    pos = rng.random((n, 2))
    iterations = int(min(50, max(15, 30_000_000 // max(n * n, 1))))
    k = 1.0 / math.sqrt(max(n, 1))  # ideal edge length in the unit square
    temp = 0.1
    rows = max(1, LAYOUT_CHUNK_PAIRS // max(n, 1))
    for _ in range(iterations):
        disp = np.empty_like(pos)
        x, y = pos[:, 0], pos[:, 1]
        for a in range(0, n, rows):  # repulsion k^2/d between every pair, a block of rows at a time
            dx = x[a : a + rows, None] - x[None, :]
            dy = y[a : a + rows, None] - y[None, :]
            w = (k * k) / np.maximum(dx * dx + dy * dy, 1e-4)
            disp[a : a + rows, 0] = (dx * w).sum(axis=1)
            disp[a : a + rows, 1] = (dy * w).sum(axis=1)
        e = pos[f] - pos[t]
        pull = e * (np.sqrt((e * e).sum(axis=1)).clip(1e-2) / k)[:, None]  # attraction d^2/k along lines
        np.add.at(disp, f, -pull)
        np.add.at(disp, t, pull)
        length = np.sqrt((disp * disp).sum(axis=1)).clip(1e-2)
        pos += disp * (temp / length)[:, None]  # move at most `temp`, cooling linearly
        temp -= 0.1 / (iterations + 1)
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    unit = (pos - lo) / np.where(hi - lo > 0, hi - lo, 1.0)
    lat = LAT_BOX[0] + unit[:, 1] * (LAT_BOX[1] - LAT_BOX[0])
    lon = LON_BOX[0] + unit[:, 0] * (LON_BOX[1] - LON_BOX[0])
    return {v: (round(float(a), 5), round(float(o), 5)) for v, a, o in zip(order, lat, lon)}


def import_case(path: str | Path, *, sites: int, seed: int, gpus: int) -> Scenario:
    """Read a MATPOWER case into a scenario with ``sites`` seeded candidate sites and ``gpus`` GPUs of demand."""
    path = Path(path)
    if sites < 1:
        raise _fail(path, f"need at least one site (got {sites})", where="sites")
    sku = next(s for s in DEFAULT_CATALOG if s.id == SKU_ID)
    if gpus < sku.gpus_per_rack:
        raise _fail(path, f"need at least one rack of {sku.gpus_per_rack} GPUs (got {gpus})", where="gpus")
    cf, base_mva = _read(path)
    notes: list[str] = []

    # ---- buses
    bus_df = cf.bus
    buses: dict[int, dict] = {}
    for row, r in enumerate(bus_df.itertuples(index=False), start=1):
        bid = int(r.BUS_I)
        if bid in buses:
            raise _fail(path, f"duplicate bus number {bid}", where=f"mpc.bus row {row}")
        buses[bid] = {
            "kv": float(r.BASE_KV),
            "load": float(r.PD) + float(r.GS),
            "area": int(r.BUS_AREA),
            "type": int(r.BUS_TYPE),
        }
    isolated = {b for b, d in buses.items() if d["type"] == 4}
    if isolated:
        notes.append(f"{len(isolated)} isolated bus(es) (BUS_TYPE 4) dropped")
    if any(d["kv"] <= 0 for d in buses.values()):
        notes.append("BASE_KV 0 read as 1.0 kV (unknown voltage)")

    # ---- generators
    gen_df = cf.gen
    costs = _linear_costs(cf, len(gen_df))
    gens: list[dict[str, Any]] = []  # one record per generator kept: row, bus, pmax, cost
    dropped_gens = 0
    for row, r in enumerate(gen_df.itertuples(index=False), start=1):
        bus = int(r.GEN_BUS)
        if bus not in buses:
            raise _fail(path, f"generator at unknown bus {bus}", where=f"mpc.gen row {row}")
        if r.GEN_STATUS <= 0 or r.PMAX <= 0 or bus in isolated:
            dropped_gens += 1
            continue
        gens.append(
            {
                "row": row,
                "bus": bus,
                "pmax": float(r.PMAX),
                "cost": None if costs is None else round(float(costs[row - 1]), 6),
            }
        )
    if dropped_gens:
        notes.append(f"{dropped_gens} generator(s) out of service or with PMAX <= 0 dropped")

    # ---- branches
    br_df = cf.branch
    branches: list[dict[str, Any]] = []  # one record per branch kept: id, row, ends, x, shift, ratings, ...
    off, shifts, tiny, negative_x = 0, 0, 0, 0
    for row, r in enumerate(br_df.itertuples(index=False), start=1):
        f, t = int(r.F_BUS), int(r.T_BUS)
        for end in (f, t):
            if end not in buses:
                raise _fail(path, f"branch to unknown bus {end}", where=f"mpc.branch row {row}")
        if r.BR_STATUS <= 0 or f in isolated or t in isolated:
            off += 1
            continue
        if f == t:
            raise _fail(path, f"branch joins bus {f} to itself", where=f"mpc.branch row {row}")
        shift = float(r.SHIFT)
        if abs(shift) > PHASE_SHIFT_MAX_DEG:
            raise _fail(
                path,
                f"phase shift {shift:g} degrees is outside [-{PHASE_SHIFT_MAX_DEG:g}, {PHASE_SHIFT_MAX_DEG:g}]",
                where=f"mpc.branch row {row} SHIFT",
            )
        shifts += shift != 0
        tap = float(r.TAP) if r.TAP != 0 else 1.0
        x = float(r.BR_X) * tap
        if abs(x) < REACTANCE_MIN_PU:
            tiny += 1
            x = TINY_X_PU
        if abs(x) > REACTANCE_MAX_PU:
            raise _fail(
                path,
                f"reactance BR_X x TAP = {x:g} pu is above {REACTANCE_MAX_PU:g} in magnitude",
                where=f"mpc.branch row {row}",
            )
        negative_x += x < 0
        rate_a = float(r.RATE_A) if r.RATE_A > 0 else UNLIMITED_MW
        rate_c = float(r.RATE_C) if r.RATE_C >= r.RATE_A and r.RATE_A > 0 else rate_a
        branches.append(
            {"id": f"br:{row}", "row": row, "f": f, "t": t, "x": x, "shift": shift, "rate_a": rate_a, "rate_c": rate_c}
        )
    if off:
        notes.append(f"{off} out-of-service branch(es) dropped")
    if tiny:
        notes.append(f"{tiny} branch(es) with |BR_X x TAP| below {REACTANCE_MIN_PU:g} pu given {TINY_X_PU:g} pu")
    if shifts:
        notes.append(f"{shifts} phase shifter(s) kept (SHIFT as phase_shift_deg)")
    if negative_x:
        notes.append(f"{negative_x} negative reactance(s) kept (series compensation)")
    live = [b for b, d in buses.items() if b not in isolated]
    if not live:
        raise _fail(path, "no in-service bus", where="mpc.bus")

    # ---- per-bus quantities
    ratings: dict[int, list[float]] = {b: [] for b in live}
    graph = nx.Graph()
    graph.add_nodes_from(live)
    for br in branches:
        ratings[br["f"]].append(br["rate_a"])
        ratings[br["t"]].append(br["rate_a"])
        graph.add_edge(br["f"], br["t"])
    load = {b: max(buses[b]["load"], 0.0) for b in live}
    negative = {b: -buses[b]["load"] for b in live if buses[b]["load"] < 0}
    if negative:
        notes.append(f"{len(negative)} bus(es) with negative load became zero-cost plants inj:<bus>")
    headroom = {}
    for b in live:
        firm = sum(ratings[b]) - max(ratings[b]) if len(ratings[b]) > 1 else 0.0
        headroom[b] = float(min(max(firm - load[b], 0.0), HEADROOM_CAP_MW))
    pos = _layout(graph, seed)

    # ---- demand (needed first: the spare share covers the new load)
    total_w = sum(w for _, w in TENANT_MIX)
    per_rack = sku.gpus_per_rack
    tenant_gpus = [(tid, max(1, round(gpus * w / total_w / per_rack)) * per_rack) for tid, w in TENANT_MIX]
    demand_it_mw = sum(g for _, g in tenant_gpus) / per_rack * sku.it_kw_per_rack / 1000.0

    rng = np.random.default_rng(seed)
    pue = rng.uniform(1.10, 1.40, size=sites)
    band = (round(BAND[0] * demand_it_mw * pue.mean(), 1), round(BAND[1] * demand_it_mw * pue.mean(), 1))

    total_pmax = sum(g["pmax"] for g in gens)
    net_load = sum(load.values()) - sum(negative.values())
    share = 0.0
    if total_pmax > 0:
        share = min(max(SPARE_SHARE, 1.25 * band[1] / total_pmax), 0.5 * max(0.0, 1.0 - net_load / total_pmax))
    notes.append(f"plant spare = {share:.1%} of PMAX")
    if share * total_pmax < band[0]:
        # Said, not fixed: more spare would starve the existing load of its own supply.
        notes.append(
            f"WARNING: total spare {share * total_pmax:.1f} MW is below the power band minimum "
            f"{band[0]:g} MW, so generation adequacy cannot hold; import with fewer GPUs"
        )

    # ---- nodes and edges
    src = path.name
    nodes: list[dict] = []
    edges: list[dict] = []
    kv = {b: buses[b]["kv"] if buses[b]["kv"] > 0 else 1.0 for b in live}
    for b in live:
        lat, lon = pos[b]
        nodes.append(
            {
                "kind": "substation",
                "id": f"bus:{b}",
                "lat": lat,
                "lon": lon,
                "kv": kv[b],
                "headroom_mw": round(headroom[b], 3),
                "load_mw": round(load[b], 6),
                "source": f"{src} mpc.bus BUS_I {b}",
            }
        )
    plants = [(f"gen:{g['row']}", g["bus"], g["pmax"], g["cost"], f"mpc.gen row {g['row']}", share) for g in gens]
    plants += [(f"inj:{b}", b, mw, 0.0, f"negative PD+GS at bus {b}", 0.0) for b, mw in sorted(negative.items())]
    for k, (pid, bus, cap, cost, origin, sh) in enumerate(plants):
        lat, lon = pos[bus]
        angle = 2 * math.pi * (k % 12) / 12  # spread plants of one bus around it, ~1 km out
        node = {
            "kind": "plant",
            "id": pid,
            "lat": round(lat + 0.009 * math.sin(angle), 5),
            "lon": round(lon + 0.011 * math.cos(angle), 5),
            "type": "other",
            "capacity_mw": cap,
            "spare_mw": round(cap * sh, 6),
            "source": f"{src} {origin}",
        }
        if cost is not None:
            node["cost_usd_per_mwh"] = cost
        nodes.append(node)
        edges.append(
            {
                "kind": "line",
                "id": f"gsu:{pid.split(':', 1)[1]}" if pid.startswith("gen:") else f"gsu:{pid}",
                "from": pid,
                "to": f"bus:{bus}",
                "rating_mw": round(GSU_RATING_FACTOR * cap, 6),
                "reactance_pu": GSU_X_PU,
                "kv": kv[bus],
                "source": f"generator step-up for {pid} (synthetic)",
            }
        )
    for br in branches:
        edges.append(
            {
                "kind": "line",
                "id": br["id"],
                "from": f"bus:{br['f']}",
                "to": f"bus:{br['t']}",
                "rating_mw": br["rate_a"],
                "emergency_rating_mw": br["rate_c"],
                "reactance_pu": br["x"],
                **({"phase_shift_deg": br["shift"]} if br["shift"] else {}),
                "kv": max(kv[br["f"]], kv[br["t"]]),
                "source": f"{src} mpc.branch row {br['row']}",
            }
        )

    # metros at the highest-load buses (ties by bus number)
    metro_buses = sorted(live, key=lambda b: (-load[b], b))[: min(N_METROS, len(live))]
    metros = [(f"metro:{k + 1}", pos[b]) for k, b in enumerate(metro_buses)]
    for mid, (lat, lon) in metros:
        nodes.append({"kind": "metro", "id": mid, "lat": lat, "lon": lon, "source": "synthetic: a highest-load bus"})
    for (m1, p1), (m2, p2) in zip(metros, metros[1:]):
        edges.append({"kind": "fiber", "from": m1, "to": m2, "length_km": _fiber_km(p1, p2)})

    # sites
    candidates = [b for b in live if headroom[b] > 0] or list(live)
    weights = np.array([load[b] for b in candidates]) + 1e-9  # load-weighted; load-free buses almost never
    distinct = min(sites, len(candidates))
    chosen = list(rng.choice(len(candidates), size=distinct, replace=False, p=weights / weights.sum()))
    if sites > distinct:
        chosen += list(rng.choice(len(candidates), size=sites - distinct, replace=True, p=weights / weights.sum()))
    per_site_it = 2.5 * demand_it_mw / sites
    largest_tenant_it_mw = max(g for _, g in tenant_gpus) / per_rack * sku.it_kw_per_rack / 1000.0
    rtts = []
    for k, ci in enumerate(chosen):
        b = candidates[int(ci)]
        sid = f"site:{k + 1}"
        lat, lon = pos[b]
        # Every site can host a whole tenant: with islands and site caps, smaller sites are unusable.
        it = round(max(1.0, per_site_it * rng.uniform(0.6, 1.4), largest_tenant_it_mw * rng.uniform(1.1, 1.5)), 1)
        nodes.append(
            {
                "kind": "site",
                "id": sid,
                "lat": round(lat - 0.018, 5),
                "lon": round(lon + 0.018, 5),
                "region": f"area{buses[b]['area']}",
                "it_capacity_mw": it,
                "liquid_cooling_mw": round(it * rng.uniform(0.85, 1.0), 1),
                "air_cooling_mw": round(it * rng.uniform(0.15, 0.35), 1),
                "pue": round(float(pue[k]), 3),
                "energy_price_usd_per_mwh": round(rng.uniform(70, 140), 1),
                "capex_usd_per_mw": round(rng.uniform(9e6, 13e6), -3),
                "fixed_usd_per_year": round(rng.uniform(1e6, 4e6), -3),
                "source": f"synthetic (seed {seed}) at bus {b}",
            }
        )
        feed_mw = round(it * float(pue[k]) + 0.05, 1)  # each feed carries the whole facility: 2N
        edges.append({"kind": "feed", "from": sid, "to": f"bus:{b}", "capacity_mw": feed_mw})
        neighbours = sorted(graph.neighbors(b), key=lambda n: (-headroom[n], n))
        if neighbours:
            edges.append({"kind": "feed", "from": sid, "to": f"bus:{neighbours[0]}", "capacity_mw": feed_mw})
        site_pos = (nodes[-1]["lat"], nodes[-1]["lon"])
        near = sorted(metros, key=lambda m: (haversine_km(*site_pos, *m[1]), m[0]))[:2]
        for mid, mpos in {m[0]: m[1] for m in [*near, metros[0]]}.items():
            edges.append({"kind": "fiber", "from": sid, "to": mid, "length_km": _fiber_km(site_pos, mpos)})
        rtts.append(2 * 0.0049 * _fiber_km(site_pos, metros[0][1]))

    max_rtt = max(0.1, math.ceil(float(np.median(rtts)) * 10) / 10)
    su = sku.scalable_unit_racks * per_rack
    tenants = [
        {
            "id": tid,
            "lines": [{"sku": SKU_ID, "gpus": g}],
            "min_island_gpus": min(su, g),
            "latency": [{"metro": metros[0][0], "max_rtt_ms": max_rtt, "min_share": 0.2}],
        }
        for tid, g in tenant_gpus
    ]
    placed = sum(g for _, g in tenant_gpus)
    if placed != gpus:
        notes.append(f"demand rounded to whole racks: {placed:,} GPUs (asked {gpus:,})")

    name = re.sub(r"[^A-Za-z0-9_.:\-]", "-", path.stem)[:128] or "matpower-case"
    data = {
        "name": name,
        "description": (
            f"Imported from {src} ({len(live)} buses, {len(gens)} generators, {len(branches)} lines) "
            f"with {sites} synthetic sites (seed {seed}); " + "; ".join(notes)
        ),
        "catalog": [s.model_dump(mode="json") for s in DEFAULT_CATALOG],
        "topology": {"nodes": nodes, "edges": edges},
        "demand": {"tenants": tenants},
        "policy": {"power_band_mw": {"min_mw": band[0], "max_mw": band[1]}, "base_mva": base_mva},
    }
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, data, str(path)) from None
    problem = singular_susceptance(scenario, outages=False)  # outages: checked by solve and verify
    if problem is not None:  # negative reactances can cancel: the DC power flow then has no solution
        rows = [l.split(":", 1)[1] for l in problem.lines if l.startswith("br:")]
        raise _fail(path, problem.message, where=f"mpc.branch rows {', '.join(rows[:5])}" if rows else "mpc.branch")
    return scenario


def _fiber_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    return round(max(1.0, FIBER_ROUTE_FACTOR * haversine_km(a[0], a[1], b[0], b[1])), 2)


__all__ = ["import_case", "UNLIMITED_MW", "TINY_X_PU", "GSU_X_PU"]
