"""Scenario: the inputs to a placement, as pydantic v2 models.

These models are the single source of truth for the scenario file format (YAML or
JSON); ``placer schema`` prints the JSON Schema generated from them.

A scenario has four parts:

* ``catalog``  -- hardware SKUs (vendor-neutral);
* ``topology`` -- nodes (sites, substations, plants, metros) and edges (feeds, lines,
  fiber), every one tagged with ``kind``; :mod:`placer.topology` turns it into a
  :class:`networkx.MultiGraph`;
* ``demand``   -- per tenant, lines of (SKU, GPUs) plus island, site-count, latency and
  region rules;
* ``policy``   -- facility power band, cost model, objective weights, solver options.

Units are in the field names (``_mw``, ``_kw``, ``_km``, ``_ms``, ``_usd``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator, model_validator

from placer.errors import InputError

SCHEMA_VERSION: Literal[1] = 1

# Numbers are strict: a bool or a string is never a number, a float is never an int (an int
# is fine where a float is wanted). NaN and +-inf are refused (allow_inf_nan=False). Every
# field has a physically sensible range at both ends, shown by ``placer schema`` as the
# JSON Schema bounds. ``Positive`` and ``NonNegative`` have no upper bound: only ``Line``
# uses them, whose ranges come with the grid model (negative reactances, phase shifters).
# Each bound is spelled out as ``Annotated[float|int, Strict(), Field(...)]`` (not built by a
# helper function) so that type checkers read the fields as plain floats and ints.


Positive = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
Share = Annotated[float, Strict(), Field(ge=0, le=1, allow_inf_nan=False)]
Latitude = Annotated[float, Strict(), Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Strict(), Field(ge=-180, le=180, allow_inf_nan=False)]
Flag = Annotated[bool, Strict()]
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Text = Annotated[str, Field(max_length=10_000)]

# The ranges (documented in one place; each field's description repeats its unit).
SiteMw = Annotated[float, Strict(), Field(gt=0, le=10_000, allow_inf_nan=False)]  # one site's IT capacity: up to 10 GW
SiteCoolingMw = Annotated[float, Strict(), Field(ge=0, le=10_000, allow_inf_nan=False)]
GridMw = Annotated[float, Strict(), Field(ge=0, le=100_000, allow_inf_nan=False)]  # a bus, plant or feed: up to 100 GW
GridMwPositive = Annotated[float, Strict(), Field(gt=0, le=100_000, allow_inf_nan=False)]
PriceUsdPerMwh = Annotated[
    float, Strict(), Field(gt=0, le=10_000, allow_inf_nan=False)
]  # energy prices: up to 10,000 USD/MWh
CostUsdPerMwh = Annotated[float, Strict(), Field(ge=0, le=10_000, allow_inf_nan=False)]
CapexUsdPerMw = Annotated[
    float, Strict(), Field(ge=0, le=1e9, allow_inf_nan=False)
]  # capital cost: up to 1 billion USD per MW
UsdPerYear = Annotated[
    float, Strict(), Field(ge=0, le=1e11, allow_inf_nan=False)
]  # annual money per item: up to 100 billion USD
Weight = Annotated[float, Strict(), Field(ge=0, le=1e3, allow_inf_nan=False)]  # objective weights
Kv = Annotated[
    float, Strict(), Field(gt=0, le=1_500, allow_inf_nan=False)
]  # the highest transmission voltages are 1,100-1,200 kV
Gpus = Annotated[int, Strict(), Field(gt=0, le=100_000_000)]  # GPU counts: up to 100 million


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=False)


# --------------------------------------------------------------------------- catalog


class Sku(_Model):
    """One rack-scale hardware product. The rack is the unit of placement."""

    id: Identifier
    name: Text = ""
    vendor: Text
    gpus_per_rack: Annotated[int, Strict(), Field(gt=0, le=10_000)] = Field(description="GPUs per rack, 1-10,000")
    it_kw_per_rack: Annotated[float, Strict(), Field(gt=0, le=2_000, allow_inf_nan=False)] = Field(
        description="IT power per rack at peak, kW (incl. its share of networking); up to 2,000 kW"
    )
    liquid_share: Share = Field(description="share of the rack's heat removed by liquid cooling; the rest goes to air")
    scalable_unit_racks: Annotated[int, Strict(), Field(gt=0, le=10_000)] = Field(
        1, description="racks per scalable unit (informational; NVLink domains are rack-bound), 1-10,000"
    )
    price_usd_per_gpu: Annotated[float, Strict(), Field(ge=0, le=1e7, allow_inf_nan=False)] | None = Field(
        None,
        description="capital cost per GPU with its share of the rack, network and storage, USD (0-1e7): a rollout "
        "charges a delivered GPU that is not live its quarterly capital charge (depreciation plus financing)",
    )
    life_years: Annotated[float, Strict(), Field(ge=0.5, le=30, allow_inf_nan=False)] = Field(
        5.0, description="years over which the GPU price is recovered (0.5-30)"
    )
    source: Text = Field("", description="where the figures come from, or 'est.'")


# --------------------------------------------------------------------------- nodes


class _Node(_Model):
    id: Identifier
    name: Text = ""
    source: Text = Field("", description="where the figures come from, or 'est.'")


class Site(_Node):
    """A candidate data-center site."""

    kind: Literal["site"] = "site"
    lat: Latitude
    lon: Longitude
    region: Identifier
    it_capacity_mw: SiteMw = Field(description="IT load the site can host, MW (0-10,000)")
    liquid_cooling_mw: SiteCoolingMw = Field(description="heat the liquid loop can reject, MW (0-10,000)")
    air_cooling_mw: SiteCoolingMw = Field(description="heat the air side can reject, MW (0-10,000)")
    pue: Annotated[float, Strict(), Field(ge=1.0, le=3.0, allow_inf_nan=False)] = Field(
        description="power usage effectiveness: facility power = IT power x PUE (1-3)"
    )
    energy_price_usd_per_mwh: PriceUsdPerMwh = Field(description="USD per MWh (0-10,000)")
    capex_usd_per_mw: CapexUsdPerMw = Field(description="capital cost per MW of IT load installed, USD (0-1e9)")
    fixed_usd_per_year: UsdPerYear = Field(0.0, description="annual cost of opening the site at all, USD (0-1e11)")


class Substation(_Node):
    """A grid bus that can feed sites."""

    kind: Literal["substation"] = "substation"
    lat: Latitude
    lon: Longitude
    kv: Kv = Field(description="nominal voltage, kV (0-1,500)")
    headroom_mw: GridMw = Field(description="firm headroom for new load, MW (0-100,000)")
    load_mw: GridMw = Field(0.0, description="existing load at the bus, MW (grid model; 0-100,000)")


class Plant(_Node):
    """A power plant, connected to the grid by lines."""

    kind: Literal["plant"] = "plant"
    lat: Latitude
    lon: Longitude
    type: Identifier = Field(description="nuclear, coal, lng, hydro, solar, wind, ...")
    capacity_mw: GridMwPositive = Field(description="MW (0-100,000)")
    spare_mw: GridMw = Field(description="capacity available to serve new load, MW (0-capacity_mw)")
    cost_usd_per_mwh: CostUsdPerMwh | None = Field(
        None, description="marginal cost, USD per MWh (0-10,000); default by type"
    )

    @model_validator(mode="after")
    def _spare_within_capacity(self) -> Plant:
        if self.spare_mw > self.capacity_mw:
            raise ValueError(f"spare_mw {self.spare_mw:g} exceeds capacity_mw {self.capacity_mw:g}")
        return self


class Metro(_Node):
    """A user centre that latency requirements refer to."""

    kind: Literal["metro"] = "metro"
    lat: Latitude
    lon: Longitude


Node = Annotated[Site | Substation | Plant | Metro, Field(discriminator="kind")]


# --------------------------------------------------------------------------- edges


class _Edge(_Model):
    id: Identifier | None = Field(None, description="unique edge id; generated from the ends when omitted")
    from_node: Identifier = Field(alias="from")
    to_node: Identifier = Field(alias="to")
    source: Text = ""

    @model_validator(mode="after")
    def _no_self_loop(self) -> _Edge:
        if self.from_node == self.to_node:
            raise ValueError(f"edge joins node '{self.from_node}' to itself")
        return self


class Feed(_Edge):
    """A utility feed from a substation to a site."""

    kind: Literal["feed"] = "feed"
    capacity_mw: GridMwPositive = Field(description="MW (0-100,000)")


# Physical range of a branch reactance, per unit: PGLib's in-service branches span 1e-5 to 70 in
# magnitude; below 1e-6 the susceptance (1e6 pu) swamps the rest of B in double precision.
REACTANCE_MIN_PU = 1e-6
REACTANCE_MAX_PU = 1e3
PHASE_SHIFT_MAX_DEG = 90.0  # PGLib's largest is 42.8 degrees


class Line(_Edge):
    """A transmission line or transformer between two grid buses (substations or plants)."""

    kind: Literal["line"] = "line"
    rating_mw: Positive = Field(description="normal (continuous) thermal rating, MW")
    emergency_rating_mw: Positive | None = Field(None, description="post-contingency rating, MW; defaults to rating_mw")
    reactance_pu: Annotated[
        float, Field(strict=True, ge=-REACTANCE_MAX_PU, le=REACTANCE_MAX_PU, allow_inf_nan=False)
    ] = Field(
        description=f"series reactance, per unit on the system base: {REACTANCE_MIN_PU:g} <= |x| <= "
        f"{REACTANCE_MAX_PU:g}; negative for series compensation (a series capacitor), as long as the "
        "bus susceptance matrix stays non-singular"
    )
    phase_shift_deg: Annotated[
        float, Field(strict=True, ge=-PHASE_SHIFT_MAX_DEG, le=PHASE_SHIFT_MAX_DEG, allow_inf_nan=False)
    ] = Field(
        0.0,
        description="phase-shifter angle, degrees (MATPOWER SHIFT): the DC flow from -> to is "
        "b (theta_from - theta_to - shift), b = 1/reactance_pu",
    )
    kv: Positive | None = None

    @field_validator("reactance_pu")
    @classmethod
    def _reactance_not_tiny(cls, x: float) -> float:
        if abs(x) < REACTANCE_MIN_PU:
            raise ValueError(
                f"|reactance_pu| must be at least {REACTANCE_MIN_PU:g} (got {x:g}): no physical branch is "
                "that close to a short circuit; merge the two buses instead"
            )
        return x

    @model_validator(mode="after")
    def _emergency_at_least_normal(self) -> Line:
        if self.emergency_rating_mw is not None and self.emergency_rating_mw < self.rating_mw:
            raise ValueError(f"emergency_rating_mw {self.emergency_rating_mw:g} is below rating_mw {self.rating_mw:g}")
        return self


class Fiber(_Edge):
    """A fiber route. Give its length (latency derived) or its one-way latency."""

    kind: Literal["fiber"] = "fiber"
    length_km: Annotated[float, Strict(), Field(gt=0, le=40_000, allow_inf_nan=False)] | None = Field(
        None, description="route length, km (0-40,000)"
    )
    latency_ms: Annotated[float, Strict(), Field(gt=0, le=1_000, allow_inf_nan=False)] | None = Field(
        None, description="one-way latency, ms (0-1,000); overrides length_km"
    )

    @model_validator(mode="after")
    def _length_or_latency(self) -> Fiber:
        if self.length_km is None and self.latency_ms is None:
            raise ValueError("fiber needs length_km or latency_ms")
        return self


Edge = Annotated[Feed | Line | Fiber, Field(discriminator="kind")]

# Which node kinds each edge kind may join (unordered).
EDGE_ENDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "feed": (frozenset({"site"}), frozenset({"substation"})),
    "line": (frozenset({"substation", "plant"}), frozenset({"substation", "plant"})),
    "fiber": (frozenset({"site", "metro", "substation"}), frozenset({"site", "metro", "substation"})),
}


class Topology(_Model):
    nodes: list[Node]
    edges: list[Edge]

    @model_validator(mode="after")
    def _check_graph(self) -> Topology:
        kinds: dict[str, str] = {}
        for i, node in enumerate(self.nodes):
            if node.id in kinds:
                raise ValueError(f"nodes[{i}]: duplicate node id '{node.id}'")
            kinds[node.id] = node.kind
        seen_edges: set[str] = set()
        for i, edge in enumerate(self.edges):
            for end in (edge.from_node, edge.to_node):
                if end not in kinds:
                    raise ValueError(f"edges[{i}]: {edge.kind} refers to unknown node '{end}'")
            a, b = kinds[edge.from_node], kinds[edge.to_node]
            left, right = EDGE_ENDS[edge.kind]
            if not ((a in left and b in right) or (b in left and a in right)):
                raise ValueError(
                    f"edges[{i}]: a {edge.kind} cannot join {a} '{edge.from_node}' to {b} '{edge.to_node}'"
                )
            if edge.id is None:
                base = f"{edge.kind}:{edge.from_node}-{edge.to_node}"
                edge.id, n = base, 2
                while edge.id in seen_edges:
                    edge.id, n = f"{base}:{n}", n + 1
            if edge.id in seen_edges:
                raise ValueError(f"edges[{i}]: duplicate edge id '{edge.id}'")
            seen_edges.add(edge.id)
        fed = {e.from_node for e in self.edges if e.kind == "feed"} | {
            e.to_node for e in self.edges if e.kind == "feed"
        }
        for i, node in enumerate(self.nodes):
            if node.kind == "site" and node.id not in fed:
                raise ValueError(f"nodes[{i}]: site '{node.id}' is not fed by any substation")
        return self

    def of_kind(self, kind: str) -> list:
        return [n for n in self.nodes if n.kind == kind]

    @property
    def sites(self) -> list[Site]:
        return self.of_kind("site")

    @property
    def substations(self) -> list[Substation]:
        return self.of_kind("substation")

    @property
    def plants(self) -> list[Plant]:
        return self.of_kind("plant")

    @property
    def metros(self) -> list[Metro]:
        return self.of_kind("metro")

    def edges_of_kind(self, kind: str) -> list:
        return [e for e in self.edges if e.kind == kind]

    def to_graph(self):
        """This topology as a networkx MultiGraph (see :func:`placer.topology.to_graph`)."""
        from placer.topology import to_graph

        return to_graph(self)


# --------------------------------------------------------------------------- demand


class DemandLine(_Model):
    sku: Identifier
    gpus: Gpus = Field(description="GPUs, whole racks (1-100,000,000)")


class LatencyRequirement(_Model):
    """At least ``min_share`` of the tenant's GPUs sit within ``max_rtt_ms`` round trip of ``metro``."""

    metro: Identifier
    max_rtt_ms: Annotated[float, Strict(), Field(gt=0, le=10_000, allow_inf_nan=False)] = Field(
        description="round trip, ms (0-10,000)"
    )
    min_share: Share


