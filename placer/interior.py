"""A site's interior, as data: halls, power trains, cooling loops, network blocks.

A :class:`~placer.scenario.Site` may carry an ``interior``; the rack-level layout
(:mod:`solvers.layout`) assigns every placed rack to a hall, a row position, a power train
(or an A/B pair, or an N+1 group), a cooling loop and a network block inside it, and the
verifier (:mod:`placer.verify_layout`) recomputes every load from the plan's rack inventory.

The pieces:

* **halls** -- ``rows`` x ``positions_per_row`` rack positions and the hall's air-side
  cooling (``air_cooling_mw``); the liquid side is the cooling loops serving the hall, so a
  hall's cooling mix is its air MW against the liquid MW of its loops;
* **power trains** -- utility feed -> main switchboard -> UPS -> PDUs/busway, each rated
  ``mw`` (IT load), serving ``halls``, with a redundancy rule:

  - ``n``: the train alone; its racks go dark when it fails (a failure domain);
  - ``2n``: two trains in one ``group`` form an A/B pair; every rack of the pair draws from
    both, and each side alone must carry the pair's whole load, so losing one side costs
    nothing;
  - ``n+1``: k >= 2 trains in one ``group`` share the group's racks; the group carries
    its load after losing any one train (load <= sum of ratings - the largest), so losing one
    costs nothing;

* **cooling loops** (CDU loops) -- ``liquid_mw`` of heat, ``halls`` served, ``kind`` dry or
  evaporative with its water use (``wue_l_per_kwh``, litres per kWh of heat rejected); a loop
  that fails takes its racks down (a failure domain); air-cooled racks (liquid share 0) use no
  loop;
* **network blocks** -- an InfiniBand leaf/spine block with ``su_slots`` scalable units
  (an SU is ``scalable_unit_racks`` racks of one SKU, e.g. 8 NVL72 racks); a block that fails
  takes its SUs off the fabric (a failure domain);
* **energy storage** (optional) -- rack- or hall-level storage that smooths the racks'
  transients: racks in its halls load their trains at ``peak_factor`` (default 1.0) times
  steady state instead of their SKU's ``transient_factor``;
* **water_allowance_m3_per_day** (optional) -- the site's water permit, held against the
  evaporative loops' use on a peak day (every loop at its racks' full liquid heat, 24 h).

A site without an interior gets :func:`default_interior`, derived from its MW figures (see
there), so every existing scenario keeps working. :func:`hierarchy_graph` gives the
hierarchy as a :class:`networkx.DiGraph`; :func:`graph_with_interiors` adds it to the site
graph of :func:`placer.topology.to_graph`.

This module imports nothing else of placer: :mod:`placer.scenario` imports it (a site holds
an interior, the policy holds :class:`LayoutPolicy`). Its constrained types follow the
scenario's rules (strict numbers, ranges at both ends); :data:`Identifier` is the scenario's
identifier rule (a test checks they agree).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

if TYPE_CHECKING:
    import networkx as nx

    from placer.scenario import Site, Sku

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Text = Annotated[str, Field(max_length=10_000)]
HallMw = Annotated[float, Strict(), Field(ge=0, le=10_000, allow_inf_nan=False)]
TrainMw = Annotated[float, Strict(), Field(gt=0, le=10_000, allow_inf_nan=False)]
Count = Annotated[int, Strict(), Field(gt=0, le=10_000)]
Factor = Annotated[float, Strict(), Field(ge=1.0, le=5.0, allow_inf_nan=False)]

Redundancy = Literal["n", "n+1", "2n"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=False)


class Hall(_Model):
    """A data hall: ``rows`` rows of ``positions_per_row`` rack positions."""

    id: Identifier
    rows: Count = Field(description="rows of racks (1-10,000)")
    positions_per_row: Count = Field(description="rack positions in each row (1-10,000)")
    air_cooling_mw: HallMw = Field(description="heat the hall's air side can reject, MW (0-10,000)")


class PowerTrain(_Model):
    """One power train (feed -> switchboard -> UPS -> PDUs), rated for IT load."""

    id: Identifier
    mw: TrainMw = Field(description="IT load the train carries, MW (0-10,000), against its racks' transient peak")
    halls: list[Identifier] = Field(min_length=1, description="halls the train serves")
    redundancy: Redundancy = Field(
        "n", description="n: alone; 2n: one side of an A/B pair (its group); n+1: one of a group that survives one loss"
    )
    group: Identifier | None = Field(
        None, description="the A/B pair (2n, exactly two trains) or the N+1 group (two or more trains)"
    )


class CoolingLoop(_Model):
    """A liquid cooling loop (CDUs and their heat rejection)."""

    id: Identifier
    liquid_mw: HallMw = Field(description="heat the loop removes, MW (0-10,000)")
    halls: list[Identifier] = Field(min_length=1)
    kind: Literal["dry", "evaporative"] = "dry"
    wue_l_per_kwh: Annotated[float, Strict(), Field(ge=0, le=20, allow_inf_nan=False)] = Field(
        0.0, description="water used per kWh of heat rejected, litres (0-20; dry coolers ~0, evaporative ~1-2)"
    )

    @model_validator(mode="after")
    def _dry_uses_little(self) -> CoolingLoop:
        if self.kind == "dry" and self.wue_l_per_kwh > 0.5:
            raise ValueError(f"a dry loop uses at most 0.5 L/kWh (got wue_l_per_kwh {self.wue_l_per_kwh:g})")
        return self


class NetworkBlock(_Model):
    """An InfiniBand spine block: ``su_slots`` scalable units on one fabric."""

    id: Identifier
    su_slots: Count = Field(description="scalable units the block connects (1-10,000)")
    halls: list[Identifier] = Field(min_length=1)


class EnergyStorage(_Model):
    """Storage that smooths transients (rack power shelves with capacitors/batteries, or hall BESS)."""

    level: Literal["rack", "hall"]
    halls: list[Identifier] = Field(default_factory=list, description="halls it covers; all when empty")
    peak_factor: Factor = Field(1.0, description="peak over steady state left with the storage (1-5)")


class Interior(_Model):
    """Halls, power trains, cooling loops, network blocks of one site."""

    halls: list[Hall] = Field(min_length=1)
    power_trains: list[PowerTrain] = Field(min_length=1)
    cooling_loops: list[CoolingLoop] = Field(default_factory=list)
    network_blocks: list[NetworkBlock] = Field(min_length=1)
    energy_storage: EnergyStorage | None = None
    water_allowance_m3_per_day: Annotated[float, Strict(), Field(ge=0, le=1e7, allow_inf_nan=False)] | None = Field(
        None, description="site water allowance, m3 per day (0-1e7); unchecked when absent"
    )
    source: Text = Field("", description="where the figures come from, or 'est.'")

    @model_validator(mode="after")
    def _references(self) -> Interior:
        halls = {h.id for h in self.halls}
        if len(halls) != len(self.halls):
            raise ValueError("halls: duplicate hall id")
        served_by: list[tuple[str, list[Any]]] = [  # trains, loops, blocks: each an id and its halls
            ("power_trains", self.power_trains),
            ("cooling_loops", self.cooling_loops),
            ("network_blocks", self.network_blocks),
        ]
        for field, items in served_by:
            seen = [x.id for x in items]
            for i, x in enumerate(items):
                if seen.index(x.id) != i:
                    raise ValueError(f"{field}[{i}].id: duplicate id '{x.id}'")
                for j, h in enumerate(x.halls):
                    if h not in halls:
                        raise ValueError(f"{field}[{i}].halls[{j}]: unknown hall '{h}' (halls: {sorted(halls)})")
        if self.energy_storage is not None:
            for j, h in enumerate(self.energy_storage.halls):
                if h not in halls:
                    raise ValueError(f"energy_storage.halls[{j}]: unknown hall '{h}'")
        groups: dict[str, list[int]] = {}
        for i, t in enumerate(self.power_trains):
            if t.redundancy == "n":
                if t.group is not None:
                    raise ValueError(f"power_trains[{i}].group: a train with redundancy 'n' stands alone (no group)")
                continue
            if t.group is None:
                raise ValueError(f"power_trains[{i}].group: a '{t.redundancy}' train names its group")
            groups.setdefault(t.group, []).append(i)
        ids = {t.id for t in self.power_trains}
        for g, members in groups.items():
            first = self.power_trains[members[0]]
            if g in ids:
                raise ValueError(f"power_trains[{members[0]}].group: group '{g}' is also a train id")
            for i in members[1:]:
                t = self.power_trains[i]
                if t.redundancy != first.redundancy or sorted(t.halls) != sorted(first.halls):
                    raise ValueError(
                        f"power_trains[{i}]: trains of group '{g}' share one redundancy and the same halls"
                    )
            if first.redundancy == "2n" and len(members) != 2:
                raise ValueError(f"power_trains[{members[0]}].group: 2n group '{g}' has {len(members)} trains, not 2")
            if first.redundancy == "n+1" and len(members) < 2:
                raise ValueError(f"power_trains[{members[0]}].group: n+1 group '{g}' needs at least 2 trains")
        served = {h for t in self.power_trains for h in t.halls}
        for i, h in enumerate(self.halls):
            if h.id not in served:
                raise ValueError(f"halls[{i}]: hall '{h.id}' is served by no power train")
        return self

    # ---- derived ---------------------------------------------------------------------
    def power_paths(self) -> list[PowerPath]:
        """The units a rack is fed by: each 'n' train alone, each 2n pair, each n+1 group.
        O(trains)."""
        paths: list[PowerPath] = []
        grouped: dict[str, list[PowerTrain]] = {}
        for t in self.power_trains:
            if t.group is None:
                paths.append(PowerPath(t.id, "n", (t.id,), t.mw, tuple(t.halls)))
            else:
                grouped.setdefault(t.group, []).append(t)
        for g, trains in grouped.items():
            paths.append(
                PowerPath(
                    g,
                    trains[0].redundancy,
                    tuple(t.id for t in trains),
                    path_capacity_mw(trains[0].redundancy, [t.mw for t in trains]),
                    tuple(trains[0].halls),
                )
            )
        return paths

    def storage_halls(self) -> set[str]:
        """Halls whose racks' transients the energy storage smooths."""
        if self.energy_storage is None:
            return set()
        return set(self.energy_storage.halls) or {h.id for h in self.halls}


