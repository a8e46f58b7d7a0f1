"""Grid checks of the verifier: the plan's DC power flow, recomputed from the scenario.

:func:`check_grid` is called by :func:`placer.verify.verify`. Like the rest of the
verifier it never imports ``solvers/``: flows come from :mod:`placer.grid_check` (a
direct sparse solve of the bus susceptance system; post-outage flows by Sherman-Morrison
rank-one updates of that matrix, cross-checked against rebuild-and-resolve in the tests),
and the pre-existing state from the verifier's own bus-angle OPF
(:func:`placer.grid_check.preexisting_opf`).

What the plan decides and what it reports
------------------------------------------
The decisions are the rack counts (hence the facility MW per site), the pre-existing
dispatch ``grid.preexisting.dispatch_mw`` and the re-dispatch ``grid.redispatch[*].mw``
(plants not listed: 0). Everything else in ``plan.grid`` is a reported figure.

* New load: each site's facility MW (IT x PUE from its racks) drawn from the substations
  feeding it in proportion to feed capacity (the SUBSTATION_HEADROOM rule).
* Pre-existing state (``PREEXISTING_DISPATCH``): the reported dispatch must lie in
  [0, capacity_mw - spare_mw] per plant, balance the existing load per connected
  component, keep every line within rating_mw in the base case (unless the verifier's own
  OPF finds that impossible, i.e. the state is ``relaxed``; the plan's ``relaxed`` flag
  must agree), and cost the same as the verifier's OPF optimum within 1e-6 relative +
  1e-6 USD/h absolute (relaxed: cost plus OVERLOAD_PENALTY_USD_PER_MWH x total overload).
  LP optima need not be unique, so the dispatch itself is not compared. The reported
  dispatch then gives the reference flows ``f0`` (base) and ``f0^k`` (after outage k).
* Re-dispatch (``REDISPATCH_LIMIT``): each plant's re-dispatch in [0, spare_mw], or in
  [-its reported pre-existing output, spare_mw] when ``policy.grid.redispatch_down``.
  ``GRID_BALANCE``: per connected component, re-dispatch equals the new load there
  (1e-6 relative, 1e-6 MW absolute).
* The plan's injections ``p = dispatch + redispatch - existing load - new load`` and flows
  ``f`` (phase shifters and negative reactances included, see :mod:`placer.grid_check`; a
  scenario whose susceptance matrix is singular, in the base case or after an outage, is
  refused with an InputError). ``LINE_OVERLOAD``: a monitored line with ``|f_l| > max(rating_mw, |f0_l|)``.
  ``LINE_OVERLOAD_N1`` (security ``n-1``): after the outage of any line k that islands no
  bus, a monitored line l != k with ``|f_l^k| > max(emergency_rating_mw, |f0_l^k|)``
  (the no-harm rule). Islanding outages (bridges) are skipped and must be listed in
  ``grid.bridges``.
* Monitored lines: all; with ``policy.grid.monitor_min_kv`` only lines with kv >= it
  (lines without kv stay monitored); with ``monitor_min_loading`` also only lines whose
  pre-existing worst loading -- the max of ``|f0_l| / rating_mw`` and, under ``n-1``,
  every ``|f0_l^k| / emergency_rating_mw`` (k a non-islanding outage, k != l) -- is at
  least that share. Under ``n-0`` outages are not part of the criterion, so only the
  base-case loading counts.
* ``REPORTED_MISMATCH`` (1e-6 relative / 1e-6 MW absolute): ``security``, ``base_mva``,
  ``new_load_mw`` and ``injections_mw`` per bus (missing = 0), every
  ``lines`` entry (flow, limit, rating, loading), every ``worst_contingencies`` and
  ``violations`` entry (recomputed for the named outage and line; outage ``-`` is the
  base case), the flows and ratings in ``preexisting.base_overloads`` / ``n1_overloads``,
  ``preexisting.cost_usd_per_h``, the re-dispatch rows' ``spare_mw`` and
  ``cost_usd_per_mwh``, ``bridges`` (security ``n-1``) and the ``n_minus_1`` verdict:
  ``secure`` iff there is no LINE_OVERLOAD / LINE_OVERLOAD_N1 violation.
* ``GRID_COVERAGE``: the grid section names everything it must. ``grid.lines`` holds
  every monitored line exactly once (unmonitored lines may be listed, and are then
  checked like the others); ``grid.monitored_lines`` is the number of monitored lines;
  ``grid.preexisting.dispatch_mw`` names every plant of the scenario (a plant left out is
  read as 0 MW and reported); ``grid.violations`` lists exactly the no-harm violations
  the verifier finds (LINE_OVERLOAD / LINE_OVERLOAD_N1 pairs, base case as outage ``-``);
  ``grid.worst_contingencies`` is worst first and, under ``n-1`` with an outage to
  screen, not empty and leaves out no monitored line whose worst post-outage loading is
  above the least loading listed (the list is a top-N of (line, outage) pairs; its
  length is the solver's choice); ``grid.preexisting.base_overloads`` lists every line
  above its rating under the reported pre-existing dispatch and, under ``n-1``,
  ``grid.preexisting.n1_overloads`` every (line, outage) above its emergency rating, and
  neither lists one within it (loadings within tolerance of the limit may go either way).
  ``grid.redispatch`` need not name every plant: a plant
  left out is re-dispatched by 0 MW (the solvers list only plants that move).
* ``GRID_MISSING``: the topology has lines, security is not ``none`` and the plan has no
  grid report. With security ``none`` or no lines there are no grid checks.

Cost term: exactly when the plan has a grid report (whatever the security: a plan that
re-dispatches plants pays for it) the plan's ``cost_breakdown`` must hold ``redispatch``
= redispatch_weight x sum(max(mw, 0) x cost_usd_per_mwh) x utilization x 8760 USD/yr (only raised
output is charged)
(:func:`redispatch_cost_usd_per_year`); :mod:`placer.verify` checks it with the other terms.

Complexity, V buses and E lines: one sparse LU of the reduced B, one OPF (HiGHS, sparse,
O(V + E) rows), then per outage one triangular solve and O(E) updates for the two
injection vectors (plan, pre-existing): O(E (fill + E)) time, O(E x block) memory.
PGLib case1354 (1,666 buses, 2,303 lines, 1,430 non-islanding outages): about 0.3 s.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, ConfigDict

from placer import grid_check as gc
from placer.contract import HOURS_PER_YEAR, LIMIT_REL_TOL, MW_ABS_TOL, MW_REL_TOL, limit_slack
from placer.plan import Plan
from placer.scenario import Scenario

GRID_CODES = (
    "GRID_MISSING",
    "PREEXISTING_DISPATCH",
    "REDISPATCH_LIMIT",
    "GRID_BALANCE",
    "LINE_OVERLOAD",
    "LINE_OVERLOAD_N1",
    "GRID_COVERAGE",
)
REDISPATCH_TERM = "redispatch"
# The contract's tolerances (placer.contract): limits rel LIMIT_REL_TOL of max(1, |limit|);
# reported MW -- and the pre-existing cost in USD/h, a figure of the same scale -- rel/abs these.
REL_TOL, ABS_TOL = MW_REL_TOL, MW_ABS_TOL
MOST_LOADED = 10

AddFn = Callable[..., None]  # add(code, entity, message, measured=None, limit=None, unit="")


class LoadedLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: str
    outage: str  # "-" for the base case
    flow_mw: float
    limit_mw: float
    loading_pct: float


class GridCheck(BaseModel):
    """What the verifier found about the grid (attached to the report as ``report.grid``)."""

    model_config = ConfigDict(extra="forbid")

    security: str
    buses: int
    lines: int
    monitored_lines: int
    outages_screened: int = 0
    bridges: list[str]
    preexisting_feasible: bool
    preexisting_relaxed: bool
    preexisting_cost_usd_per_h: float | None  # the verifier's own OPF optimum (generation cost)
    preexisting_base_overloads: int  # lines above rating_mw under the reported pre-existing dispatch
    preexisting_n1_overloads: int  # (line, outage) pairs above emergency rating before any new load
    n_minus_1: str  # "secure" | "insecure": the verifier's verdict under the policy's security
    overloads: int  # LINE_OVERLOAD + LINE_OVERLOAD_N1 violations
    most_loaded: list[LoadedLine]  # the ten most loaded monitored lines, each at its worst case
    seconds: float


# --------------------------------------------------------------------------- helpers


def _exceeds(measured: float, limit: float) -> bool:
    return measured > limit + limit_slack(limit)


def _close(reported: float, expected: float) -> bool:
    return math.isfinite(reported) and math.isclose(reported, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _examples(names: list[str]) -> str:
    """The first five names, and how many more."""
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _pct(flow: float, limit: float) -> float:
    return 100.0 * abs(flow) / limit


def grid_checked(scenario: Scenario) -> bool:
    """Whether the plan's grid is checked: the topology has lines and security is not 'none'."""
    return scenario.policy.grid.security != "none" and bool(scenario.topology.edges_of_kind("line"))