class Tenant(_Model):
    id: Identifier
    name: Text = ""
    lines: list[DemandLine] = Field(min_length=1)
    min_island_gpus: Annotated[int, Strict(), Field(ge=0, le=100_000_000)] = Field(
        0, description="every site the tenant uses holds at least this many of its GPUs (0-100,000,000)"
    )
    max_sites: Annotated[int, Strict(), Field(gt=0, le=1_000_000)] | None = Field(None, description="1-1,000,000")
    latency: list[LatencyRequirement] = Field(default_factory=list)
    allowed_regions: list[Identifier] | None = Field(None, description="regions the tenant may use; all when omitted")

    @property
    def total_gpus(self) -> int:
        return sum(line.gpus for line in self.lines)


class Demand(_Model):
    tenants: list[Tenant] = Field(min_length=1)


# --------------------------------------------------------------------------- policy


class PowerBand(_Model):
    min_mw: Annotated[float, Strict(), Field(ge=0, le=1_000_000, allow_inf_nan=False)] = Field(
        description="MW (0-1,000,000)"
    )
    max_mw: Annotated[float, Strict(), Field(gt=0, le=1_000_000, allow_inf_nan=False)] = Field(
        description="MW (0-1,000,000)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> PowerBand:
        if self.min_mw > self.max_mw:
            raise ValueError(f"min_mw {self.min_mw:g} exceeds max_mw {self.max_mw:g}")
        return self


class CostModel(_Model):
    """How capital and energy become one annual figure."""

    asset_life_years: Annotated[float, Strict(), Field(ge=1, le=100, allow_inf_nan=False)] = Field(
        15.0, description="years (1-100)"
    )
    discount_rate: Annotated[float, Strict(), Field(ge=0, le=1, allow_inf_nan=False)] = Field(
        0.08,
        description="per year (0-1): annualises capex in the single-period view; discounts a rollout's net present value",
    )
    utilization: Share = Field(0.8, description="average IT load over peak, for energy cost (0-1)")
    quarter_length_years: Annotated[float, Strict(), Field(gt=0, le=1, allow_inf_nan=False)] = Field(
        0.25,
        description="length of one rollout period, years (0-1): a rollout's net present value discounts "
        "quarter q by (1 + discount_rate) ** -(q * quarter_length_years) and charges annual costs for this long",
    )

    @property
    def capital_recovery_factor(self) -> float:
        r, n = self.discount_rate, self.asset_life_years
        if r == 0:
            return 1.0 / n
        return r * (1 + r) ** n / ((1 + r) ** n - 1)


class Objective(_Model):
    """Weights on the annualized cost terms and the named penalties (all USD per year)."""

    capex_weight: Weight = Field(1.0, description="0-1,000")
    energy_weight: Weight = Field(1.0, description="0-1,000")
    site_fixed_weight: Weight = Field(1.0, description="0-1,000")
    tenant_site_usd_per_year: UsdPerYear = Field(
        0.0, description="penalty per (tenant, site) pair used: discourages spreading a tenant thin (0-1e11)"
    )
    region_surcharge_usd_per_mw_year: dict[
        Identifier, Annotated[float, Strict(), Field(ge=0, le=1e8, allow_inf_nan=False)]
    ] = Field(
        default_factory=dict,
        description="penalty per MW of facility power by region (e.g. grid-fee differentials), USD per MW-year (0-1e8)",
    )


class SolverOptions(_Model):
    time_limit_s: Annotated[float, Strict(), Field(gt=0, le=1e6, allow_inf_nan=False)] = Field(
        60.0, description="seconds (0-1,000,000)"
    )
    relative_gap: Share = Field(
        1e-4, description="stop when (objective - bound) / objective is below this; the plan reports the gap reached"
    )
    workers: Annotated[int, Strict(), Field(ge=1, le=256)] = Field(2, description="search threads (1-256)")
    deterministic: Flag = Field(
        False,
        description="reproducible even when the time limit stops the search: CP-SAT interleaves its workers and "
        "counts the limit in deterministic time (its own work units, roughly seconds) instead of wall-clock time",
    )
    seed: Annotated[int, Strict(), Field(ge=0, le=2**31 - 1)] = Field(0, description="0-2,147,483,647")
    log_search: Flag = False

    def with_overrides(self, **overrides) -> SolverOptions:
        """These options with ``overrides`` (field name -> value, e.g. from the CLI or
        ``solvers.solve(workers=...)``), validated by the same rules as a scenario file (bounds,
        strict types). Raises :class:`InputError` naming the option: ``--workers: ...``. O(1)."""
        try:
            return SolverOptions.model_validate({**self.model_dump(), **overrides})
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = str(err["loc"][0]) if err.get("loc") else ""
            got = repr(err.get("input"))[:60]
            raise InputError(f"{err['msg']} (got {got})", where=OVERRIDE_OPTIONS.get(field, field)) from None


# The command-line option that overrides each solver option, for error messages.
OVERRIDE_OPTIONS = {
    "time_limit_s": "--time-limit",
    "workers": "--workers",
    "seed": "--seed",
    "deterministic": "--deterministic",
}


class GridPolicy(_Model):
    """Transmission security for the new load (DC power flow), see the README's grid section."""

    security: Literal["none", "n-0", "n-1"] = Field(
        "n-1",
        description="none: ignore line flows; n-0: base case only; n-1: also after every single-line outage",
    )
    monitor_min_kv: Kv | None = Field(None, description="monitor only lines at or above this voltage, kV (0-1,500)")
    monitor_min_loading: Annotated[float, Strict(), Field(ge=0, le=100, allow_inf_nan=False)] | None = Field(
        None,
        description="monitor only lines whose pre-existing worst loading (share of limit) is at least this (0-100)",
    )
    redispatch_down: Flag = Field(
        True,
        description="plants may also lower their pre-existing output (re-dispatch both ways, within "
        "[-pre-existing output, +spare]); false: the new load is served only from spare capacity",
    )
    redispatch_weight: Weight = Field(
        1.0,
        description="weight of the re-dispatch generation cost (plants serving the new load) in the objective (0-1,000)",
    )
    max_iterations: Annotated[int, Strict(), Field(ge=1, le=1000)] = Field(
        50, description="contingency-loop iterations (1-1,000)"
    )


class Policy(_Model):
    power_band_mw: PowerBand
    cost: CostModel = Field(default_factory=CostModel)
    objective: Objective = Field(default_factory=Objective)
    solver: SolverOptions = Field(default_factory=SolverOptions)
    fiber_ms_per_km: Annotated[float, Strict(), Field(ge=0.0033, le=0.1, allow_inf_nan=False)] = Field(
        0.0049, description="one-way fiber latency per km (4.9 us/km; 0.0033, light in vacuum, to 0.1)"
    )
    base_mva: Annotated[float, Strict(), Field(gt=0, le=100_000, allow_inf_nan=False)] = Field(
        100.0, description="system base for per-unit reactances, MVA (0-100,000)"
    )
    grid: GridPolicy = Field(default_factory=GridPolicy)
    onsite_generation_max_mw: GridMw = Field(
        40.0,
        description="on-site generation per site, MW (0-100,000): Korea's Distributed Energy Act defines "
        "distributed generation up to 40 MW",
    )
    direct_supply_regions: list[Identifier] = Field(
        default_factory=list, description="regions whose sites may contract supply directly with a plant"
    )


# --------------------------------------------------------------------------- rollout

PeriodId = Annotated[str, Field(pattern=r"^[0-9]{4}Q[1-4]$", description="a quarter, e.g. 2027Q3")]


class Delivery(_Model):
    """GPUs of one (tenant, SKU) arriving in one period (whole racks)."""

    tenant: Identifier
    sku: Identifier
    period: PeriodId
    gpus: Gpus = Field(description="GPUs, whole racks (1-100,000,000)")
    source: Text = ""


class SiteStage(_Model):
    """From ``period`` on, the site offers these capacities (energization and build-out stages).

    A site with stages has no capacity before its first stage; a site without stages has
    its topology capacities in every period. Cooling defaults to the topology's share of IT.
    """

    site: Identifier
    period: PeriodId
    it_capacity_mw: SiteCoolingMw = Field(description="MW (0-10,000)")
    liquid_cooling_mw: SiteCoolingMw | None = Field(None, description="MW (0-10,000)")
    air_cooling_mw: SiteCoolingMw | None = Field(None, description="MW (0-10,000)")
    source: Text = ""


class GridUpgrade(_Model):
    """From ``period`` on, a substation's headroom, a feed's capacity or a line's ratings rise to these values."""

    element: Identifier = Field(description="a substation id, or a feed or line edge id")
    period: PeriodId
    headroom_mw: GridMw | None = Field(None, description="MW (0-100,000)")
    capacity_mw: GridMwPositive | None = Field(None, description="MW (0-100,000)")
    rating_mw: GridMwPositive | None = Field(None, description="MW (0-100,000)")
    emergency_rating_mw: GridMwPositive | None = Field(None, description="MW (0-100,000)")
    source: Text = ""


OptionKind = Literal["substation_expansion", "feed", "site_stage", "onsite_generation", "direct_supply", "line"]
# Which element each option kind acts on.
OPTION_ELEMENT = {
    "substation_expansion": "substation",
    "feed": "site",
    "site_stage": "site",
    "onsite_generation": "site",
    "direct_supply": "site",
    "line": "line",
}
# The effect fields each kind must (first) and may (second) set.
OPTION_EFFECTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "substation_expansion": (frozenset({"headroom_mw"}), frozenset()),
    "feed": (frozenset({"feed_mw"}), frozenset()),
    "site_stage": (frozenset({"it_capacity_mw"}), frozenset({"liquid_cooling_mw", "air_cooling_mw"})),
    "onsite_generation": (frozenset({"generation_mw", "energy_usd_per_mwh"}), frozenset()),
    "direct_supply": (frozenset({"generation_mw", "energy_usd_per_mwh", "plant"}), frozenset()),
    "line": (frozenset({"rating_mw"}), frozenset({"emergency_rating_mw", "reactance_pu"})),
}


