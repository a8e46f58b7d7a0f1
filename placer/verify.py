"""Independent verifier: recompute every constraint and reported figure of a plan.

The verifier takes a :class:`~placer.scenario.Scenario` and a :class:`~placer.plan.Plan`
and recomputes, in floating point and from the rack counts in ``plan.assignments``
alone, every row of the README's constraint table and every figure the plan reports.
It shares no code with the ``solvers`` package (it never imports it): shortest fiber
paths come from its own :mod:`scipy.sparse.csgraph` Dijkstra, not from networkx.

Parameters
----------
scenario : Scenario
    The inputs the plan claims to solve.
plan : Plan
    The plan to check. Only ``assignments[*].racks`` (with tenant, SKU and site) are
    taken as decisions; every other number in the plan is a *reported figure* that
    must match the recomputation.
check_digest : bool, optional (default True)
    Refuse a plan whose ``scenario_digest`` differs from ``scenario.digest()`` by
    raising :class:`~placer.errors.InputError` (the CLI turns it into exit code 2).
    Pass ``False`` to check a plan against an edited scenario on purpose.

Returns
-------
Report
    ``valid`` (no violations), the scenario name and digest, the codes checked, the
    violations found and the wall-clock seconds spent. Each :class:`Violation` has a
    ``code``, the ``entity`` (``site:ulsan``, ``tenant:naver/sku:gb200-nvl72``,
    ``substation:ss-1``, ``feed:<edge id>``, ``tenant:naver/metro:seoul``, ...), the
    ``measured`` value, the ``limit``, the ``unit`` and a one-line ``message``. For
    ``REPORTED_MISMATCH`` ``measured`` is the figure the plan reports and ``limit`` the
    recomputed one.

Check codes
-----------
Structural: ``UNKNOWN_ENTITY``, ``GPU_COUNT``, ``DUPLICATE_ASSIGNMENT``.
Constraints: ``DEMAND``, ``SITE_IT_CAPACITY``, ``LIQUID_COOLING``, ``AIR_COOLING``,
``FEED_CAPACITY``, ``SUBSTATION_HEADROOM``, ``POWER_BAND``, ``GENERATION_ADEQUACY``
(only when the topology has plants), ``LATENCY_SHARE``, ``TRAINING_ISLAND``,
``MAX_SITES``, ``REGION``. Reported figures: ``REPORTED_MISMATCH``.
Grid (:mod:`placer.verify_grid`; only when the topology has lines and
``policy.grid.security`` is not ``none``): ``GRID_MISSING``, ``PREEXISTING_DISPATCH``,
``REDISPATCH_LIMIT``, ``GRID_BALANCE``, ``LINE_OVERLOAD``, ``LINE_OVERLOAD_N1`` (security
``n-1``), ``GRID_COVERAGE`` (the grid section names every monitored line, every plant's
pre-existing dispatch, every overload found, the worst post-outage loadings);
``report.grid`` then summarises the verifier's own power flow (verdict, pre-existing
overloads, the ten most loaded monitored lines).
Rollouts (:mod:`placer.verify_schedule`): ``SCHEDULE_*``, ``PERIOD_*``, ``BUILD_RATE``,
``GO_LIVE_WINDOW``; the per-site critical path to energisation (:mod:`placer.verify_critical_path`):
``CRITICAL_PATH_MISMATCH``.
Layout (:mod:`placer.verify_layout`; plans with ``layout``): ``LAYOUT_*``.
Claims (:mod:`placer.verify_claims`; every plan): ``STATUS_CLAIM``, ``BOUND_CLAIM``,
``GAP_CLAIM``, ``STRANDING_CLAIM``, ``GRID_LOOP_CLAIM`` (plans with a checked grid),
``TIMING_CLAIM``: status, bound and gap agree with each other and with the verifier's own
objective, OPTIMAL is proven within ``summary.relative_gap`` (no looser than the
scenario's), stranded GPU-quarters are recomputed, the contingency loop's counts and all
seconds are consistent.

Field audit (where each plan figure is checked):

* ``summary``: ``status``, ``placement_status``, ``relative_gap`` (STATUS_CLAIM);
  ``bound`` (BOUND_CLAIM); ``gap`` (GAP_CLAIM); ``objective``, ``gpus_placed``,
  ``racks_placed``, ``it_power_mw``, ``facility_power_mw``, ``power_band_mw``
  (REPORTED_MISMATCH); ``stranded_gpu_quarters`` (STRANDING_CLAIM); ``build_seconds``,
  ``solve_seconds`` (TIMING_CLAIM, sign only).
* ``assignments``, ``sites``, ``substations``, ``cost_breakdown``: the constraint codes
  and REPORTED_MISMATCH.
* ``grid`` (:mod:`placer.verify_grid`): decisions (dispatch, re-dispatch) by the grid
  codes, every flow and loading by REPORTED_MISMATCH, completeness by GRID_COVERAGE;
  ``iterations`` and ``constraints_added`` by GRID_LOOP_CLAIM, ``loop_seconds`` and
  iteration seconds by TIMING_CLAIM.
* ``schedule`` (:mod:`placer.verify_schedule`): ``period`` (SCHEDULE_PERIODS),
  ``installed_racks`` (SCHEDULE_* / PERIOD_* / BUILD_RATE / GO_LIVE_WINDOW), ``going_live``,
  ``gpus_delivered``, ``gpus_live``, ``gpus_stranded`` and every ``sites`` row
  (REPORTED_MISMATCH).
* ``critical_path`` (:mod:`placer.verify_critical_path`): every field, recomputed or (its
  ``path`` and ``text``) re-rendered from its held-back quarters (CRITICAL_PATH_MISMATCH).

* ``replan`` (:mod:`placer.verify_replan`): ``moves``, ``racks_moved``, ``racks_kept``,
  ``move_cost_usd``, ``capital_recovery_factor``, ``frozen_sites`` (REPLAN_MOVES, REPLAN_FROZEN;
  against the previous plan when given, and its digests by REPLAN_PREVIOUS); the ``moves`` cost
  term (REPORTED_MISMATCH) and NPV term (NPV_TERM, NPV_PERIOD).
* ``marginal_values`` (:mod:`placer.verify_marginals`): every limit's name, sense, limit and plan
  values, binding, sign and step arithmetic, the checks' flags (MARGINAL_*); the duals themselves
  and ``lp_objective`` come from an LP the verifier does not solve (the re-solve checks are the
  evidence), and ``method``, ``value_unit``, ``text`` and ``skipped`` are words.

Every plan field is recomputed or held to a rule, except provenance, which is taken as
stated: ``summary.solver``, ``engine_choice``, ``solver_version``, ``seed``, ``workers``,
``parameters``, ``notes``, ``interrupted``, the wall-clock seconds themselves (only their
sign and sums are checked), ``grid.enforced_by_solver``, each loop iteration's
intermediate ``objective``, and the free-text ``cost_breakdown[*].description``. The
placement-only optimality of ``summary.placement_status`` on a plan with a grid report is
not checkable either (the plan carries no bound of the placement alone).

Cost terms: ``capex``, ``energy``, ``site_fixed``, ``tenant_spread``,
``region_surcharge``, plus ``redispatch`` exactly when the plan has a grid report and ``moves``
exactly when it is a re-plan (``plan.replan``; the one-off move cost annualised by the capital
recovery factor); ``summary.objective`` is their sum.
Marginal values (:mod:`placer.verify_marginals`; plans with ``marginal_values``):
``MARGINAL_UNKNOWN_LIMIT``, ``MARGINAL_NOT_BINDING``, ``MARGINAL_FIGURES``.
Re-plans (:mod:`placer.verify_replan`): ``REPLAN_PREVIOUS``, ``REPLAN_MOVES``, ``REPLAN_FROZEN``,
recomputed against the previous plan when it is given (``previous=``, ``placer verify --from``).

Tolerances
----------
An upper limit is violated when ``measured > limit + 1e-6 * max(1, |limit|)``, a lower
limit when ``measured < limit - 1e-6 * max(1, |limit|)``; a site is within a latency
limit when its round trip is at most ``max_rtt_ms`` with the same slack. Reported power
figures match when within rel 1e-6 / abs 1e-6 MW, money within rel 1e-6 / abs 1 USD;
counts (racks, GPUs) must match exactly.

Complexity
----------
O(A + S*F + T*S + M*(V + E) log V) time for A assignments, S sites, F feeds per site,
T tenants, M metros with latency requirements, and V nodes / E fiber edges (one
Dijkstra per metro); O(V + E + A) memory. The grid checks add one sparse LU, one LP and
an N-1 screen by rank-one updates, O(L^2) for L lines (see :mod:`placer.verify_grid`).

Examples
--------
>>> from placer.verify import verify
>>> report = verify(scenario, plan)          # doctest: +SKIP
>>> report.valid, [v.code for v in report.violations]  # doctest: +SKIP
(True, [])
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from placer.contract import (  # the contract with the solver; re-exported under these names
    HOURS_PER_YEAR,
    MW_ABS_TOL,
    MW_REL_TOL,
    USD_ABS_TOL,
    USD_REL_TOL,
    limit_slack,
    quarter_discount_factor,
)
from placer.errors import InputError
from placer.plan import Plan
from placer.scenario import Scenario
from placer.verify_claims import CLAIM_CODES, check_claims
from placer.verify_critical_path import CODES as CRITICAL_PATH_CODES
from placer.verify_critical_path import check_critical_path
from placer.verify_grid import GRID_CODES, REDISPATCH_TERM, GridCheck, check_grid, redispatch_cost_usd_per_year
from placer.verify_grid_periods import check_period_grids
from placer.verify_layout import CODES as LAYOUT_CODES
from placer.verify_layout import check_layout
from placer.verify_marginals import CODES as MARGINAL_CODES
from placer.verify_marginals import check_marginals
from placer.verify_npv import CODES as NPV_CODES
from placer.verify_npv import check_npv
from placer.verify_options import CODES as OPTION_CODES
from placer.verify_options import built_options, check_options
from placer.verify_replan import CODES as REPLAN_CODES
from placer.verify_replan import check_replan, moves_usd_per_year
from placer.verify_schedule import CODES as SCHEDULE_CODES
from placer.verify_schedule import capacities_in_period, check_schedule, stranded_gpu_quarters, with_final_capacities
from placer.verify_worth import CODES as WORTH_CODES
from placer.verify_worth import check_worth

COST_TERMS = ("capex", "energy", "site_fixed", "tenant_spread", "region_surcharge")
MOVES_TERM = "moves"  # a re-plan's only: racks moved x one-off cost x CRF, USD per year

# Codes in the order the checks run.
STRUCTURAL_CODES = ("UNKNOWN_ENTITY", "GPU_COUNT", "DUPLICATE_ASSIGNMENT")
CONSTRAINT_CODES = (
    "DEMAND",
    "SITE_IT_CAPACITY",
    "LIQUID_COOLING",
    "AIR_COOLING",
    "FEED_CAPACITY",
    "SUBSTATION_HEADROOM",
    "POWER_BAND",
    "GENERATION_ADEQUACY",
    "LATENCY_SHARE",
    "TRAINING_ISLAND",
    "MAX_SITES",
    "REGION",
)
ALL_CODES = (
    *STRUCTURAL_CODES,
    *CONSTRAINT_CODES,
    *GRID_CODES,
    *SCHEDULE_CODES,
    *NPV_CODES,
    *OPTION_CODES,
    *WORTH_CODES,
    *REPLAN_CODES,
    *MARGINAL_CODES,
    *CRITICAL_PATH_CODES,
    *LAYOUT_CODES,
    "REPORTED_MISMATCH",
    *CLAIM_CODES,
)


class Violation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    entity: str
    measured: float | None = None
    limit: float | None = None
    unit: str = ""
    message: str


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid")

    valid: bool
    scenario: str
    scenario_digest: str
    checks: list[str]
    violations: list[Violation]
    seconds: float
    grid: GridCheck | None = None


# --------------------------------------------------------------------------- tolerances


def exceeds(measured: float, limit: float) -> bool:
    """True when ``measured`` breaks the upper limit ``limit`` beyond tolerance."""
    return measured > limit + limit_slack(limit)


def falls_short(measured: float, limit: float) -> bool:
    """True when ``measured`` breaks the lower limit ``limit`` beyond tolerance."""
    return measured < limit - limit_slack(limit)


def _mw_close(reported: float, expected: float) -> bool:
    return math.isfinite(reported) and math.isclose(reported, expected, rel_tol=MW_REL_TOL, abs_tol=MW_ABS_TOL)


def _usd_close(reported: float, expected: float) -> bool:
    return math.isfinite(reported) and math.isclose(reported, expected, rel_tol=USD_REL_TOL, abs_tol=USD_ABS_TOL)


# --------------------------------------------------------------------------- recomputation


@dataclass
class _Feed:
    id: str
    substation: str
    capacity_mw: float


@dataclass
class _Derived:
    """Everything recomputed from the rack counts (only known, de-duplicated entities)."""

    # (tenant, sku, site) -> racks, summed over duplicate rows
    racks: dict[tuple[str, str, str], int] = field(default_factory=dict)
    site_racks: dict[str, int] = field(default_factory=dict)
    site_gpus: dict[str, int] = field(default_factory=dict)
    it: dict[str, float] = field(default_factory=dict)
    facility: dict[str, float] = field(default_factory=dict)
    liquid: dict[str, float] = field(default_factory=dict)
    air: dict[str, float] = field(default_factory=dict)
    # (tenant, site) -> GPUs, only pairs with GPUs > 0
    tenant_site_gpus: dict[tuple[str, str], int] = field(default_factory=dict)
    feeds: dict[str, list[_Feed]] = field(default_factory=dict)
    substation_load: dict[str, float] = field(default_factory=dict)
    total_it: float = 0.0
    total_facility: float = 0.0
    gpus_placed: int = 0
    racks_placed: int = 0


def site_feeds(scenario: Scenario) -> dict[str, list[_Feed]]:
    """Feeds of every site: ``{site: [(edge id, substation, capacity_mw), ...]}``."""
    site_ids = {s.id for s in scenario.topology.sites}
    out: dict[str, list[_Feed]] = {s: [] for s in site_ids}
    for edge in scenario.topology.edges_of_kind("feed"):
        site, sub = (edge.from_node, edge.to_node) if edge.from_node in site_ids else (edge.to_node, edge.from_node)
        out[site].append(_Feed(edge.id, sub, float(edge.capacity_mw)))
    return out


def feed_n1_capacity_mw(feeds: list[_Feed]) -> float:
    """Facility power the feeds carry after losing the largest one (the capacity itself for one feed).

    The rule is :func:`placer.contract.n1_feed_limit_mw`; this is the verifier's own arithmetic
    of it (``math.fsum`` over its own feed list), kept apart from the solver's on purpose."""
    caps = [f.capacity_mw for f in feeds]
    if not caps:
        return 0.0
    if len(caps) == 1:
        return caps[0]
    return math.fsum(caps) - max(caps)