def redispatch_cost_usd_per_year(scenario: Scenario, plan: Plan) -> float | None:
    """The expected ``redispatch`` cost term, or None when the plan must not have one.

    Present exactly when the plan has a grid report: redispatch_weight x sum over listed
    (known) plants of max(mw, 0) x cost_usd_per_mwh x utilization x 8760. Only generation
    raised is charged: lowering a plant earns the plan no credit.
    """
    if plan.grid is None:
        return None
    costs = {p.id: gc.plant_cost_usd_per_mwh(p) for p in scenario.topology.plants}
    usd_per_h = math.fsum(
        max(r.mw, 0.0) * costs[r.plant] for r in plan.grid.redispatch if r.plant in costs and math.isfinite(r.mw)
    )
    return scenario.policy.grid.redispatch_weight * usd_per_h * scenario.policy.cost.utilization * HOURS_PER_YEAR


def new_load_by_bus(scenario: Scenario, facility_mw: dict[str, float]) -> dict[str, float]:
    """Facility MW per substation: every site drawn from its feeds in proportion to feed capacity
    (the rule :func:`placer.contract.feed_shares`, in the verifier's own arithmetic)."""
    sites = {s.id for s in scenario.topology.sites}
    feeds: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for e in scenario.topology.edges_of_kind("feed"):
        site, sub = (e.from_node, e.to_node) if e.from_node in sites else (e.to_node, e.from_node)
        feeds[site].append((sub, float(e.capacity_mw)))
    parts: dict[str, list[float]] = defaultdict(list)
    for site, fs in feeds.items():
        mw = float(facility_mw.get(site, 0.0))
        total = math.fsum(c for _, c in fs)
        for sub, cap in fs:
            parts[sub].append(mw * cap / total)
    return {b.id: math.fsum(parts[b.id]) for b in scenario.topology.substations}


# --------------------------------------------------------------------------- the checks


def check_grid(
    scenario: Scenario,
    plan: Plan,
    facility_mw: dict[str, float],
    add: AddFn,
    line_limits: dict[str, tuple[float, float]] | None = None,
) -> tuple[list[str], GridCheck | None]:
    """Run the grid checks, reporting violations through ``add``.

    ``facility_mw`` is the verifier's own facility MW per site (from the rack counts).
    ``line_limits``: line id -> (rating, emergency rating) MW of the lines a rollout's reinforcement
    options raise: the no-harm limits (and the ratings the plan reports) use them, while the
    pre-existing dispatch and its overloads stay those of the network as it is.
    Returns the codes checked and a :class:`GridCheck` summary (None when no grid was
    checked).
    """
    pol = scenario.policy.grid
    n_lines = len(scenario.topology.edges_of_kind("line"))
    if not grid_checked(scenario):
        return [], None
    if plan.grid is None:
        add(
            "GRID_MISSING",
            "grid",
            f"the topology has {n_lines} lines and policy.grid.security is '{pol.security}', "
            "but the plan has no grid report (plan.grid)",
        )
        return ["GRID_MISSING"], None
    return _GridChecker(scenario, plan, facility_mw, add, line_limits or {}).run()