class PowerOption(_Model):
    """An investment the optimiser may make (or, ``forced``, must make) to power the rollout.

    Built by a quarter, it stays built; it is never in service before ``earliest`` (its lead
    time). Its effect adds to the capacities in force from the quarter it is built:

    * ``substation_expansion`` (element: a substation): ``headroom_mw`` more headroom for new load;
    * ``feed`` (element: a site): a new or uprated feed, ``feed_mw`` more facility power the site's
      feeds carry with N-1; the site still draws on its substations in its existing feeds' shares;
    * ``site_stage`` (element: a site): a build-out stage, ``it_capacity_mw`` more IT (cooling given,
      or the topology's cooling per IT MW);
    * ``onsite_generation`` (element: a site): a gas turbine, fuel cell or similar of ``generation_mw``
      (at most ``policy.onsite_generation_max_mw`` per site, all such options together) at
      ``energy_usd_per_mwh``: it serves that much of the site's load without the feeds and the
      substations; once built it runs flat out, so it is built only where the site's load absorbs it;
    * ``direct_supply`` (element: a site in a region of ``policy.direct_supply_regions``): a contract
      and dedicated connection to ``plant`` for ``generation_mw`` at ``energy_usd_per_mwh``, with the
      same effect as on-site generation (not capped by the distributed-generation limit);
    * ``line`` (element: a line): a reinforcement (reconductoring, a rebuilt circuit) to ``rating_mw``
      (and ``emergency_rating_mw``; by default the larger of its emergency rating and ``rating_mw``),
      at the line's own reactance: the no-harm limits of every quarter it is in service use the new
      ratings, while the pre-existing dispatch stays that of the network as it is (the reinforcement
      is for the new load). A change of reactance (``reactance_pu``, which would move every flow) is
      refused: not modelled; a fixed rating change is a ``rollout.upgrades`` entry.

    ``capex_usd`` falls in the quarter it is built, ``fixed_usd_per_year`` in every quarter it is in
    service (the NPV). ``requires``: options built by the same quarter or earlier (a second transformer
    needs the first); ``excludes``: options that may not both be built."""

    id: Identifier
    kind: OptionKind
    element: Identifier = Field(description="the substation, site or line the option acts on")
    earliest: PeriodId = Field(description="the first quarter it can be in service (lead time)")
    capex_usd: Annotated[float, Strict(), Field(ge=0, le=1e11, allow_inf_nan=False)] = Field(
        description="capital cost, USD, in the quarter it is built (0-1e11)"
    )
    fixed_usd_per_year: UsdPerYear = Field(0.0, description="fixed cost while in service, USD per year (0-1e11)")
    forced: Flag = Field(False, description="a fixed upgrade: built in its earliest quarter")
    until: PeriodId | None = Field(
        None,
        description="a bridge: its effect (and fixed and energy cost) ends at the start of this quarter, e.g. a "
        "modular hall or a mobile turbine the permanent stage replaces; in service for good when absent",
    )
    requires: list[Identifier] = Field(default_factory=list, description="options built no later than this one")
    excludes: list[Identifier] = Field(default_factory=list, description="options not built together with this one")
    headroom_mw: GridMwPositive | None = Field(None, description="substation headroom added, MW (0-100,000)")
    feed_mw: GridMwPositive | None = Field(None, description="N-1 feed capacity added at the site, MW (0-100,000)")
    it_capacity_mw: SiteMw | None = Field(None, description="IT capacity added, MW (0-10,000)")
    liquid_cooling_mw: SiteCoolingMw | None = Field(None, description="liquid cooling added, MW (0-10,000)")
    air_cooling_mw: SiteCoolingMw | None = Field(None, description="air cooling added, MW (0-10,000)")
    generation_mw: GridMwPositive | None = Field(None, description="on-site or contracted supply, MW (0-100,000)")
    energy_usd_per_mwh: CostUsdPerMwh | None = Field(None, description="its energy price, USD/MWh (0-10,000)")
    plant: Identifier | None = Field(None, description="the plant a direct supply contract is with")
    rating_mw: GridMwPositive | None = Field(None, description="line rating after reinforcement, MW")
    emergency_rating_mw: GridMwPositive | None = Field(
        None, description="line emergency rating after reinforcement, MW (default: max(its emergency, rating_mw))"
    )
    reactance_pu: Annotated[float, Strict(), Field(ge=REACTANCE_MIN_PU, le=REACTANCE_MAX_PU)] | None = None
    source: Text = ""

    @model_validator(mode="after")
    def _effects(self) -> PowerOption:
        need, may = OPTION_EFFECTS[self.kind]
        fields = ("headroom_mw", "feed_mw", "it_capacity_mw", "liquid_cooling_mw", "air_cooling_mw") + (
            "generation_mw",
            "energy_usd_per_mwh",
            "plant",
            "rating_mw",
            "emergency_rating_mw",
            "reactance_pu",
        )
        given = {f for f in fields if getattr(self, f) is not None}
        if not need <= given:
            raise ValueError(f"a {self.kind} option sets {', '.join(sorted(need))}")
        extra = given - need - may
        if extra:
            raise ValueError(f"a {self.kind} option does not take {', '.join(sorted(extra))}")
        if self.kind == "line" and self.reactance_pu is not None:
            raise ValueError(
                "a line option's reactance_pu is not modelled (a new reactance moves every flow): give the "
                "reinforcement's rating_mw (and emergency_rating_mw) at the line's own reactance"
            )
        return self