def path_capacity_mw(redundancy: str, ratings_mw: list[float]) -> float:
    """The load a power path may carry under its redundancy rule: an 'n' train its rating; a
    2n pair the smaller side (each side alone carries all); an n+1 group the sum less the
    largest (it survives losing any one). The rule shared by the layout and its verifier."""
    if redundancy == "n":
        return ratings_mw[0]
    if redundancy == "2n":
        return min(ratings_mw)
    return sum(ratings_mw) - max(ratings_mw)


class PowerPath:
    """A rack's feed: an 'n' train, a 2n pair or an n+1 group (id, rule, trains, capacity, halls)."""

    __slots__ = ("id", "redundancy", "trains", "capacity_mw", "halls")

    def __init__(self, id: str, redundancy: str, trains: tuple[str, ...], capacity_mw: float, halls: tuple[str, ...]):
        self.id, self.redundancy, self.trains, self.capacity_mw, self.halls = id, redundancy, trains, capacity_mw, halls

    @property
    def is_failure_domain(self) -> bool:
        """Only an 'n' train drops its racks when it fails; 2n and n+1 ride through one loss."""
        return self.redundancy == "n"


class LayoutPolicy(_Model):
    """Fleet-wide rules for the rack-level layout (``policy.layout``)."""

    max_fault_share: Annotated[float, Strict(), Field(gt=0, le=1, allow_inf_nan=False)] = Field(
        0.25,
        description="the most of a tenant's GPUs at a site that the loss of any one power train, cooling loop "
        "or network block may take (0-1); never less than one of the tenant's SUs there",
    )
    island_extra_blocks: Annotated[int, Strict(), Field(ge=0, le=1000)] = Field(
        1,
        description="blocks a tenant's island at a site may span beyond the fewest its size and the fault share "
        "need (0-1,000): max(ceil(SUs / largest block), ceil(SUs / SUs a block may hold under the fault rule)) + this",
    )
    time_limit_s: Annotated[float, Strict(), Field(gt=0, le=1e5, allow_inf_nan=False)] = Field(
        10.0, description="CP-SAT time limit per site, seconds (0-100,000)"
    )