class _GridChecker:
    def __init__(
        self,
        scenario: Scenario,
        plan: Plan,
        facility_mw: dict[str, float],
        add: AddFn,
        line_limits: dict[str, tuple[float, float]],
    ):
        assert plan.grid is not None  # check_grid returns early for a plan without a grid report
        self.scenario, self.plan, self.grid, self.add = scenario, plan, plan.grid, add
        self.policy = scenario.policy.grid
        self.facility_mw = facility_mw
        self.lines = scenario.topology.edges_of_kind("line")
        self.plants = {p.id: p for p in scenario.topology.plants}
        self.cost = {p.id: gc.plant_cost_usd_per_mwh(p) for p in scenario.topology.plants}
        self.rating = np.array([float(e.rating_mw) for e in self.lines])
        self.emergency = np.array([gc.emergency_rating_mw(e) for e in self.lines])
        # the no-harm limits' ratings: raised where a reinforcement is in service (the facts above stay)
        self.limit_rating = np.array([line_limits.get(str(e.id), (r, 0.0))[0] for e, r in zip(self.lines, self.rating)])
        self.limit_emergency = np.array(
            [line_limits.get(str(e.id), (0.0, em))[1] for e, em in zip(self.lines, self.emergency)]
        )
        self.overloads = 0
        # (line, outage) -> the verifier's (flow, limit) for every pair the plan names
        self.recomputed: dict[tuple[str, str], tuple[float, float]] = {}

    # ---- helpers -----------------------------------------------------------------
    def _mismatch(self, entity: str, what: str, reported, expected, unit: str = "MW") -> None:
        numeric = all(v is None or isinstance(v, (int, float)) for v in (reported, expected))
        self.add(
            "REPORTED_MISMATCH",
            entity,
            f"{what}: plan reports {reported!r}, recomputed {expected!r} {unit}".rstrip(),
            measured=reported if numeric else None,
            limit=expected if numeric else None,
            unit=unit,
        )

    def _cmp(self, entity: str, what: str, reported: float, expected: float, unit: str = "MW") -> None:
        if not _close(float(reported), float(expected)):
            self._mismatch(entity, what, reported, expected, unit)

    @staticmethod
    def _tol(limit: np.ndarray) -> np.ndarray:
        """Vectorised slack of an upper limit: LIMIT_REL_TOL x max(1, |limit|)."""
        return LIMIT_REL_TOL * np.maximum(1.0, np.abs(limit))

    def _component_name(self, c: int) -> str:
        return self.screen.bus_ids[self.screen.slack[c]]

    def _component_text(self, c: int) -> str:
        members = [self.screen.bus_ids[i] for i in np.flatnonzero(self.screen.labels == c)]
        shown = ", ".join(members[:5]) + (f" and {len(members) - 5} more" if len(members) > 5 else "")
        return f"the component of {len(members)} bus(es) ({shown})"

    def _bus_vector(self, by_bus: dict[str, float]) -> np.ndarray:
        p = np.zeros(self.screen.n_bus)
        for bus, mw in by_bus.items():
            p[self.screen.bus_index[bus]] += mw
        return p

    # ---- decisions -----------------------------------------------------------------
    def _dispatch(self) -> dict[str, float]:
        out = {p: 0.0 for p in self.plants}
        for plant, mw in self.grid.preexisting.dispatch_mw.items():
            if plant not in self.plants:
                self.add(
                    "UNKNOWN_ENTITY", f"plant:{plant}", f"grid.preexisting.dispatch_mw names unknown plant '{plant}'"
                )
            elif not math.isfinite(mw):
                self.add(
                    "PREEXISTING_DISPATCH",
                    f"plant:{plant}",
                    f"pre-existing dispatch of plant '{plant}' is not a finite number ({mw!r}); read as 0",
                )
                self.bad_dispatch = True
            else:
                out[plant] = float(mw)
        return out

    def _redispatch(self, dispatch: dict[str, float]) -> dict[str, float]:
        parts: dict[str, list[float]] = defaultdict(list)
        for j, row in enumerate(self.grid.redispatch):
            ent = f"plant:{row.plant}"
            if row.plant not in self.plants:
                self.add("UNKNOWN_ENTITY", ent, f"grid.redispatch[{j}] names unknown plant '{row.plant}'")
                continue
            if row.plant in parts:
                self.add(
                    "REPORTED_MISMATCH",
                    ent,
                    f"grid.redispatch[{j}]: plant '{row.plant}' is listed twice; its outputs are added up",
                )
            plant = self.plants[row.plant]
            self._cmp(ent, f"grid.redispatch[{row.plant}].spare_mw", row.spare_mw, float(plant.spare_mw))
            self._cmp(
                ent,
                f"grid.redispatch[{row.plant}].cost_usd_per_mwh",
                row.cost_usd_per_mwh,
                self.cost[row.plant],
                "USD/MWh",
            )
            if not math.isfinite(row.mw):
                self.add(
                    "REDISPATCH_LIMIT",
                    ent,
                    f"grid.redispatch[{j}]: re-dispatch of plant '{row.plant}' is not a finite number ({row.mw!r}); "
                    "read as 0",
                )
                continue
            parts[row.plant].append(float(row.mw))
        out = {p: math.fsum(parts[p]) for p in self.plants}
        down = bool(getattr(self.policy, "redispatch_down", False))
        for p, mw in out.items():
            spare = float(self.plants[p].spare_mw)
            lower = -max(0.0, dispatch[p]) if down else 0.0
            if mw < lower - limit_slack(lower):
                why = (
                    f"below minus its pre-existing output ({lower:.6g} MW)"
                    if down
                    else "below 0 (policy.grid.redispatch_down is false)"
                )
                self.add(
                    "REDISPATCH_LIMIT",
                    f"plant:{p}",
                    f"plant '{p}' is re-dispatched by {mw:.6g} MW, {why}",
                    measured=mw,
                    limit=lower,
                    unit="MW",
                )
            elif _exceeds(mw, spare):
                self.add(
                    "REDISPATCH_LIMIT",
                    f"plant:{p}",
                    f"plant '{p}' is re-dispatched by {mw:.6g} MW, above its spare capacity {spare:.6g} MW",
                    measured=mw,
                    limit=spare,
                    unit="MW",
                )
        return out

    # ---- pre-existing state ----------------------------------------------------------
    def _check_preexisting(self, dispatch: dict[str, float], f0: np.ndarray) -> None:
        pre = self.grid.preexisting
        problems = self.bad_dispatch
        for p, mw in dispatch.items():
            hi = float(self.plants[p].capacity_mw) - float(self.plants[p].spare_mw)
            if mw < -limit_slack(0.0) or _exceeds(mw, hi):
                problems = True
                self.add(
                    "PREEXISTING_DISPATCH",
                    f"plant:{p}",
                    f"pre-existing dispatch of plant '{p}' is {mw:.6g} MW, outside [0, capacity - spare = {hi:.6g}] MW",
                    measured=mw,
                    limit=hi if mw > 0 else 0.0,
                    unit="MW",
                )
        labels = self.screen.labels
        gen = np.zeros(self.screen.count)
        for p, mw in dispatch.items():
            gen[labels[self.screen.bus_index[p]]] += mw
        load = np.zeros(self.screen.count)
        np.add.at(load, labels, self.load)
        for c in range(self.screen.count):
            if not math.isclose(gen[c], load[c], rel_tol=REL_TOL, abs_tol=ABS_TOL):
                problems = True
                self.add(
                    "PREEXISTING_DISPATCH",
                    f"component:{self._component_name(c)}",
                    f"pre-existing dispatch gives {gen[c]:.6g} MW to {self._component_text(c)}, "
                    f"whose existing load is {load[c]:.6g} MW",
                    measured=gen[c],
                    limit=load[c],
                    unit="MW",
                )
        opf = self.opf
        if not opf.feasible:
            self.add(
                "PREEXISTING_DISPATCH",
                "grid.preexisting",
                f"the verifier's pre-existing DC OPF finds no dispatch serving the existing load ({opf.message})",
            )
            return
        if bool(pre.relaxed) != opf.relaxed:
            problems = True
            self.add(
                "PREEXISTING_DISPATCH",
                "grid.preexisting",
                f"plan says relaxed={pre.relaxed}, but the least-cost DC OPF of the existing load "
                + (
                    "cannot keep every line within rating_mw (relaxed=True)"
                    if opf.relaxed
                    else "keeps every line within rating_mw (relaxed=False)"
                ),
            )
        if not opf.relaxed:
            for l in np.flatnonzero(np.abs(f0) > self.rating + self._tol(self.rating)):
                problems = True
                self.add(
                    "PREEXISTING_DISPATCH",
                    f"line:{self.lines[l].id}",
                    f"the pre-existing dispatch loads line '{self.lines[l].id}' with {f0[l]:.6g} MW, "
                    f"{_pct(f0[l], self.rating[l]):.1f} % of its rating {self.rating[l]:.6g} MW, although a "
                    "dispatch within every rating exists",
                    measured=abs(f0[l]),
                    limit=self.rating[l],
                    unit="MW",
                )
        cost = math.fsum(dispatch[p] * self.cost[p] for p in dispatch)
        self._cmp("grid.preexisting", "grid.preexisting.cost_usd_per_h", pre.cost_usd_per_h, cost, "USD/h")
        if problems:
            return  # the cost of an infeasible dispatch says nothing
        objective = cost
        what = "costs"
        if opf.relaxed:
            over = float(np.maximum(0.0, np.abs(f0) - self.rating).sum())
            objective = cost + gc.OVERLOAD_PENALTY_USD_PER_MWH * over
            what = f"with {over:.6g} MW of base-case overload at {gc.OVERLOAD_PENALTY_USD_PER_MWH:g} USD/MWh costs"
        if not math.isclose(objective, opf.objective_usd_per_h, rel_tol=REL_TOL, abs_tol=ABS_TOL):
            self.add(
                "PREEXISTING_DISPATCH",
                "grid.preexisting",
                f"the pre-existing dispatch {what} {objective:.9g} USD/h; the least-cost DC OPF of the existing "
                f"load costs {opf.objective_usd_per_h:.9g} USD/h",
                measured=objective,
                limit=opf.objective_usd_per_h,
                unit="USD/h",
            )

    # ---- main ----------------------------------------------------------------------
    def run(self) -> tuple[list[str], GridCheck]:
        start = time.perf_counter()
        pol, scenario = self.policy, self.scenario
        n1 = pol.security == "n-1"
        codes = ["GRID_MISSING", "PREEXISTING_DISPATCH", "REDISPATCH_LIMIT", "GRID_BALANCE", "LINE_OVERLOAD"]
        if n1:
            codes.append("LINE_OVERLOAD_N1")
        codes.append("GRID_COVERAGE")
        self.screen = screen = gc.OutageScreen(scenario)
        self.bad_dispatch = False
        self.load = self._bus_vector({b.id: float(b.load_mw) for b in scenario.topology.substations})
        new_load = new_load_by_bus(scenario, self.facility_mw)
        new_vec = self._bus_vector(new_load)

        dispatch = self._dispatch()
        redispatch = self._redispatch(dispatch)
        p0 = self._p0 = self._bus_vector(dispatch) - self.load
        p = p0 + self._bus_vector(redispatch) - new_vec
        flows = screen.flows(np.column_stack([p, p0]))
        f, f0 = flows[:, 0], flows[:, 1]

        self.opf = gc.preexisting_opf(scenario)
        self._check_preexisting(dispatch, f0)

        # re-dispatch balances the new load per component
        labels = screen.labels
        red_c = np.zeros(screen.count)
        for pl, mw in redispatch.items():
            red_c[labels[screen.bus_index[pl]]] += mw
        new_c = np.zeros(screen.count)
        np.add.at(new_c, labels, new_vec)
        for c in range(screen.count):
            if not math.isclose(red_c[c], new_c[c], rel_tol=REL_TOL, abs_tol=ABS_TOL):
                self.add(
                    "GRID_BALANCE",
                    f"component:{self._component_name(c)}",
                    f"re-dispatch of {red_c[c]:.6g} MW serves {self._component_text(c)}, "
                    f"whose new data-center load is {new_c[c]:.6g} MW",
                    measured=red_c[c],
                    limit=new_c[c],
                    unit="MW",
                )

        # post-outage flows (plan and pre-existing): the N-1 check and its share of the loading threshold
        ne = screen.n_line
        pre_worst = np.abs(f0) / self.rating
        pre_n1_overloads = 0
        worst_post = np.full(ne, -1.0)  # per line: the plan's worst post-outage loading
        worst_post_at = np.zeros((ne, 3))  # outage index, flow, limit
        candidates: list[tuple[int, int, float, float, float]] = []
        # pre-existing post-outage overloads (line, outage): surely over the emergency rating, and
        # over it within tolerance (a solver's own tolerance may list these, or not)
        pre_sure: set[tuple[int, int]] = set()
        pre_maybe: set[tuple[int, int]] = set()
        screened = 0
        if n1:
            for ks, post in screen.post_outage(np.column_stack([p, p0])):
                screened += ks.size
                post_plan, post_pre = post[:, :, 0], post[:, :, 1]
                pre_load = np.abs(post_pre) / self.emergency[:, None]
                np.maximum(pre_worst, pre_load.max(axis=1), out=pre_worst)
                emergency_tol = (self.emergency + self._tol(self.emergency))[:, None]
                pre_over = np.abs(post_pre) > emergency_tol
                pre_n1_overloads += int(pre_over.sum())
                pre_sure.update((int(l), int(ks[jj])) for l, jj in zip(*np.nonzero(pre_over)))
                near = np.abs(post_pre) >= (self.emergency - self._tol(self.emergency))[:, None]
                pre_maybe.update((int(l), int(ks[jj])) for l, jj in zip(*np.nonzero(near)))
                limit = np.maximum(self.limit_emergency[:, None], np.abs(post_pre))
                loading = np.abs(post_plan) / limit
                j = loading.argmax(axis=1)
                rows = np.arange(ne)
                better = loading[rows, j] > worst_post
                worst_post[better] = loading[rows, j][better]
                worst_post_at[better] = np.column_stack([ks[j], post_plan[rows, j], limit[rows, j]])[better]
                bad = np.abs(post_plan) > limit + self._tol(limit)
                for l, jj in zip(*np.nonzero(bad)):
                    candidates.append(
                        (int(l), int(ks[jj]), float(post_plan[l, jj]), float(limit[l, jj]), float(post_pre[l, jj]))
                    )

        # monitored lines
        mask = np.ones(ne, dtype=bool)
        if pol.monitor_min_kv is not None:
            mask &= np.array([e.kv is None or e.kv >= pol.monitor_min_kv for e in self.lines], dtype=bool)
        if pol.monitor_min_loading is not None:
            mask &= pre_worst >= pol.monitor_min_loading

        # base case
        base_limit = np.maximum(self.limit_rating, np.abs(f0))
        found: set[tuple[str, str]] = set()  # (line, outage or '-') of every overload found
        for l in np.flatnonzero(mask):
            if _exceeds(abs(f[l]), base_limit[l]):
                self.overloads += 1
                found.add((self.lines[l].id, "-"))
                line = self.lines[l]
                self.add(
                    "LINE_OVERLOAD",
                    f"line:{line.id}",
                    f"line '{line.id}' ({line.from_node} -> {line.to_node}) carries {f[l]:.6g} MW in the base case, "
                    f"{_pct(f[l], base_limit[l]):.2f} % of its limit {base_limit[l]:.6g} MW "
                    f"(rating {self.limit_rating[l]:.6g} MW, pre-existing flow {f0[l]:.6g} MW)",
                    measured=abs(f[l]),
                    limit=base_limit[l],
                    unit="MW",
                )
        # after each outage
        if n1:
            for l, k, flow, limit, pre_flow in candidates:
                if not mask[l]:
                    continue
                self.overloads += 1
                found.add((self.lines[l].id, self.lines[k].id))
                line, lost = self.lines[l], self.lines[k]
                self.add(
                    "LINE_OVERLOAD_N1",
                    f"line:{line.id}/outage:{lost.id}",
                    f"after losing line '{lost.id}', line '{line.id}' carries {flow:.6g} MW, "
                    f"{_pct(flow, limit):.2f} % of its limit {limit:.6g} MW (emergency rating "
                    f"{self.limit_emergency[l]:.6g} MW, pre-existing post-outage flow {pre_flow:.6g} MW)",
                    measured=abs(flow),
                    limit=limit,
                    unit="MW",
                )
        verdict = "secure" if self.overloads == 0 else "insecure"

        self._check_reported(new_load, p, f, f0, base_limit, mask, verdict, n1)
        self._check_coverage(mask, found, worst_post if n1 and screened else None, worst_post_at)
        self._check_preexisting_coverage(f0, pre_sure, pre_maybe, n1)

        # summary: the most loaded monitored lines, each at its worst case
        cases = []
        for l in np.flatnonzero(mask):
            best = LoadedLine(
                line=self.lines[l].id,
                outage="-",
                flow_mw=float(f[l]),
                limit_mw=float(base_limit[l]),
                loading_pct=_pct(f[l], base_limit[l]),
            )
            if n1 and worst_post[l] * 100.0 > best.loading_pct:
                k, flow, limit = worst_post_at[l]
                best = LoadedLine(
                    line=self.lines[l].id,
                    outage=self.lines[int(k)].id,
                    flow_mw=float(flow),
                    limit_mw=float(limit),
                    loading_pct=_pct(flow, limit),
                )
            cases.append(best)
        most = heapq.nlargest(MOST_LOADED, cases, key=lambda c: c.loading_pct)
        summary = GridCheck(
            security=pol.security,
            buses=screen.n_bus,
            lines=ne,
            monitored_lines=int(mask.sum()),
            outages_screened=screened,
            bridges=[self.lines[k].id for k in screen.bridges],
            preexisting_feasible=self.opf.feasible,
            preexisting_relaxed=self.opf.relaxed,
            preexisting_cost_usd_per_h=self.opf.cost_usd_per_h if self.opf.feasible else None,
            preexisting_base_overloads=int((np.abs(f0) > self.rating + self._tol(self.rating)).sum()),
            preexisting_n1_overloads=pre_n1_overloads,
            n_minus_1=verdict,
            overloads=self.overloads,
            most_loaded=most,
            seconds=time.perf_counter() - start,
        )
        return codes, summary

    # ---- reported figures -------------------------------------------------------------
    def _check_reported(self, new_load, p, f, f0, base_limit, mask, verdict: str, n1: bool) -> None:
        grid, pol, screen = self.grid, self.policy, self.screen
        if grid.security != pol.security:
            self._mismatch("grid", "grid.security", grid.security, pol.security, "")
        self._cmp("grid", "grid.base_mva", grid.base_mva, float(self.scenario.policy.base_mva), "MVA")
        if grid.n_minus_1 != verdict:
            self._mismatch("grid", f"grid.n_minus_1 under security '{pol.security}'", grid.n_minus_1, verdict, "")

        # per bus
        injections = dict(zip(screen.bus_ids, p.tolist()))
        for name, reported, expected in (
            ("new_load_mw", grid.new_load_mw, {b: new_load.get(b, 0.0) for b in screen.bus_ids}),
            ("injections_mw", grid.injections_mw, injections),
        ):
            for bus, mw in reported.items():
                if bus not in expected:
                    self.add("UNKNOWN_ENTITY", f"bus:{bus}", f"grid.{name} names unknown bus '{bus}'")
                else:
                    self._cmp(f"bus:{bus}", f"grid.{name}[{bus}]", mw, expected[bus])
            for bus, mw in expected.items():
                if bus not in reported and not _close(0.0, mw):
                    self._mismatch(f"bus:{bus}", f"grid.{name}[{bus}] (missing)", None, mw)

        # base-case lines
        seen: set[str] = set()
        for j, row in enumerate(grid.lines):
            if row.line not in screen.line_index:
                self.add("UNKNOWN_ENTITY", f"line:{row.line}", f"grid.lines[{j}] names unknown line '{row.line}'")
                continue
            if row.line in seen:
                self.add("GRID_COVERAGE", f"line:{row.line}", f"grid.lines[{j}]: line '{row.line}' is reported twice")
                continue
            seen.add(row.line)
            l = screen.line_index[row.line]
            ent = f"line:{row.line}"
            self._cmp(ent, f"grid.lines[{row.line}].flow_mw", row.flow_mw, f[l])
            self._cmp(ent, f"grid.lines[{row.line}].limit_mw", row.limit_mw, base_limit[l])
            self._cmp(ent, f"grid.lines[{row.line}].rating_mw", row.rating_mw, self.limit_rating[l])
            self._cmp(ent, f"grid.lines[{row.line}].loading_pct", row.loading_pct, _pct(f[l], base_limit[l]), "%")

        # named (line, outage) pairs: worst contingencies and reported violations
        named = [("worst_contingencies", j, row) for j, row in enumerate(grid.worst_contingencies)]
        named += [("violations", j, row) for j, row in enumerate(grid.violations)]
        wanted: dict[int, list] = defaultdict(list)
        bridges = set(screen.bridges.tolist())
        for field, j, cont in named:
            ent = f"line:{cont.line}/outage:{cont.outage}"
            unknown = [
                name
                for name in (cont.line,) + (() if cont.outage == "-" else (cont.outage,))
                if name not in screen.line_index
            ]
            if unknown:
                self.add("UNKNOWN_ENTITY", ent, f"grid.{field}[{j}] names unknown line(s) {', '.join(unknown)}")
                continue
            l = screen.line_index[cont.line]
            if cont.outage == "-":
                self._cmp_pair(ent, f"grid.{field}[{j}]", cont, f[l], base_limit[l])
                self.recomputed[(cont.line, cont.outage)] = (float(f[l]), float(base_limit[l]))
                continue
            k = screen.line_index[cont.outage]
            if k in bridges:
                self.add(
                    "REPORTED_MISMATCH",
                    ent,
                    f"grid.{field}[{j}] reports a loading after losing '{cont.outage}', whose outage islands buses "
                    "(a bridge: skipped, no post-outage flows)",
                )
                continue
            wanted[k].append((field, j, cont, l))
        if wanted:
            pp = np.column_stack([p, self._p0])
            for ks, post in screen.post_outage(pp, sorted(wanted)):
                for jj, k in enumerate(ks.tolist()):
                    for field, j, cont, l in wanted[k]:
                        flow = float(post[l, jj, 0])
                        limit = max(self.limit_emergency[l], abs(float(post[l, jj, 1])))
                        self._cmp_pair(
                            f"line:{cont.line}/outage:{cont.outage}", f"grid.{field}[{j}]", cont, flow, limit
                        )
                        self.recomputed[(cont.line, cont.outage)] = (flow, limit)

        # islanding outages
        if n1:
            expected_b = {self.lines[k].id for k in bridges}
            listed = set()
            for name in grid.bridges:
                if name not in screen.line_index:
                    self.add("UNKNOWN_ENTITY", f"line:{name}", f"grid.bridges names unknown line '{name}'")
                    continue
                listed.add(name)
                if name not in expected_b:
                    self.add(
                        "REPORTED_MISMATCH",
                        f"line:{name}",
                        f"grid.bridges lists line '{name}', but its outage islands no bus",
                    )
            for name in sorted(expected_b - listed, key=lambda name: screen.line_index[name]):
                self.add(
                    "REPORTED_MISMATCH",
                    f"line:{name}",
                    f"the outage of line '{name}' islands buses (a bridge, skipped) but grid.bridges omits it",
                )

        # pre-existing facts: their flows and ratings
        pre = grid.preexisting
        for j, row in enumerate(pre.base_overloads):
            if row.line not in screen.line_index:
                self.add(
                    "UNKNOWN_ENTITY",
                    f"line:{row.line}",
                    f"grid.preexisting.base_overloads[{j}] names unknown line '{row.line}'",
                )
                continue
            l = screen.line_index[row.line]
            self._cmp(f"line:{row.line}", f"grid.preexisting.base_overloads[{j}].flow_mw", row.flow_mw, f0[l])
            self._cmp(
                f"line:{row.line}", f"grid.preexisting.base_overloads[{j}].rating_mw", row.rating_mw, self.rating[l]
            )
        pre_wanted: dict[int, list] = defaultdict(list)
        for j, cont in enumerate(pre.n1_overloads):
            ent = f"line:{cont.line}/outage:{cont.outage}"
            if cont.line not in screen.line_index or cont.outage not in screen.line_index:
                self.add("UNKNOWN_ENTITY", ent, f"grid.preexisting.n1_overloads[{j}] names an unknown line")
                continue
            k = screen.line_index[cont.outage]
            if k in bridges:
                self.add(
                    "REPORTED_MISMATCH",
                    ent,
                    f"grid.preexisting.n1_overloads[{j}]: the outage of '{cont.outage}' islands buses (skipped)",
                )
                continue
            pre_wanted[k].append((j, cont, screen.line_index[cont.line]))
        if pre_wanted:
            for ks, post in screen.post_outage(self._p0, sorted(pre_wanted)):
                for jj, k in enumerate(ks.tolist()):
                    for j, cont, l in pre_wanted[k]:
                        self._cmp(
                            f"line:{cont.line}/outage:{cont.outage}",
                            f"grid.preexisting.n1_overloads[{j}].flow_mw",
                            cont.flow_mw,
                            float(post[l, jj, 0]),
                        )

    def _check_coverage(self, mask, found, worst_post, worst_post_at) -> None:
        """GRID_COVERAGE: the grid section names everything it must (see the module docstring)."""
        grid, lines = self.grid, self.lines

        monitored = int(mask.sum())
        if grid.monitored_lines != monitored:
            self.add(
                "GRID_COVERAGE",
                "grid.monitored_lines",
                f"grid.monitored_lines is {grid.monitored_lines:,}, but {monitored:,} of the scenario's "
                f"{len(lines):,} lines are monitored under its policy.grid",
                measured=grid.monitored_lines,
                limit=monitored,
                unit="lines",
            )
        listed = {row.line for row in grid.lines}
        missing = [lines[l].id for l in np.flatnonzero(mask) if lines[l].id not in listed]
        if missing:
            self.add(
                "GRID_COVERAGE",
                "grid.lines",
                f"grid.lines omits {len(missing):,} of the {monitored:,} monitored lines: {_examples(missing)}",
                measured=monitored - len(missing),
                limit=monitored,
                unit="lines",
            )
        absent = [p for p in self.plants if p not in grid.preexisting.dispatch_mw]
        if absent:
            self.add(
                "GRID_COVERAGE",
                "grid.preexisting.dispatch_mw",
                f"grid.preexisting.dispatch_mw omits {len(absent):,} of the scenario's {len(self.plants):,} "
                f"plants (read as 0 MW): {_examples(absent)}",
                measured=len(self.plants) - len(absent),
                limit=len(self.plants),
                unit="plants",
            )

        # grid.violations: exactly the overloads the verifier finds
        reported = {(row.line, row.outage) for row in grid.violations}
        omitted = sorted(found - reported)
        if omitted:
            self.add(
                "GRID_COVERAGE",
                "grid.violations",
                f"grid.violations omits {len(omitted):,} of the {len(found):,} no-harm violations found: "
                + _examples([f"{l} after losing {k}" if k != "-" else f"{l} (base case)" for l, k in omitted]),
                measured=len(found) - len(omitted),
                limit=len(found),
                unit="violations",
            )
        for j, row in enumerate(grid.violations):
            pair = (row.line, row.outage)
            if pair in found or pair not in self.recomputed:
                continue  # unknown lines and bridge outages are reported already
            flow, limit = self.recomputed[pair]
            # within tolerance of the limit a solver's own rounding may list it: only a clear miss counts
            if not mask[self.screen.line_index[row.line]] or abs(flow) <= limit - limit_slack(limit):
                where = "in the base case" if row.outage == "-" else f"after losing '{row.outage}'"
                self.add(
                    "GRID_COVERAGE",
                    f"line:{row.line}/outage:{row.outage}",
                    f"grid.violations[{j}] lists line '{row.line}' {where}, which the verifier finds "
                    "within its no-harm limit"
                    + ("" if mask[self.screen.line_index[row.line]] else " (the line is not monitored)"),
                )

        # grid.worst_contingencies: worst first, and no monitored line's worst case left out
        worst = grid.worst_contingencies
        for j in range(1, len(worst)):
            if worst[j].loading_pct > worst[j - 1].loading_pct * (1 + REL_TOL) + ABS_TOL:
                self.add(
                    "GRID_COVERAGE",
                    "grid.worst_contingencies",
                    f"grid.worst_contingencies is not worst first: entry {j} ({worst[j].loading_pct:.4f} %) "
                    f"is above entry {j - 1} ({worst[j - 1].loading_pct:.4f} %)",
                )
                break
        if worst_post is None:
            return  # not n-1, or no outage to screen: nothing must be listed
        # only entries naming a screened pair count (others are reported as mismatches already)
        index, bridges = self.screen.line_index, set(self.screen.bridges.tolist())
        valid = [
            row
            for row in worst
            if math.isfinite(row.loading_pct)
            and row.line in index
            and row.outage in index
            and index[row.outage] not in bridges
        ]
        listed_best: dict[str, float] = {}
        for row in valid:
            listed_best[row.line] = max(listed_best.get(row.line, -math.inf), row.loading_pct)
        floor = min((row.loading_pct for row in valid), default=-math.inf)
        left_out = []
        for l in np.flatnonzero(mask & (worst_post >= 0)):
            pct = 100.0 * float(worst_post[l])
            line = lines[l].id
            above_floor = pct > floor * (1 + REL_TOL) + ABS_TOL
            if above_floor and listed_best.get(line, -math.inf) < pct * (1 - REL_TOL) - ABS_TOL:
                left_out.append((pct, line, lines[int(worst_post_at[l, 0])].id))
        if left_out:
            left_out.sort(reverse=True)
            shown = _examples([f"{line} after losing {k} ({pct:.2f} %)" for pct, line, k in left_out])
            self.add(
                "GRID_COVERAGE",
                "grid.worst_contingencies",
                (
                    f"grid.worst_contingencies leaves out {len(left_out):,} monitored line(s) loaded above its "
                    f"least listed loading ({floor:.2f} %): {shown}"
                )
                if worst
                else f"grid.worst_contingencies is empty, but monitored lines have post-outage loadings: {shown}",
                measured=len(worst),
                unit="entries",
            )

    def _check_preexisting_coverage(self, f0, pre_sure, pre_maybe, n1: bool) -> None:
        """GRID_COVERAGE of the pre-existing facts: ``base_overloads`` lists every line above its
        rating under the reported pre-existing dispatch and (security ``n-1``) ``n1_overloads``
        every (line, outage) above the emergency rating; neither lists one that is within it.
        Loadings within the verifier's tolerance of the limit may be listed or not. Under ``n-0``
        post-outage facts are no part of the criterion: listed ones are only cross-checked."""
        pre, index, lines = self.grid.preexisting, self.screen.line_index, self.lines
        sure_base = {l for l in np.flatnonzero(np.abs(f0) > self.rating + self._tol(self.rating))}
        near_base = {l for l in np.flatnonzero(np.abs(f0) >= self.rating - self._tol(self.rating))}
        for field, sure, near, listed in (
            (
                "base_overloads",
                {(l, -1) for l in sure_base},
                {(l, -1) for l in near_base},
                {(index[r.line], -1) for r in pre.base_overloads if r.line in index},
            ),
            (
                "n1_overloads",
                pre_sure,
                pre_maybe,
                {(index[r.line], index[r.outage]) for r in pre.n1_overloads if r.line in index and r.outage in index},
            ),
        )[: 2 if n1 else 1]:

            def name(pair):
                l, k = pair
                return lines[l].id + ("" if k < 0 else f" after losing {lines[k].id}")

            missing = sorted(sure - listed)
            if missing:
                shown = _examples([name(x) for x in missing])
                self.add(
                    "GRID_COVERAGE",
                    f"grid.preexisting.{field}",
                    f"grid.preexisting.{field} omits {len(missing):,} of the {len(sure):,} pre-existing "
                    f"overloads under the reported dispatch: {shown}",
                    measured=len(sure) - len(missing),
                    limit=len(sure),
                    unit="overloads",
                )
            bridges = set(self.screen.bridges.tolist())
            for pair in sorted(listed - near):
                if pair[1] in bridges:
                    continue  # reported as a mismatch already
                self.add(
                    "GRID_COVERAGE",
                    f"line:{lines[pair[0]].id}" + ("" if pair[1] < 0 else f"/outage:{lines[pair[1]].id}"),
                    f"grid.preexisting.{field} lists {name(pair)}, which is within its "
                    + ("rating" if pair[1] < 0 else "emergency rating")
                    + " under the reported dispatch",
                )

    def _cmp_pair(self, ent: str, what: str, row, flow: float, limit: float) -> None:
        self._cmp(ent, f"{what}.flow_mw", row.flow_mw, flow)
        self._cmp(ent, f"{what}.limit_mw", row.limit_mw, limit)
        self._cmp(ent, f"{what}.loading_pct", row.loading_pct, _pct(flow, limit), "%")


__all__ = [
    "GRID_CODES",
    "REDISPATCH_TERM",
    "GridCheck",
    "LoadedLine",
    "check_grid",
    "grid_checked",
    "new_load_by_bus",
    "redispatch_cost_usd_per_year",
]