class GoLiveWindow(_Model):
    tenant: Identifier
    earliest: PeriodId | None = Field(None, description="no GPU of the tenant goes live before this period")
    latest: PeriodId | None = Field(None, description="every GPU of the tenant is live by this period")


class Rollout(_Model):
    """A quarter-by-quarter deployment: deliveries, site stages, grid upgrades, build rates."""

    periods: list[PeriodId] = Field(min_length=1, description="consecutive quarters, in order")
    deliveries: list[Delivery] = Field(min_length=1)
    site_stages: list[SiteStage] = Field(default_factory=list)
    upgrades: list[GridUpgrade] = Field(default_factory=list)
    build_rate_racks_per_period: dict[Identifier, Annotated[int, Strict(), Field(ge=0, le=1_000_000)]] = Field(
        default_factory=dict, description="racks a site can install per quarter (0-1,000,000); unlimited when absent"
    )
    go_live: list[GoLiveWindow] = Field(default_factory=list)
    options: list[PowerOption] = Field(
        default_factory=list, description="power investments the optimiser chooses, with cost and lead time"
    )
    stranding_usd_per_gpu_quarter: Annotated[float, Strict(), Field(ge=0, le=1e6, allow_inf_nan=False)] | None = Field(
        None,
        description="charge for a GPU delivered but not live for one quarter, USD (0-1e6), for SKUs without "
        "price_usd_per_gpu (those are charged their quarterly capital charge)",
    )

    @model_validator(mode="after")
    def _consecutive(self) -> Rollout:
        for i, (a, b) in enumerate(zip(self.periods, self.periods[1:])):
            ya, qa, yb, qb = int(a[:4]), int(a[5]), int(b[:4]), int(b[5])
            if (yb * 4 + qb) - (ya * 4 + qa) != 1:
                raise ValueError(f"rollout.periods[{i + 1}]: {b} does not follow {a} (quarters must be consecutive)")
        return self