def fault_limit_gpus(policy: LayoutPolicy, tenant_gpus: int, largest_su_gpus: int) -> int:
    """The most GPUs one fault may cost a tenant at a site: ``max_fault_share`` of its GPUs
    there, rounded down, but never less than its largest SU (a fault always costs a whole
    SU, so a tenant holding one SU could not be placed at all otherwise). O(1)."""
    return max(math.floor(policy.max_fault_share * tenant_gpus + 1e-9), largest_su_gpus)


def island_block_limit(
    policy: LayoutPolicy, tenant_sus: int, largest_block_slots: int, fault_limit: int, largest_su_gpus: int
) -> int:
    """The most network blocks a tenant's SUs at a site may span: the fewest its size needs
    (``ceil(SUs / largest block)``) or the fault rule needs (a block may hold at most
    ``floor(fault_limit / largest SU's GPUs)`` of its SUs), plus ``island_extra_blocks`` for
    SU granularity, and never more than its SUs. O(1)."""
    per_block = max(1, fault_limit // max(1, largest_su_gpus))
    need = max(math.ceil(tenant_sus / largest_block_slots), math.ceil(tenant_sus / per_block))
    return min(tenant_sus, need + policy.island_extra_blocks)


def water_m3_per_day(liquid_heat_mw: float, wue_l_per_kwh: float) -> float:
    """A loop's water on a peak day: heat MW x 1,000 kW x 24 h x WUE L/kWh / 1,000 L/m3."""
    return liquid_heat_mw * 24.0 * wue_l_per_kwh


def su_sizes(racks: int, su_racks: int) -> list[int]:
    """The SUs ``racks`` racks form: whole SUs of ``su_racks``, then one partial SU of the
    remainder (the last SU of a tenant's SKU at a site may be short). O(racks / su_racks)."""
    full, rest = divmod(racks, su_racks)
    return [su_racks] * full + ([rest] if rest else [])


# --------------------------------------------------------------------------- the default

DEFAULT_HALL_MW = 40.0  # est.: hyperscale AI halls are commonly 20-60 MW of IT
DEFAULT_POSITIONS_PER_ROW = 36  # holds 4 SUs of 8 racks or 2 of 18 without a gap
DEFAULT_RACK_KW_FOR_SPACE = 40.0  # positions sized for racks of 40 kW on average (denser racks leave gaps)
# Eight CDU loops and at least eight blocks per hall: a tenant of n whole SUs in one hall needs
# up to ceil(n / floor(n / 4)) <= 7 separate loops and blocks to lose <= 25 % to one fault.
DEFAULT_LOOPS_PER_HALL = 8
DEFAULT_MIN_BLOCKS_PER_HALL = 8
DEFAULT_SU_SLOTS = 16  # est.: 16 SUs (128 NVL72 racks, 9,216 GPUs) per spine block


def default_interior(site: Site, catalog: list[Sku]) -> Interior:
    """The interior assumed for a site that declares none, derived from its MW figures.

    * halls: ``ceil(it_capacity_mw / 40)`` equal halls; each has rows of 36 positions, enough
      positions for its share of the IT MW at 40 kW per rack, and its share of the site's
      ``air_cooling_mw``;
    * power: one 2N A/B pair per hall, each side rated for the hall's share of the IT MW at
      the catalog's largest ``transient_factor`` (the plant is taken as sized for its racks'
      peaks, so the site-level IT limit stays the binding one);
    * cooling: eight dry loops per hall (WUE 0), each an eighth of the hall's share of
      ``liquid_cooling_mw``;
    * network: blocks of 16 SU slots, enough for every position of the hall in SUs of 8,
      and at least eight per hall.

    Eight loops and blocks per hall let any tenant of whole SUs keep to the default 25 %
    fault share inside one hall (n SUs need up to ceil(n / floor(n / 4)) <= 7 domains).

    Every hall-level figure gets a margin of one SU of the catalog's largest (the SU with the
    largest IT, air or liquid heat): the site-level model holds the site totals, and the margin
    lets whole SUs split over halls and loops without a placement the site model accepts
    failing for granularity. No water allowance, no storage. O(halls + catalog)."""
    n_halls = max(1, math.ceil(site.it_capacity_mw / DEFAULT_HALL_MW - 1e-9))
    hall_it = site.it_capacity_mw / n_halls
    factor = max((sku.transient_factor or 1.0) for sku in catalog) if catalog else 1.0
    su_kw = max((sku.it_kw_per_rack * sku.scalable_unit_racks for sku in catalog), default=0.0)
    su_liquid = max((sku.it_kw_per_rack * sku.scalable_unit_racks * sku.liquid_share for sku in catalog), default=0.0)
    su_air = max(
        (sku.it_kw_per_rack * sku.scalable_unit_racks * (1 - sku.liquid_share) for sku in catalog), default=0.0
    )
    positions = math.ceil(hall_it * 1000 / DEFAULT_RACK_KW_FOR_SPACE)
    rows = max(1, math.ceil(positions / DEFAULT_POSITIONS_PER_ROW))
    su_per_hall = rows * (DEFAULT_POSITIONS_PER_ROW // 8)
    blocks_per_hall = max(DEFAULT_MIN_BLOCKS_PER_HALL, math.ceil(su_per_hall / DEFAULT_SU_SLOTS))
    halls, trains, loops, blocks = [], [], [], []
    for h in range(n_halls):
        hid = f"hall-{h + 1}"
        halls.append(
            Hall(
                id=hid,
                rows=rows,
                positions_per_row=DEFAULT_POSITIONS_PER_ROW,
                air_cooling_mw=site.air_cooling_mw / n_halls + su_air / 1000,
            )
        )
        side_mw = (hall_it + su_kw / 1000) * factor
        for side in ("a", "b"):
            trains.append(PowerTrain(id=f"{hid}-{side}", mw=side_mw, halls=[hid], redundancy="2n", group=f"{hid}-ab"))
        loop_mw = site.liquid_cooling_mw / n_halls / DEFAULT_LOOPS_PER_HALL + su_liquid / 1000
        for k in range(DEFAULT_LOOPS_PER_HALL):
            loops.append(CoolingLoop(id=f"{hid}-loop-{k + 1}", liquid_mw=loop_mw, halls=[hid]))
        for k in range(blocks_per_hall):
            blocks.append(NetworkBlock(id=f"{hid}-block-{k + 1}", su_slots=DEFAULT_SU_SLOTS, halls=[hid]))
    return Interior(
        halls=halls,
        power_trains=trains,
        cooling_loops=loops,
        network_blocks=blocks,
        source="default derived from the site's MW figures (placer.interior.default_interior), est.",
    )


def interior_of(site: Site, catalog: list[Sku]) -> tuple[Interior, bool]:
    """The site's interior and whether it is declared (False: :func:`default_interior`)."""
    if site.interior is not None:
        return site.interior, True
    return default_interior(site, catalog), False


# --------------------------------------------------------------------------- the graph


def hierarchy_graph(site_id: str, interior: Interior) -> nx.DiGraph:
    """The interior as a directed graph: site -> hall (``contains``); each power train, 2N
    pair / N+1 group, cooling loop and network block -> the halls it serves (``serves``);
    a train -> its group (``member_of``). Nodes are ``site/element`` with ``kind`` (hall,
    power_train, power_group, cooling_loop, network_block) and their fields (a loop's own
    kind, dry or evaporative, as ``cooling``). O(elements)."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_node(site_id, kind="site")

    def node(x: str) -> str:
        return f"{site_id}/{x}"

    for h in interior.halls:
        g.add_node(node(h.id), kind="hall", **h.model_dump(exclude={"id"}))
        g.add_edge(site_id, node(h.id), kind="contains")
    for t in interior.power_trains:
        g.add_node(node(t.id), kind="power_train", **t.model_dump(exclude={"id", "halls"}))
        if t.group is not None:
            g.add_node(node(t.group), kind="power_group", redundancy=t.redundancy)
            g.add_edge(node(t.id), node(t.group), kind="member_of")
        for hid in t.halls:
            g.add_edge(node(t.id), node(hid), kind="serves")
    for loop in interior.cooling_loops:
        g.add_node(
            node(loop.id), kind="cooling_loop", cooling=loop.kind, **loop.model_dump(exclude={"id", "halls", "kind"})
        )
        for hid in loop.halls:
            g.add_edge(node(loop.id), node(hid), kind="serves")
    for b in interior.network_blocks:
        g.add_node(node(b.id), kind="network_block", **b.model_dump(exclude={"id", "halls"}))
        for hid in b.halls:
            g.add_edge(node(b.id), node(hid), kind="serves")
    return g


def graph_with_interiors(scenario) -> nx.MultiDiGraph:
    """The site graph (:func:`placer.topology.to_graph`, as a MultiDiGraph) with every site's
    interior hierarchy (declared or default) added under it. O(V + E + interior elements)."""
    import networkx as nx

    graph = nx.MultiDiGraph(scenario.topology.to_graph())
    for site in scenario.topology.sites:
        interior, declared = interior_of(site, scenario.catalog)
        sub = hierarchy_graph(site.id, interior)
        graph.nodes[site.id]["interior_declared"] = declared
        for n, data in sub.nodes(data=True):
            if n != site.id:
                graph.add_node(n, **data)
        for u, v, data in sub.edges(data=True):
            graph.add_edge(u, v, **data)
    return graph


__all__ = [
    "CoolingLoop",
    "EnergyStorage",
    "Hall",
    "Interior",
    "LayoutPolicy",
    "NetworkBlock",
    "PowerPath",
    "PowerTrain",
    "default_interior",
    "fault_limit_gpus",
    "graph_with_interiors",
    "hierarchy_graph",
    "interior_of",
    "island_block_limit",
    "path_capacity_mw",
    "su_sizes",
    "water_m3_per_day",
]