def _fiber_weight(edge, ms_per_km: float) -> float:
    return float(edge.latency_ms) if edge.latency_ms is not None else float(edge.length_km) * ms_per_km


def fiber_rtt_ms(scenario: Scenario, metros: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Round-trip fiber latency from each metro to every site: ``{metro: {site: rtt_ms}}``.

    Builds a symmetric :class:`scipy.sparse.csr_matrix` over fiber edges only (one-way
    weight = ``latency_ms``, else ``length_km * policy.fiber_ms_per_km``; the minimum over
    parallel fibers) and runs :func:`scipy.sparse.csgraph.dijkstra` from the metros.
    RTT = 2 x the shortest one-way latency; ``inf`` when no fiber path exists.
    """
    topo = scenario.topology
    if metros is None:
        metros = [m.id for m in topo.metros]
    index = {node.id: i for i, node in enumerate(topo.nodes)}
    best: dict[tuple[int, int], float] = {}
    for edge in topo.edges_of_kind("fiber"):
        a, b = index[edge.from_node], index[edge.to_node]
        key = (min(a, b), max(a, b))
        w = _fiber_weight(edge, float(scenario.policy.fiber_ms_per_km))
        if key not in best or w < best[key]:
            best[key] = w
    n = len(index)
    sites = [s.id for s in topo.sites]
    if not metros:
        return {}
    if best:
        rows = np.array([k[0] for k in best], dtype=np.int64)
        cols = np.array([k[1] for k in best], dtype=np.int64)
        data = np.array(list(best.values()), dtype=float)
        # Store both directions explicitly; weights are all > 0 (validated), so no
        # explicit zeros are lost and no duplicates get summed.
        graph = csr_matrix(
            (np.concatenate([data, data]), (np.concatenate([rows, cols]), np.concatenate([cols, rows]))), shape=(n, n)
        )
        dist = dijkstra(graph, directed=True, indices=[index[m] for m in metros])
        dist = np.atleast_2d(dist)
    else:
        dist = np.full((len(metros), n), np.inf)
        for r, m in enumerate(metros):
            dist[r, index[m]] = 0.0
    return {m: {s: 2.0 * float(dist[r, index[s]]) for s in sites} for r, m in enumerate(metros)}


def _cost_terms(scenario: Scenario, d: _Derived, plan: Plan | None = None) -> dict[str, float]:
    sites = {s.id: s for s in scenario.topology.sites}
    obj = scenario.policy.objective
    cost = scenario.policy.cost
    crf = cost.capital_recovery_factor
    used_sites = {s for (_, s) in d.tenant_site_gpus}
    surcharge = obj.region_surcharge_usd_per_mw_year
    terms = {
        "capex": obj.capex_weight * math.fsum(d.it[s] * sites[s].capex_usd_per_mw * crf for s in sites),
        "energy": obj.energy_weight
        * math.fsum(
            d.facility[s] * cost.utilization * HOURS_PER_YEAR * sites[s].energy_price_usd_per_mwh for s in sites
        ),
        "site_fixed": obj.site_fixed_weight * math.fsum(sites[s].fixed_usd_per_year for s in sorted(used_sites)),
        "tenant_spread": obj.tenant_site_usd_per_year * len(d.tenant_site_gpus),
        "region_surcharge": math.fsum(d.facility[s] * surcharge.get(sites[s].region, 0.0) for s in sites),
    }
    redispatch = None if plan is None else redispatch_cost_usd_per_year(scenario, plan)
    if redispatch is not None:
        terms[REDISPATCH_TERM] = redispatch
    if plan is not None and plan.replan is not None:  # a re-plan's annualised move cost (REPLAN_MOVES checks the moves)
        terms[MOVES_TERM] = moves_usd_per_year(scenario, plan)
    return terms


# --------------------------------------------------------------------------- entities


def _ts(tenant: str, sku: str) -> str:
    return f"tenant:{tenant}/sku:{sku}"


def _tks(tenant: str, sku: str, site: str) -> str:
    return f"tenant:{tenant}/sku:{sku}/site:{site}"


class _Checker:
    def __init__(self, scenario: Scenario, plan: Plan):
        self.scenario, self.plan = scenario, plan
        self.violations: list[Violation] = []
        self.sites = {s.id: s for s in scenario.topology.sites}
        self.skus = {k.id: k for k in scenario.catalog}
        self.tenants = {t.id: t for t in scenario.demand.tenants}
        self.substations = {b.id: b for b in scenario.topology.substations}
        self.d = _Derived()
        self.known_rows: list[int] = []  # indices of assignments naming known entities
        self.objective_usd = math.nan  # the verifier's own objective of the racks, set by check_reported
        self.redispatch_by_quarter: list[float | None] | None = None  # a rollout's, USD/yr per quarter (grid checks)

    def add(self, code: str, entity: str, message: str, measured=None, limit=None, unit: str = "") -> None:
        self.violations.append(
            Violation(
                code=code,
                entity=entity,
                measured=None if measured is None else float(measured),
                limit=None if limit is None else float(limit),
                unit=unit,
                message=message,
            )
        )

    # ---- structural ----------------------------------------------------------
    def check_unknown_entity(self) -> None:
        for i, a in enumerate(self.plan.assignments):
            ok = True
            for kind, name, table in (
                ("tenant", a.tenant, self.tenants),
                ("sku", a.sku, self.skus),
                ("site", a.site, self.sites),
            ):
                if name not in table:
                    ok = False
                    self.add(
                        "UNKNOWN_ENTITY",
                        f"{kind}:{name}",
                        f"assignments[{i}] names unknown {kind} '{name}'",
                    )
            if ok:
                self.known_rows.append(i)

    def check_gpu_count(self) -> None:
        for i in self.known_rows:
            a = self.plan.assignments[i]
            expected = a.racks * self.skus[a.sku].gpus_per_rack
            if a.gpus != expected:
                self.add(
                    "GPU_COUNT",
                    _tks(a.tenant, a.sku, a.site),
                    f"assignments[{i}] reports {a.gpus:,} GPUs for {a.racks:,} racks of '{a.sku}' "
                    f"({self.skus[a.sku].gpus_per_rack} GPUs each = {expected:,})",
                    measured=a.gpus,
                    limit=expected,
                    unit="GPUs",
                )

    def check_duplicate_assignment(self) -> None:
        first: dict[tuple[str, str, str], int] = {}
        for i, a in enumerate(self.plan.assignments):
            key = (a.tenant, a.sku, a.site)
            if key in first:
                self.add(
                    "DUPLICATE_ASSIGNMENT",
                    _tks(*key),
                    f"assignments[{i}] repeats assignments[{first[key]}] for the same (tenant, sku, site); "
                    "their racks are added up",
                )
            else:
                first[key] = i

    # ---- recomputation ---------------------------------------------------------
    def derive(self) -> None:
        d = self.d
        for i in self.known_rows:
            a = self.plan.assignments[i]
            key = (a.tenant, a.sku, a.site)
            d.racks[key] = d.racks.get(key, 0) + int(a.racks)
        it_terms: dict[str, list[float]] = defaultdict(list)
        liq_terms: dict[str, list[float]] = defaultdict(list)
        air_terms: dict[str, list[float]] = defaultdict(list)
        d.site_racks = {s: 0 for s in self.sites}
        d.site_gpus = {s: 0 for s in self.sites}
        for (t, k, s), racks in d.racks.items():
            sku = self.skus[k]
            it_mw = racks * sku.it_kw_per_rack / 1000.0
            it_terms[s].append(it_mw)
            liq_terms[s].append(racks * sku.it_kw_per_rack * sku.liquid_share / 1000.0)
            air_terms[s].append(racks * sku.it_kw_per_rack * (1.0 - sku.liquid_share) / 1000.0)
            gpus = racks * sku.gpus_per_rack
            d.site_racks[s] += racks
            d.site_gpus[s] += gpus
            if gpus > 0:
                d.tenant_site_gpus[(t, s)] = d.tenant_site_gpus.get((t, s), 0) + gpus
        for s, site in self.sites.items():
            d.it[s] = math.fsum(it_terms[s])
            d.facility[s] = d.it[s] * site.pue
            d.liquid[s] = math.fsum(liq_terms[s])
            d.air[s] = math.fsum(air_terms[s])
        d.total_it = math.fsum(d.it.values())
        d.total_facility = math.fsum(d.facility.values())
        d.gpus_placed = sum(d.site_gpus.values())
        d.racks_placed = sum(d.site_racks.values())
        d.feeds = site_feeds(self.scenario)
        shares: dict[str, list[float]] = defaultdict(list)
        # placer.contract.feed_shares (in proportion to capacity), in the verifier's own arithmetic
        for s, feeds in d.feeds.items():
            total_cap = math.fsum(f.capacity_mw for f in feeds)
            for f in feeds:
                shares[f.substation].append(d.facility[s] * f.capacity_mw / total_cap)
        d.substation_load = {b: math.fsum(shares[b]) for b in self.substations}

    # ---- constraints -----------------------------------------------------------
    def check_demand(self) -> None:
        placed: dict[tuple[str, str], int] = defaultdict(int)
        for (tid, k, _s), racks in self.d.racks.items():
            placed[(tid, k)] += racks * self.skus[k].gpus_per_rack
        for t in self.scenario.demand.tenants:
            asked = {line.sku for line in t.lines}
            for line in t.lines:
                got = placed.get((t.id, line.sku), 0)
                if got != line.gpus:
                    self.add(
                        "DEMAND",
                        _ts(t.id, line.sku),
                        f"tenant '{t.id}' gets {got:,} '{line.sku}' GPUs but demands {line.gpus:,}",
                        measured=got,
                        limit=line.gpus,
                        unit="GPUs",
                    )
            for (tid, k), got in sorted(placed.items()):
                if tid == t.id and k not in asked and got > 0:
                    self.add(
                        "DEMAND",
                        _ts(t.id, k),
                        f"tenant '{t.id}' gets {got:,} '{k}' GPUs but did not ask for that SKU",
                        measured=got,
                        limit=0,
                        unit="GPUs",
                    )

    def _site_limit(self, code: str, what: str, values: dict[str, float], attr: str) -> None:
        for s, site in self.sites.items():
            limit = float(getattr(site, attr))
            if exceeds(values[s], limit):
                self.add(
                    code,
                    f"site:{s}",
                    f"site '{s}' {what} {values[s]:.6g} MW exceeds {attr} {limit:.6g} MW",
                    measured=values[s],
                    limit=limit,
                    unit="MW",
                )

    def check_site_it_capacity(self) -> None:
        self._site_limit("SITE_IT_CAPACITY", "IT load", self.d.it, "it_capacity_mw")

    def check_liquid_cooling(self) -> None:
        self._site_limit("LIQUID_COOLING", "liquid heat", self.d.liquid, "liquid_cooling_mw")

    def check_air_cooling(self) -> None:
        self._site_limit("AIR_COOLING", "air heat", self.d.air, "air_cooling_mw")

    def check_feed_capacity(self) -> None:
        for s in self.sites:
            feeds, load = self.d.feeds[s], self.d.facility[s]
            if len(feeds) == 1:
                f = feeds[0]
                if exceeds(load, f.capacity_mw):
                    self.add(
                        "FEED_CAPACITY",
                        f"feed:{f.id}",
                        f"site '{s}' draws {load:.6g} MW facility power through its only feed '{f.id}' "
                        f"of {f.capacity_mw:.6g} MW",
                        measured=load,
                        limit=f.capacity_mw,
                        unit="MW",
                    )
                continue
            total = math.fsum(f.capacity_mw for f in feeds)
            for f in feeds:
                rest = math.fsum(g.capacity_mw for g in feeds if g is not f)
                if exceeds(load, rest):
                    self.add(
                        "FEED_CAPACITY",
                        f"feed:{f.id}",
                        f"site '{s}' needs {load:.6g} MW facility power but after losing feed '{f.id}' "
                        f"({f.capacity_mw:.6g} MW) its other feeds carry {rest:.6g} MW (N-1; all feeds {total:.6g} MW)",
                        measured=load,
                        limit=rest,
                        unit="MW",
                    )

    def check_substation_headroom(self) -> None:
        for b, sub in self.substations.items():
            load, limit = self.d.substation_load[b], float(sub.headroom_mw)
            if exceeds(load, limit):
                self.add(
                    "SUBSTATION_HEADROOM",
                    f"substation:{b}",
                    f"substation '{b}' carries {load:.6g} MW of new facility load, headroom {limit:.6g} MW",
                    measured=load,
                    limit=limit,
                    unit="MW",
                )

    def check_power_band(self) -> None:
        band = self.scenario.policy.power_band_mw
        total = self.d.total_facility
        if falls_short(total, band.min_mw):
            self.add(
                "POWER_BAND",
                "power_band",
                f"total facility power {total:.6g} MW is below the band minimum {band.min_mw:.6g} MW",
                measured=total,
                limit=band.min_mw,
                unit="MW",
            )
        if exceeds(total, band.max_mw):
            self.add(
                "POWER_BAND",
                "power_band",
                f"total facility power {total:.6g} MW is above the band maximum {band.max_mw:.6g} MW",
                measured=total,
                limit=band.max_mw,
                unit="MW",
            )

    def check_generation_adequacy(self) -> None:
        plants = self.scenario.topology.plants
        spare = math.fsum(p.spare_mw for p in plants)
        total = self.d.total_facility
        if exceeds(total, spare):
            self.add(
                "GENERATION_ADEQUACY",
                "plants",
                f"total facility power {total:.6g} MW exceeds the plants' spare capacity {spare:.6g} MW "
                f"({len(plants)} plants)",
                measured=total,
                limit=spare,
                unit="MW",
            )

    def check_latency_share(self) -> None:
        reqs = [(t, r) for t in self.scenario.demand.tenants for r in t.latency]
        if not reqs:
            return
        rtt = fiber_rtt_ms(self.scenario, sorted({r.metro for _, r in reqs}))
        for t, r in reqs:
            per_site = {s: g for (tid, s), g in self.d.tenant_site_gpus.items() if tid == t.id}
            total = sum(per_site.values())
            if total == 0:
                continue  # nothing placed: DEMAND reports it
            near = sum(g for s, g in per_site.items() if not exceeds(rtt[r.metro][s], r.max_rtt_ms))
            share = near / total
            if falls_short(share, r.min_share):
                self.add(
                    "LATENCY_SHARE",
                    f"tenant:{t.id}/metro:{r.metro}",
                    f"tenant '{t.id}' has {near:,} of {total:,} GPUs ({share:.4%}) within {r.max_rtt_ms:g} ms RTT "
                    f"of '{r.metro}', needs {r.min_share:.4%}",
                    measured=share,
                    limit=r.min_share,
                    unit="share",
                )

    def check_training_island(self) -> None:
        for (t, s), gpus in sorted(self.d.tenant_site_gpus.items()):
            need = self.tenants[t].min_island_gpus
            if gpus < need:
                self.add(
                    "TRAINING_ISLAND",
                    f"tenant:{t}/site:{s}",
                    f"tenant '{t}' has {gpus:,} GPUs at site '{s}', below its training island of {need:,}",
                    measured=gpus,
                    limit=need,
                    unit="GPUs",
                )

    def check_max_sites(self) -> None:
        used: dict[str, set[str]] = defaultdict(set)
        for tid, s in self.d.tenant_site_gpus:
            used[tid].add(s)
        for t in self.scenario.demand.tenants:
            n = len(used[t.id])
            if t.max_sites is not None and n > t.max_sites:
                self.add(
                    "MAX_SITES",
                    f"tenant:{t.id}",
                    f"tenant '{t.id}' uses {n} sites ({', '.join(sorted(used[t.id]))}), at most {t.max_sites} allowed",
                    measured=n,
                    limit=t.max_sites,
                    unit="sites",
                )

    def check_region(self) -> None:
        for t, s in sorted(self.d.tenant_site_gpus):
            allowed = self.tenants[t].allowed_regions
            region = self.sites[s].region
            if allowed is not None and region not in allowed:
                self.add(
                    "REGION",
                    f"tenant:{t}/site:{s}",
                    f"tenant '{t}' uses site '{s}' in region '{region}', allowed regions: {', '.join(allowed)}",
                )

    # ---- reported figures ---------------------------------------------------------
    def _mismatch(self, entity: str, what: str, reported, expected, unit: str) -> None:
        self.add(
            "REPORTED_MISMATCH",
            entity,
            f"{what}: plan reports {reported!r}, recomputed {expected!r} {unit}".rstrip(),
            measured=reported,
            limit=expected,
            unit=unit,
        )

    def _cmp_mw(self, entity: str, what: str, reported: float, expected: float) -> None:
        if not _mw_close(reported, expected):
            self._mismatch(entity, what, reported, expected, "MW")

    def _cmp_int(self, entity: str, what: str, reported: int, expected: int, unit: str) -> None:
        if reported != expected:
            self._mismatch(entity, what, reported, expected, unit)

    def check_reported(self) -> None:
        d, plan = self.d, self.plan
        # per assignment
        for i in self.known_rows:
            a = plan.assignments[i]
            sku, site = self.skus[a.sku], self.sites[a.site]
            it_mw = a.racks * sku.it_kw_per_rack / 1000.0
            ent = _tks(a.tenant, a.sku, a.site)
            self._cmp_mw(ent, f"assignments[{i}].it_power_mw", a.it_power_mw, it_mw)
            self._cmp_mw(ent, f"assignments[{i}].facility_power_mw", a.facility_power_mw, it_mw * site.pue)

        # per site
        seen: set[str] = set()
        for j, row in enumerate(plan.sites):
            ent = f"site:{row.site}"
            if row.site not in self.sites:
                self.add("UNKNOWN_ENTITY", ent, f"sites[{j}] names unknown site '{row.site}'")
                continue
            if row.site in seen:
                self.add("REPORTED_MISMATCH", ent, f"sites[{j}]: site '{row.site}' is reported twice")
                continue
            seen.add(row.site)
            s, site = row.site, self.sites[row.site]
            self._cmp_int(ent, f"sites[{s}].racks", row.racks, d.site_racks[s], "racks")
            self._cmp_int(ent, f"sites[{s}].gpus", row.gpus, d.site_gpus[s], "GPUs")
            for name, expected in (
                ("it_power_mw", d.it[s]),
                ("facility_power_mw", d.facility[s]),
                ("liquid_heat_mw", d.liquid[s]),
                ("air_heat_mw", d.air[s]),
                ("it_capacity_mw", site.it_capacity_mw),
                ("liquid_cooling_mw", site.liquid_cooling_mw),
                ("air_cooling_mw", site.air_cooling_mw),
                ("feed_n1_capacity_mw", feed_n1_capacity_mw(d.feeds[s])),
            ):
                self._cmp_mw(ent, f"sites[{s}].{name}", getattr(row, name), float(expected))
        for s in self.sites:
            if d.site_racks[s] > 0 and s not in seen:
                self.add(
                    "REPORTED_MISMATCH",
                    f"site:{s}",
                    f"site '{s}' holds {d.site_racks[s]:,} racks but has no entry in the plan's sites",
                    measured=None,
                    limit=d.site_racks[s],
                    unit="racks",
                )

        # per substation
        seen = set()
        for j, sub_row in enumerate(plan.substations):
            ent = f"substation:{sub_row.substation}"
            if sub_row.substation not in self.substations:
                self.add("UNKNOWN_ENTITY", ent, f"substations[{j}] names unknown substation '{sub_row.substation}'")
                continue
            if sub_row.substation in seen:
                self.add("REPORTED_MISMATCH", ent, f"substations[{j}]: '{sub_row.substation}' is reported twice")
                continue
            seen.add(sub_row.substation)
            b = sub_row.substation
            self._cmp_mw(ent, f"substations[{b}].load_mw", sub_row.load_mw, d.substation_load[b])
            self._cmp_mw(
                ent, f"substations[{b}].headroom_mw", sub_row.headroom_mw, float(self.substations[b].headroom_mw)
            )
        for b in self.substations:
            if b not in seen and not _mw_close(0.0, d.substation_load[b]):
                self.add(
                    "REPORTED_MISMATCH",
                    f"substation:{b}",
                    f"substation '{b}' carries {d.substation_load[b]:.6g} MW "
                    "but has no entry in the plan's substations",
                    measured=None,
                    limit=d.substation_load[b],
                    unit="MW",
                )

        # summary
        sm = plan.summary
        self._cmp_int("summary", "summary.gpus_placed", sm.gpus_placed, d.gpus_placed, "GPUs")
        self._cmp_int("summary", "summary.racks_placed", sm.racks_placed, d.racks_placed, "racks")
        self._cmp_mw("summary", "summary.it_power_mw", sm.it_power_mw, d.total_it)
        self._cmp_mw("summary", "summary.facility_power_mw", sm.facility_power_mw, d.total_facility)
        band = self.scenario.policy.power_band_mw
        for k, (rep, exp) in enumerate(zip(sm.power_band_mw, (band.min_mw, band.max_mw))):
            self._cmp_mw("summary", f"summary.power_band_mw[{k}]", rep, float(exp))

        # cost terms
        expected_terms = _cost_terms(self.scenario, d, plan)
        reported: dict[str, float] = {}
        for j, term in enumerate(plan.cost_breakdown):
            ent = f"cost:{term.name}"
            if term.name not in expected_terms:
                if term.name == REDISPATCH_TERM:
                    message = f"cost_breakdown[{j}] has a '{REDISPATCH_TERM}' term, but the plan has no grid report"
                else:
                    message = (
                        f"cost_breakdown[{j}] is an unknown term '{term.name}' "
                        f"(known: {', '.join((*COST_TERMS, REDISPATCH_TERM, MOVES_TERM))})"
                    )
                self.add("REPORTED_MISMATCH", ent, message, measured=term.usd_per_year, unit="USD/year")
                continue
            if term.name in reported:
                self.add("REPORTED_MISMATCH", ent, f"cost_breakdown[{j}]: term '{term.name}' is reported twice")
                continue
            reported[term.name] = term.usd_per_year
            if not _usd_close(term.usd_per_year, expected_terms[term.name]):
                self._mismatch(
                    ent, f"cost_breakdown[{term.name}]", term.usd_per_year, expected_terms[term.name], "USD/year"
                )
        for name in expected_terms:
            if name not in reported:
                self.add(
                    "REPORTED_MISMATCH",
                    f"cost:{name}",
                    f"cost term '{name}' is missing from cost_breakdown (recomputed {expected_terms[name]:.2f} USD/year)",
                    measured=None,
                    limit=expected_terms[name],
                    unit="USD/year",
                )
        if self.scenario.rollout is None:
            total, what, unit = math.fsum(expected_terms.values()), "summary.objective (sum of cost terms)", "USD/year"
        else:
            # a rollout's objective is its NPV (USD); cost_breakdown is the final build-out's run rate
            # each quarter's re-dispatch, from its own grid report (the last quarter's is plan.grid)
            r = self.scenario.rollout
            assert r is not None, "a rollout has its periods"
            known: list[float | None] = (
                self.redispatch_by_quarter
                if self.redispatch_by_quarter is not None  # (None: no schedule naming the quarters to price)
                else [None] * len(r.periods)
            )
            by_quarter = [v if v is not None else self._reported_redispatch(q) for q, v in enumerate(known)]
            npv, found = check_npv(self.scenario, plan, by_quarter)
            for f in found:
                self.add(f.code, f.entity, f.message, measured=f.measured, limit=f.limit, unit=f.unit)
            assert npv is not None, "a rollout has an NPV"
            total, what, unit = npv, "summary.objective (the recomputed NPV)", "USD"
        self.objective_usd = total
        if not _usd_close(sm.objective, total):
            self._mismatch("summary", what, sm.objective, total, unit)
        if self.scenario.rollout is None:
            for f in check_npv(self.scenario, plan, ())[1]:
                self.add(f.code, f.entity, f.message, measured=f.measured, limit=f.limit, unit=f.unit)

    def _reported_redispatch(self, q: int) -> float:
        """Quarter q's re-dispatch cost (USD per year) as the plan's NPV states it: used where the
        quarter's grid report is missing (GRID_MISSING says so), so that one fault is one finding."""
        npv = self.plan.npv
        if npv is None or q >= len(npv.periods):
            return 0.0
        period = npv.periods[q]
        years = self.scenario.policy.cost.quarter_length_years
        d = quarter_discount_factor(q, self.scenario.policy.cost.discount_rate, years)
        return period.terms_usd.get(REDISPATCH_TERM, 0.0) / (d * years)


def verify(scenario: Scenario, plan: Plan, *, check_digest: bool = True, previous: Plan | None = None) -> Report:
    """Check ``plan`` against ``scenario``; see the module docstring. ``previous``: the plan a re-plan
    started from (``solve --from``), against which its moves and frozen sites are recomputed."""
    start = time.perf_counter()
    digest = scenario.digest()
    if check_digest and plan.scenario_digest != digest:
        raise InputError(
            f"plan was solved for scenario digest {plan.scenario_digest}, not this scenario ({digest})",
            where="scenario_digest",
        )
    # A rollout's final build-out is judged against the capacities in service in its last period.
    built = built_options(scenario, plan)
    c = _Checker(with_final_capacities(scenario, built), plan)
    checks: list[str] = []

    c.check_unknown_entity()
    c.check_gpu_count()
    c.check_duplicate_assignment()
    checks += STRUCTURAL_CODES
    c.derive()
    for code, fn in (
        ("DEMAND", c.check_demand),
        ("SITE_IT_CAPACITY", c.check_site_it_capacity),
        ("LIQUID_COOLING", c.check_liquid_cooling),
        ("AIR_COOLING", c.check_air_cooling),
        ("FEED_CAPACITY", c.check_feed_capacity),
        ("SUBSTATION_HEADROOM", c.check_substation_headroom),
        ("POWER_BAND", c.check_power_band),
        ("GENERATION_ADEQUACY", c.check_generation_adequacy),
        ("LATENCY_SHARE", c.check_latency_share),
        ("TRAINING_ISLAND", c.check_training_island),
        ("MAX_SITES", c.check_max_sites),
        ("REGION", c.check_region),
    ):
        if code == "GENERATION_ADEQUACY" and not scenario.topology.plants:
            continue
        fn()
        checks.append(code)
    # the grid carries each site's load less the on-site or contracted supply built there
    final = capacities_in_period(scenario, scenario.rollout.periods[-1], built) if scenario.rollout else None
    onsite = final.onsite if final is not None else {}
    draw = {s: max(0.0, mw - onsite.get(s, 0.0)) for s, mw in c.d.facility.items()}
    grid_codes, grid = check_grid(c.scenario, plan, draw, c.add, final.line_limits if final is not None else None)
    checks += grid_codes
    period_codes, c.redispatch_by_quarter = check_period_grids(scenario, plan, built, c.add)
    checks += [code for code in period_codes if code not in checks]
    if scenario.rollout is not None:
        for f in check_schedule(scenario, plan):
            c.add(f.code, f.entity, f.message, measured=f.measured, limit=f.limit, unit=f.unit)
        checks += SCHEDULE_CODES
        for g in check_options(scenario, plan):
            c.add(g.code, g.entity, g.message, measured=g.measured, limit=g.limit, unit=g.unit)
        if scenario.rollout.options or plan.investments:
            checks += OPTION_CODES
        if plan.build_first is not None or any(inv.worth is not None for inv in plan.investments or []):
            for h in check_worth(scenario, plan):
                c.add(h.code, h.entity, h.message)
            checks += WORTH_CODES
    if plan.marginal_values is not None:
        for m in check_marginals(
            c.scenario,
            plan,
            c.d,
            lambda s: feed_n1_capacity_mw(c.d.feeds[s]),
            lambda metros: fiber_rtt_ms(c.scenario, metros),
            None if grid is None else grid.most_loaded,
        ):
            c.add(m.code, m.entity, m.message, measured=m.measured, limit=m.limit, unit=m.unit)
        checks += MARGINAL_CODES
    if plan.replan is not None or previous is not None:
        for m in check_replan(scenario, plan, previous):
            c.add(m.code, m.entity, m.message, measured=m.measured, limit=m.limit, unit=m.unit)
        checks += REPLAN_CODES if previous is not None else ["REPLAN_MOVES", "REPLAN_FROZEN"]
    for f in check_critical_path(scenario, plan):  # a single-period plan must not claim one either
        c.add(f.code, f.entity, f.message)
    checks += CRITICAL_PATH_CODES
    checks += check_layout(scenario, plan, c.add)  # plan.layout (placer.verify_layout): none when absent
    c.check_reported()
    checks += NPV_CODES if scenario.rollout is not None else ["OBJECTIVE_UNIT", "NPV_MISSING"]
    checks.append("REPORTED_MISMATCH")
    checks += check_claims(
        scenario,
        plan,
        c.objective_usd,
        stranded_gpu_quarters(scenario, plan),
        c.add,
        grid_rows=None if grid is None else (grid.monitored_lines, grid.outages_screened),
    )

    return Report(
        valid=not c.violations,
        scenario=scenario.name,
        scenario_digest=digest,
        checks=checks,
        violations=c.violations,
        seconds=time.perf_counter() - start,
        grid=grid,
    )


__all__ = [
    "Violation",
    "Report",
    "verify",
    "fiber_rtt_ms",
    "feed_n1_capacity_mw",
    "site_feeds",
    "exceeds",
    "falls_short",
    "ALL_CODES",
    "COST_TERMS",
    "GRID_CODES",
    "REDISPATCH_TERM",
]