# --------------------------------------------------------------------------- scenario


class Scenario(_Model):
    schema_version: Literal[1] = SCHEMA_VERSION
    name: Identifier
    description: Text = ""
    catalog: list[Sku] = Field(min_length=1)
    topology: Topology
    demand: Demand
    policy: Policy
    rollout: Rollout | None = Field(None, description="multi-period deployment; single period when absent")

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        skus = {}
        for i, sku in enumerate(self.catalog):
            if sku.id in skus:
                raise ValueError(f"catalog[{i}]: duplicate SKU id '{sku.id}'")
            skus[sku.id] = sku
        metros = {m.id for m in self.topology.metros}
        regions = {s.region for s in self.topology.sites}
        tenant_ids: set[str] = set()
        for t, tenant in enumerate(self.demand.tenants):
            where = f"demand.tenants[{t}]"
            if tenant.id in tenant_ids:
                raise ValueError(f"{where}: duplicate tenant id '{tenant.id}'")
            tenant_ids.add(tenant.id)
            seen_skus: set[str] = set()
            for j, line in enumerate(tenant.lines):
                if line.sku not in skus:
                    raise ValueError(f"{where}.lines[{j}].sku: unknown SKU '{line.sku}' (catalog has {sorted(skus)})")
                if line.sku in seen_skus:
                    raise ValueError(f"{where}.lines[{j}].sku: SKU '{line.sku}' listed twice for '{tenant.id}'")
                seen_skus.add(line.sku)
                per_rack = skus[line.sku].gpus_per_rack
                if line.gpus % per_rack:
                    lo = (line.gpus // per_rack) * per_rack
                    valid = [v for v in (lo, lo + per_rack) if v > 0]
                    raise ValueError(
                        f"{where}.lines[{j}].gpus: {line.gpus:,} is not a whole number of '{line.sku}' racks "
                        f"({per_rack} GPUs each); nearest valid counts: {' or '.join(f'{v:,}' for v in valid)}"
                    )
            for j, req in enumerate(tenant.latency):
                if req.metro not in metros:
                    raise ValueError(f"{where}.latency[{j}].metro: unknown metro '{req.metro}'")
            for j, region in enumerate(tenant.allowed_regions or []):
                if region not in regions:
                    raise ValueError(
                        f"{where}.allowed_regions[{j}]: no site is in region '{region}' (regions: {sorted(regions)})"
                    )
        if self.rollout is not None:
            self._check_rollout(skus)
        return self

    def _check_rollout(self, skus: dict[str, Sku]) -> None:
        r = self.rollout
        assert r is not None  # called only for a scenario with a rollout
        periods = set(r.periods)
        demand = {(t.id, ln.sku): ln.gpus for t in self.demand.tenants for ln in t.lines}
        sites = {s.id for s in self.topology.sites}
        delivered: dict[tuple[str, str], int] = {}
        for i, d in enumerate(r.deliveries):
            where = f"rollout.deliveries[{i}]"
            if (d.tenant, d.sku) not in demand:
                raise ValueError(f"{where}: tenant '{d.tenant}' has no demand line for SKU '{d.sku}'")
            if skus[d.sku].price_usd_per_gpu is None and r.stranding_usd_per_gpu_quarter is None:
                k = next(j for j, sku in enumerate(self.catalog) if sku.id == d.sku)
                raise ValueError(
                    f"catalog[{k}].price_usd_per_gpu: SKU '{d.sku}' is delivered in the rollout but has no price, "
                    "and rollout.stranding_usd_per_gpu_quarter is not given: an idle GPU needs a cost"
                )
            if d.period not in periods:
                raise ValueError(f"{where}.period: {d.period} is not one of rollout.periods")
            per_rack = skus[d.sku].gpus_per_rack
            if d.gpus % per_rack:
                lo = d.gpus // per_rack * per_rack
                raise ValueError(
                    f"{where}.gpus: {d.gpus:,} is not a whole number of '{d.sku}' racks ({per_rack} "
                    f"GPUs each); nearest valid counts: {' or '.join(f'{v:,}' for v in (lo, lo + per_rack) if v > 0)}"
                )
            delivered[(d.tenant, d.sku)] = delivered.get((d.tenant, d.sku), 0) + d.gpus
        for key, gpus in demand.items():
            if delivered.get(key, 0) != gpus:
                raise ValueError(
                    f"rollout.deliveries: tenant '{key[0]}' SKU '{key[1]}' delivers "
                    f"{delivered.get(key, 0):,} GPUs in all, but demands {gpus:,}"
                )
        for i, st in enumerate(r.site_stages):
            if st.site not in sites:
                raise ValueError(f"rollout.site_stages[{i}].site: unknown site '{st.site}'")
            if st.period not in periods:
                raise ValueError(f"rollout.site_stages[{i}].period: {st.period} is not one of rollout.periods")
        elements = {b.id: "substation" for b in self.topology.substations}
        elements.update({e.id: e.kind for e in self.topology.edges if e.kind in ("feed", "line") and e.id is not None})
        fields = {"substation": {"headroom_mw"}, "feed": {"capacity_mw"}, "line": {"rating_mw", "emergency_rating_mw"}}
        for i, up in enumerate(r.upgrades):
            where = f"rollout.upgrades[{i}]"
            kind = elements.get(up.element)
            if kind is None:
                raise ValueError(f"{where}.element: '{up.element}' is not a substation, feed or line")
            if up.period not in periods:
                raise ValueError(f"{where}.period: {up.period} is not one of rollout.periods")
            given = {
                f
                for f in ("headroom_mw", "capacity_mw", "rating_mw", "emergency_rating_mw")
                if getattr(up, f) is not None
            }
            if not given or not given <= fields[kind]:
                raise ValueError(f"{where}: a {kind} upgrade sets {' or '.join(sorted(fields[kind]))}")
        for site in r.build_rate_racks_per_period:
            if site not in sites:
                raise ValueError(f"rollout.build_rate_racks_per_period: unknown site '{site}'")
        self._check_options()
        tenants = {t.id for t in self.demand.tenants}
        for i, w in enumerate(r.go_live):
            if w.tenant not in tenants:
                raise ValueError(f"rollout.go_live[{i}].tenant: unknown tenant '{w.tenant}'")
            for f in ("earliest", "latest"):
                if getattr(w, f) is not None and getattr(w, f) not in periods:
                    raise ValueError(f"rollout.go_live[{i}].{f}: {getattr(w, f)} is not one of rollout.periods")

    def _check_options(self) -> None:
        r = self.rollout
        assert r is not None  # called only for a scenario with a rollout
        periods = set(r.periods)
        lines = {e.id: e for e in self.topology.edges_of_kind("line")}
        elements = {
            "substation": {b.id for b in self.topology.substations},
            "site": {s.id for s in self.topology.sites},
            "line": set(lines),
        }
        regions = {s.id: s.region for s in self.topology.sites}
        plants = {p.id for p in self.topology.plants}
        ids = [o.id for o in r.options]
        for i, o in enumerate(r.options):
            where = f"rollout.options[{i}]"
            if ids.index(o.id) != i:
                raise ValueError(f"{where}.id: duplicate option id '{o.id}'")
            kind = OPTION_ELEMENT[o.kind]
            if o.element not in elements[kind]:
                raise ValueError(f"{where}.element: '{o.element}' is not a {kind} (a {o.kind} option acts on one)")
            if o.earliest not in periods:
                raise ValueError(f"{where}.earliest: {o.earliest} is not one of rollout.periods")
            if o.kind == "line":
                line = lines[o.element]
                if o.rating_mw is not None and o.rating_mw < line.rating_mw:
                    raise ValueError(
                        f"{where}.rating_mw: {o.rating_mw:g} MW is below line '{o.element}''s rating "
                        f"{line.rating_mw:g} MW (a reinforcement raises it)"
                    )
                if o.emergency_rating_mw is not None and o.emergency_rating_mw < (
                    line.emergency_rating_mw or line.rating_mw
                ):
                    raise ValueError(
                        f"{where}.emergency_rating_mw: {o.emergency_rating_mw:g} MW is below line "
                        f"'{o.element}''s emergency rating (a reinforcement raises it)"
                    )
            if o.until is not None and (
                o.until not in periods or r.periods.index(o.until) <= r.periods.index(o.earliest)
            ):
                raise ValueError(f"{where}.until: {o.until} is not a rollout period after its earliest {o.earliest}")
            for field in ("requires", "excludes"):
                for j, other in enumerate(getattr(o, field)):
                    if other not in ids or other == o.id:
                        raise ValueError(f"{where}.{field}[{j}]: '{other}' is not another option's id")
            if o.kind == "direct_supply":
                if o.plant not in plants:
                    raise ValueError(f"{where}.plant: '{o.plant}' is not a plant of the topology")
                if regions[o.element] not in self.policy.direct_supply_regions:
                    raise ValueError(
                        f"{where}.element: site '{o.element}' is in region '{regions[o.element]}', where "
                        f"policy.direct_supply_regions ({self.policy.direct_supply_regions}) allows no direct supply"
                    )
        by_id = {o.id: o for o in r.options}
        for i, o in enumerate(r.options):
            for other in r.options[:i]:  # their limits add up as terms: at most one per line may be built
                if o.kind == other.kind == "line" and o.element == other.element:
                    if other.id not in o.excludes and o.id not in other.excludes:
                        raise ValueError(
                            f"rollout.options[{i}].excludes: line options '{other.id}' and '{o.id}' both reinforce "
                            f"line '{o.element}' and must exclude each other"
                        )
            if o.forced:
                for x in o.excludes:
                    if by_id[x].forced:
                        raise ValueError(
                            f"rollout.options[{i}].excludes: forced options '{o.id}' and '{x}' exclude each other"
                        )
            # precedence must be acyclic: follow requires from every option
            seen: set[str] = set()
            stack = list(o.requires)
            while stack:
                nxt = stack.pop()
                if nxt == o.id:
                    raise ValueError(f"rollout.options[{i}].requires: '{o.id}' requires itself through {sorted(seen)}")
                if nxt not in seen:
                    seen.add(nxt)
                    stack.extend(by_id[nxt].requires)

    # ---- lookups -------------------------------------------------------------
    def sku(self, sku_id: str) -> Sku:
        return next(s for s in self.catalog if s.id == sku_id)

    def digest(self) -> str:
        """SHA-256 of the scenario's canonical JSON: the same problem gives the same digest.

        Solver options (time limit, workers, seed) are left out: they change how a plan is
        searched for, not what a valid plan is, and the plan records them itself."""
        data = self.model_dump(mode="json", by_alias=True, exclude={"policy": {"solver"}})
        payload = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def json_schema() -> dict:
    """The scenario file's JSON Schema, generated from the models."""
    return Scenario.model_json_schema(by_alias=True)


__all__ = [
    "Scenario",
    "Sku",
    "Site",
    "Substation",
    "Plant",
    "Metro",
    "Feed",
    "Line",
    "Fiber",
    "Topology",
    "Tenant",
    "DemandLine",
    "LatencyRequirement",
    "Demand",
    "Policy",
    "PowerBand",
    "CostModel",
    "Objective",
    "SolverOptions",
    "GridPolicy",
    "json_schema",
]
