"""Tests for the verifier's grid checks (placer.verify_grid, placer.grid_check).

Valid plans come from CP-SAT (placement only) plus a grid report written *here*, by
:class:`Dense` -- a third DC power flow (dense numpy, networks rebuilt per outage, the
pre-existing OPF on a PTDF built column by column), independent of both the solver's
PTDF/LODF and the verifier's rank-one updates. Each test then injects exactly one
violation -- by editing the plan's decisions (dispatch, re-dispatch) or the scenario's
ratings -- re-derives every reported figure with the same helper, and asserts the one
code the verifier must raise.

Grid ``tests/data/grid_mesh.yaml`` (x in per unit on 100 MVA)::

    g1 --L1-- A --L4-- C --L7-- D        L7 (radial spur) and L6 (g2's only line)
     \\        |      /                   are bridges
      L2      L3   L5
        \\     |   /
          ---- B --L6-- g2
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linprog

from placer import grid_check
from placer.contract import plant_cost_usd_per_mwh
from placer.io import load_scenario
from placer.plan import (
    ContingencyLoading,
    CostTerm,
    GridReport,
    LineFlow,
    Plan,
    PreexistingGrid,
    Redispatch,
)
from placer.scenario import GridPolicy, Line, Scenario
from placer.verify import ALL_CODES, GRID_CODES, Report, verify
from placer.verify_layout import CODES as LAYOUT_CODES
from placer.verify_marginals import CODES as MARGINAL_CODES
from placer.verify_options import CODES as OPTION_CODES
from placer.verify_replan import CODES as REPLAN_CODES
from placer.verify_schedule import CODES as SCHEDULE_CODES
from placer.verify_worth import CODES as WORTH_CODES
from tests.helpers import codes, only

DATA = Path(__file__).parent / "data"
PENALTY = 1.0e5  # USD/MWh of overload in the relaxed pre-existing OPF (the contract value)
HOURS = 8760.0
# A plan whose grid report (hence objective) is rewritten here carries no proof: the solver's
# bound and gap were about its own objective.
NO_PROOF = {"status": "FEASIBLE", "placement_status": None, "bound": None, "gap": None}


# --------------------------------------------------------------------------- a third DC power flow


class Dense:
    """Dense DC power flow of a scenario: small grids only (tests)."""

    def __init__(self, scenario: Scenario):
        topo = scenario.topology
        self.scenario = scenario
        buses = [n for n in topo.nodes if n.kind in ("substation", "plant")]
        self.bus_ids = [n.id for n in buses]
        self.idx = {b: i for i, b in enumerate(self.bus_ids)}
        self.lines: list[Line] = topo.edges_of_kind("line")
        self.line_ids = [str(e.id) for e in self.lines]  # ids are filled in by validation
        self.f = [self.idx[e.from_node] for e in self.lines]
        self.t = [self.idx[e.to_node] for e in self.lines]
        self.b = np.array([1.0 / e.reactance_pu for e in self.lines])
        self.rating = np.array([e.rating_mw for e in self.lines])
        self.emergency = np.array([e.emergency_rating_mw or e.rating_mw for e in self.lines])
        self.base = scenario.policy.base_mva
        self.plants = topo.plants
        self.plant_ids = [p.id for p in self.plants]
        self.cost = np.array([p.cost_usd_per_mwh for p in self.plants])
        assert all(c is not None for c in self.cost), "test grids give every plant a cost"
        self.ub = np.array([p.capacity_mw - p.spare_mw for p in self.plants])
        self.load = np.zeros(len(buses))
        for n in topo.substations:
            self.load[self.idx[n.id]] = n.load_mw
        capacity = np.zeros(len(buses))
        for p in self.plants:
            capacity[self.idx[p.id]] = p.capacity_mw
        self.comps = self._components(None)
        # slack per component: the largest plant, ties and plant-less components to the lowest index
        self.slack = [max(c, key=lambda i: (capacity[i], -i)) for c in self.comps]

    def _components(self, removed: int | None) -> list[list[int]]:
        adj: dict[int, set[int]] = {i: set() for i in range(len(self.bus_ids))}
        for k, (u, v) in enumerate(zip(self.f, self.t)):
            if k != removed:
                adj[u].add(v)
                adj[v].add(u)
        seen, out = set(), []
        for s in range(len(self.bus_ids)):
            if s in seen:
                continue
            comp, todo = [], [s]
            seen.add(s)
            while todo:
                u = todo.pop()
                comp.append(u)
                for v in adj[u] - seen:
                    seen.add(v)
                    todo.append(v)
            out.append(sorted(comp))
        return out

    def bridges(self) -> list[int]:
        return [k for k in range(len(self.lines)) if len(self._components(k)) > len(self.comps)]

    def flows(self, p_mw: np.ndarray, removed: int | None = None) -> np.ndarray:
        """Line flows; the component's slack absorbs any imbalance; the removed line reads 0."""
        n = len(self.bus_ids)
        bmat = np.zeros((n, n))
        for k, (u, v) in enumerate(zip(self.f, self.t)):
            if k == removed:
                continue
            bmat[u, u] += self.b[k]
            bmat[v, v] += self.b[k]
            bmat[u, v] -= self.b[k]
            bmat[v, u] -= self.b[k]
        theta = np.zeros(n)
        for comp, slack in zip(self.comps, self.slack):
            keep = [i for i in comp if i != slack]
            if keep:
                theta[keep] = np.linalg.solve(bmat[np.ix_(keep, keep)], np.asarray(p_mw)[keep] / self.base)
        out = np.array([self.b[k] * (theta[u] - theta[v]) * self.base for k, (u, v) in enumerate(zip(self.f, self.t))])
        if removed is not None:
            out[removed] = 0.0
        return out

    def bus_vector(self, by_id: dict[str, float]) -> np.ndarray:
        p = np.zeros(len(self.bus_ids))
        for b, mw in by_id.items():
            p[self.idx[b]] += mw
        return p

    def opf(self) -> tuple[dict[str, float], bool]:
        """Least-cost dispatch of the existing load (PTDF form); relaxed with penalised overload if needed."""
        ng, ne = len(self.plants), len(self.lines)
        ptdf = np.column_stack([self.flows(np.eye(len(self.bus_ids))[i]) for i in range(len(self.bus_ids))])
        g = ptdf[:, [self.idx[p] for p in self.plant_ids]]
        fl = -ptdf @ self.load
        a_eq, b_eq = [], []
        for comp in self.comps:
            a_eq.append([1.0 if self.idx[p] in comp else 0.0 for p in self.plant_ids])
            b_eq.append(self.load[comp].sum())
        res = linprog(
            self.cost,
            A_ub=np.vstack([g, -g]),
            b_ub=np.concatenate([self.rating - fl, self.rating + fl]),
            A_eq=a_eq,
            b_eq=b_eq,
            bounds=list(zip(np.zeros(ng), self.ub)),
            method="highs",
        )
        if res.status == 0:
            return dict(zip(self.plant_ids, res.x)), False
        eye = np.eye(ne)
        res = linprog(
            np.concatenate([self.cost, np.full(ne, PENALTY)]),
            A_ub=np.vstack([np.hstack([g, -eye]), np.hstack([-g, -eye])]),
            b_ub=np.concatenate([self.rating - fl, self.rating + fl]),
            A_eq=np.hstack([np.array(a_eq), np.zeros((len(a_eq), ne))]),
            b_eq=b_eq,
            bounds=list(zip(np.zeros(ng), self.ub)) + [(0, None)] * ne,
            method="highs",
        )
        assert res.status == 0, res.message
        return dict(zip(self.plant_ids, res.x[:ng])), True


def new_load(scenario: Scenario, plan: Plan) -> dict[str, float]:
    """Site facility MW spread on the feeding substations in proportion to feed capacity."""
    facility = {s.site: s.facility_power_mw for s in plan.sites}
    sites = {s.id for s in scenario.topology.sites}
    feeds: dict[str, list] = {}
    for e in scenario.topology.edges_of_kind("feed"):
        s, b = (e.from_node, e.to_node) if e.from_node in sites else (e.to_node, e.from_node)
        feeds.setdefault(s, []).append((b, e.capacity_mw))
    out: dict[str, float] = {}
    for s, fs in feeds.items():
        total = sum(c for _, c in fs)
        for b, c in fs:
            out[b] = out.get(b, 0.0) + facility.get(s, 0.0) * c / total
    return out


def attach_grid(
    scenario: Scenario,
    plan: Plan,
    *,
    dispatch: dict[str, float] | None = None,
    redispatch: dict[str, float] | None = None,
    relaxed: bool | None = None,
) -> Plan:
    """``plan`` with a grid report computed by :class:`Dense` and the ``redispatch`` cost term.

    ``dispatch`` (pre-existing) defaults to the least-cost OPF; ``redispatch`` to merit
    order from spare capacity per component. Every figure is derived from those.
    """
    d = Dense(scenario)
    pol = scenario.policy.grid
    opf_dispatch, opf_relaxed = d.opf()
    dispatch = opf_dispatch if dispatch is None else dispatch
    relaxed = opf_relaxed if relaxed is None else relaxed
    new = new_load(scenario, plan)
    new_vec = d.bus_vector(new)
    if redispatch is None:
        redispatch = {}
        for comp in d.comps:
            need = new_vec[comp].sum()
            for p in sorted(d.plants, key=lambda p: (p.cost_usd_per_mwh, p.id)):
                if d.idx[p.id] in comp and need > 0:
                    take = min(p.spare_mw, need)
                    redispatch[p.id], need = take, need - take
    p0 = d.bus_vector(dispatch) - d.load
    p = p0 + d.bus_vector(redispatch) - new_vec
    f0, f = d.flows(p0), d.flows(p)
    base_limit = np.maximum(d.rating, np.abs(f0))
    bridges = d.bridges()
    outages = [k for k in range(len(d.lines)) if k not in bridges]
    post = {k: d.flows(p, k) for k in outages}
    post0 = {k: d.flows(p0, k) for k in outages}

    mon = np.ones(len(d.lines), dtype=bool)
    if pol.monitor_min_kv is not None:
        mon &= np.array([e.kv is None or e.kv >= pol.monitor_min_kv for e in d.lines])
    if pol.monitor_min_loading is not None:
        worst = np.abs(f0) / d.rating
        for k in outages if pol.security == "n-1" else []:  # post-outage loadings count under n-1 only
            worst = np.maximum(worst, np.abs(post0[k]) / d.emergency)
        mon &= worst >= pol.monitor_min_loading

    def loading(k: int | None, l: int) -> ContingencyLoading:
        if k is None:
            flow, limit = f[l], base_limit[l]
        else:
            flow, limit = post[k][l], max(d.emergency[l], abs(post0[k][l]))
        return ContingencyLoading(
            outage="-" if k is None else d.line_ids[k],
            line=d.line_ids[l],
            flow_mw=flow,
            limit_mw=limit,
            loading_pct=100 * abs(flow) / limit,
        )

    cases = [loading(k, l) for k in outages for l in range(len(d.lines)) if l != k and mon[l]]
    violations = [loading(None, l) for l in range(len(d.lines)) if mon[l] and abs(f[l]) > base_limit[l] + 1e-6]
    if pol.security == "n-1":
        violations += [c for c in cases if abs(c.flow_mw) > c.limit_mw + 1e-6]
    report = GridReport(
        security=pol.security,
        enforced_by_solver=False,
        base_mva=scenario.policy.base_mva,
        monitored_lines=int(mon.sum()),
        injections_mw=dict(zip(d.bus_ids, p.tolist())),
        new_load_mw={b: mw for b, mw in new.items() if mw},
        redispatch=[
            Redispatch(plant=pl.id, mw=redispatch[pl.id], spare_mw=pl.spare_mw, cost_usd_per_mwh=pl.cost_usd_per_mwh)
            for pl in d.plants
            if pl.id in redispatch
        ],
        preexisting=PreexistingGrid(
            dispatch_mw=dispatch,
            cost_usd_per_h=sum(d.cost[i] * dispatch.get(pid, 0.0) for i, pid in enumerate(d.plant_ids)),
            relaxed=relaxed,
            base_overloads=[
                LineFlow(
                    line=d.line_ids[l],
                    flow_mw=f0[l],
                    limit_mw=d.rating[l],
                    rating_mw=d.rating[l],
                    loading_pct=100 * abs(f0[l]) / d.rating[l],
                )
                for l in range(len(d.lines))
                if abs(f0[l]) > d.rating[l] + 1e-6
            ],
            n1_overloads=[
                ContingencyLoading(
                    outage=d.line_ids[k],
                    line=d.line_ids[l],
                    flow_mw=post0[k][l],
                    limit_mw=d.emergency[l],
                    loading_pct=100 * abs(post0[k][l]) / d.emergency[l],
                )
                for k in outages
                for l in range(len(d.lines))
                if l != k and abs(post0[k][l]) > d.emergency[l] + 1e-6
            ],
        ),
        lines=[
            LineFlow(
                line=d.line_ids[l],
                flow_mw=f[l],
                limit_mw=base_limit[l],
                rating_mw=d.rating[l],
                loading_pct=100 * abs(f[l]) / base_limit[l],
            )
            for l in range(len(d.lines))
        ],
        worst_contingencies=sorted(cases, key=lambda c: -c.loading_pct)[:10] if pol.security == "n-1" else [],
        bridges=[d.line_ids[k] for k in bridges] if pol.security == "n-1" else [],
        violations=violations,
        n_minus_1="secure" if not violations else "insecure",
    )
    usd_per_h = sum(
        max(mw, 0.0) * next(plant_cost_usd_per_mwh(pl) for pl in d.plants if pl.id == pid)
        for pid, mw in redispatch.items()
    )
    term = CostTerm(
        name="redispatch",
        usd_per_year=pol.redispatch_weight * usd_per_h * scenario.policy.cost.utilization * HOURS,
        description="re-dispatch",
    )
    terms = [t for t in plan.cost_breakdown if t.name != "redispatch"] + [term]
    summary = plan.summary.model_copy(update={"objective": sum(t.usd_per_year for t in terms), **NO_PROOF})
    return plan.model_copy(
        update={"grid": report, "cost_breakdown": terms, "summary": summary, "scenario_digest": scenario.digest()}
    )


def without_grid(plan: Plan) -> Plan:
    terms = [t for t in plan.cost_breakdown if t.name != "redispatch"]
    summary = plan.summary.model_copy(update={"objective": sum(t.usd_per_year for t in terms), **NO_PROOF})
    return plan.model_copy(update={"grid": None, "cost_breakdown": terms, "summary": summary})


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario(DATA / "grid_mesh.yaml")


@pytest.fixture(scope="module")
def placed(scenario) -> Plan:
    """CP-SAT's placement (the solver's own grid report, if any, is replaced by the helper's)."""
    from solvers import solve

    return solve(scenario, solver="cpsat")


@pytest.fixture(scope="module")
def plan(scenario, placed) -> Plan:
    return attach_grid(scenario, placed)


def variant(scenario: Scenario, edit) -> Scenario:
    copy = scenario.model_copy(deep=True)
    edit(copy)
    return copy


def line(scenario: Scenario, line_id: str) -> Line:
    return next(e for e in scenario.topology.edges if isinstance(e, Line) and e.id == line_id)


def check(scenario: Scenario, plan: Plan, **grid) -> Report:
    """Verify ``plan`` with its grid report recomputed by the helper (against a possibly edited scenario)."""
    return verify(scenario, attach_grid(scenario, plan, **grid), check_digest=False)


def flows_of(plan: Plan) -> dict[str, float]:
    return {r.line: r.flow_mw for r in plan.grid.lines}


# --------------------------------------------------------------------------- valid plans, hand figures


def test_helper_plan_is_valid(scenario, plan):
    report = verify(scenario, plan)
    assert report.valid, report.violations
    # single period: no schedule checks, and of the NPV checks only that it has none and an annual objective
    rollout_only = {"NPV_PARAMETERS", "NPV_PERIOD", "NPV_TERM", "NPV_TOTAL", *OPTION_CODES, *WORTH_CODES}
    rollout_only |= {*REPLAN_CODES, *MARGINAL_CODES}  # (a re-plan and marginal values only)
    assert set(report.checks) == set(ALL_CODES) - set(SCHEDULE_CODES) - rollout_only - set(LAYOUT_CODES)
    g = report.grid
    assert g.security == "n-1" and g.n_minus_1 == "secure" and g.overloads == 0
    assert g.bridges == ["L6", "L7"]  # g2's only line and the spur to D
    assert g.outages_screened == 5
    assert g.preexisting_feasible and not g.preexisting_relaxed
    assert 0 < len(g.most_loaded) <= 10
    assert [c.loading_pct for c in g.most_loaded] == sorted((c.loading_pct for c in g.most_loaded), reverse=True)
    # the nearly binding line: L3 after losing L1
    top = g.most_loaded[0]
    assert (top.line, top.outage) == ("L3", "L1") and 90 < top.loading_pct < 100
    assert Report.model_validate_json(report.model_dump_json()) == report


def test_hand_checkable_figures(scenario, plan):
    pre = plan.grid.preexisting
    assert pre.dispatch_mw == {"g1": pytest.approx(650.0), "g2": pytest.approx(0.0, abs=1e-9)}
    assert pre.cost_usd_per_h == pytest.approx(6500.0)
    opf = grid_check.preexisting_opf(scenario)
    assert opf.feasible and not opf.relaxed and opf.cost_usd_per_h == pytest.approx(6500.0)
    north = next(s.facility_power_mw for s in plan.sites if s.site == "north")
    south = next((s.facility_power_mw for s in plan.sites if s.site == "south"), 0.0)
    assert plan.grid.new_load_mw["A"] == pytest.approx(north)
    assert plan.grid.new_load_mw.get("C", 0.0) == pytest.approx(south / 2)
    # the spur carries D's existing load and half of south
    assert flows_of(plan)["L7"] == pytest.approx(50 + south / 2)
    # re-dispatch: all from cheap g1 (spare 150 MW)
    assert [(r.plant, r.mw) for r in plan.grid.redispatch] == [("g1", pytest.approx(north + south))]
    term = next(t for t in plan.cost_breakdown if t.name == "redispatch")
    assert term.usd_per_year == pytest.approx((north + south) * 10 * 0.8 * 8760)


def test_rank_one_outages_equal_rebuild_and_resolve(scenario, plan):
    screen = grid_check.OutageScreen(scenario)
    assert [screen.line_ids[k] for k in screen.bridges] == grid_check.islanding_outages(scenario) == ["L6", "L7"]
    inj = plan.grid.injections_mw
    p = screen.vector(inj)
    seen = 0
    for ks, post in screen.post_outage(p, block=4):  # several blocks
        for j, k in enumerate(ks):
            rebuilt = grid_check.outage_flows(scenario, inj, screen.line_ids[k])
            assert rebuilt is not None
            np.testing.assert_allclose(post[:, j, 0], [rebuilt[l] for l in screen.line_ids], atol=1e-9)
            seen += 1
    assert seen == 5
    with pytest.raises(ValueError):
        next(screen.post_outage(p, [screen.line_index["L7"]]))


def test_rank_one_outages_equal_rebuild_on_pglib_case118():
    path = Path(__file__).resolve().parents[2] / "shared/grids/pglib/pglib_opf_case118_ieee.m"
    if not path.exists():
        pytest.skip(f"no {path}")
    from topologies.matpower import import_case

    sc = import_case(path, sites=10, seed=1, gpus=26000)
    opf = grid_check.preexisting_opf(sc)
    inj = {n.id: -n.load_mw for n in sc.topology.substations}
    for pid, mw in opf.dispatch_mw.items():
        inj[pid] = inj.get(pid, 0.0) + mw
    screen = grid_check.OutageScreen(sc)
    assert {screen.line_ids[k] for k in screen.bridges} == set(grid_check.islanding_outages(sc))
    for ks, post in screen.post_outage(screen.vector(inj)):
        for k in ks[::10]:
            rebuilt = grid_check.outage_flows(sc, inj, screen.line_ids[k])
            assert rebuilt is not None
            jj = list(ks).index(k)
            np.testing.assert_allclose(post[:, jj, 0], [rebuilt[l] for l in screen.line_ids], atol=1e-6)


# --------------------------------------------------------------------------- GRID_MISSING and security levels


def test_grid_missing(scenario, plan):
    (v,) = only(verify(scenario, without_grid(plan)), "GRID_MISSING")
    assert v.entity == "grid"
    assert "7 lines" in v.message


def test_security_none_checks_no_grid(scenario, plan):
    var = variant(scenario, lambda s: setattr(s.policy.grid, "security", "none"))
    report = verify(var, without_grid(plan), check_digest=False)
    assert report.valid, report.violations
    assert not set(report.checks) & set(GRID_CODES)
    assert report.grid is None
    # a grid report may still be there (re-dispatch has a cost): its term is then required
    with_report = attach_grid(var, plan)
    assert verify(var, with_report, check_digest=False).valid
    terms = [t for t in with_report.cost_breakdown if t.name != "redispatch"]
    bad = with_report.model_copy(update={"cost_breakdown": terms})
    (v,) = only(verify(var, bad, check_digest=False), "REPORTED_MISMATCH")
    assert v.entity == "cost:redispatch"


def test_no_lines_no_grid_checks(scenario, plan):
    def edit(s):
        s.topology.edges = [e for e in s.topology.edges if e.kind != "line"]

    var = variant(scenario, edit)
    report = verify(var, without_grid(plan), check_digest=False)
    assert report.valid, report.violations
    assert report.grid is None


def test_redispatch_term_without_grid_is_a_mismatch(scenario, plan):
    bad = plan.model_copy(update={"grid": None})  # keeps the redispatch term
    report = verify(scenario, bad)
    assert codes(report) == {"GRID_MISSING", "REPORTED_MISMATCH"}
    assert any(v.entity == "cost:redispatch" and "no grid report" in v.message for v in report.violations)


# --------------------------------------------------------------------------- pre-existing dispatch


def test_preexisting_dispatch_feasible_but_not_least_cost(scenario, placed):
    report = check(scenario, placed, dispatch={"g1": 640.0, "g2": 10.0})
    (v,) = only(report, "PREEXISTING_DISPATCH")
    assert v.entity == "grid.preexisting"
    assert (v.measured, v.limit) == (pytest.approx(640 * 10 + 10 * 80), pytest.approx(6500.0))


def test_preexisting_dispatch_outside_bounds(scenario, placed):
    """Cheaper than the optimum, but g2 runs at -10 MW: infeasible, so not a cost question."""
    (v,) = only(check(scenario, placed, dispatch={"g1": 660.0, "g2": -10.0}), "PREEXISTING_DISPATCH")
    assert v.entity == "plant:g2"
    (v,) = only(check(scenario, placed, dispatch={"g1": 340.0, "g2": 310.0}), "PREEXISTING_DISPATCH")
    assert v.entity == "plant:g2" and (v.measured, v.limit) == (310.0, 300.0)  # capacity 400 - spare 100


def test_preexisting_dispatch_unbalanced(scenario, placed):
    (v,) = only(check(scenario, placed, dispatch={"g1": 640.0, "g2": 0.0}), "PREEXISTING_DISPATCH")
    assert v.entity == "component:g1"
    assert (v.measured, v.limit) == (pytest.approx(640.0), pytest.approx(650.0))


def test_preexisting_dispatch_breaking_a_rating_it_need_not(scenario, placed):
    """L6 rated 5 MW: the optimum (g2 = 0) keeps it; a dispatch with g2 = 20 overloads it."""
    var = variant(scenario, lambda s: setattr(line(s, "L6"), "rating_mw", 5.0))
    report = check(var, placed, dispatch={"g1": 630.0, "g2": 20.0})
    assert codes(report) == {"PREEXISTING_DISPATCH"}
    assert {v.entity for v in report.violations} == {"line:L6"}


def test_preexisting_relaxed_flag_must_agree(scenario, placed):
    (v,) = only(check(scenario, placed, relaxed=True), "PREEXISTING_DISPATCH")
    assert "relaxed=True" in v.message


def test_preexisting_alternative_optimum_is_accepted(scenario, placed):
    """Two plants at the same cost: any split is least-cost; the verifier compares costs, not dispatches."""
    var = variant(
        scenario, lambda s: setattr(next(p for p in s.topology.plants if p.id == "g2"), "cost_usd_per_mwh", 10.0)
    )
    assert check(var, placed, dispatch={"g1": 600.0, "g2": 50.0}).valid
    assert check(var, placed, dispatch={"g1": 650.0, "g2": 0.0}).valid


def test_relaxed_preexisting_state_and_no_harm_on_an_existing_overload(scenario, placed):
    """L7 rated 30 MW feeds D's 50 MW alone: the OPF must relax. The existing overload is a fact,
    but the plan's share of south at D adds to it: LINE_OVERLOAD, not PREEXISTING_DISPATCH.
    (Security n-0 here: under n-1 the same 53.6 MW also breaks L7's post-outage limit.)"""
    south = next((s.facility_power_mw for s in placed.sites if s.site == "south"), 0.0)
    assert south > 0

    def edit(s):
        line(s, "L7").rating_mw = 30.0
        s.policy.grid.security = "n-0"

    var = variant(scenario, edit)
    opf = grid_check.preexisting_opf(var)
    assert opf.relaxed and opf.objective_usd_per_h == pytest.approx(6500.0 + 20 * PENALTY)
    report = check(var, placed)
    (v,) = only(report, "LINE_OVERLOAD")
    assert v.entity == "line:L7"
    assert (v.measured, v.limit) == (pytest.approx(50 + south / 2), pytest.approx(50.0))
    assert report.grid.preexisting_relaxed and report.grid.preexisting_base_overloads == 1
    pre = attach_grid(var, placed).grid.preexisting
    assert pre.relaxed and [r.line for r in pre.base_overloads] == ["L7"]
    n1 = variant(var, lambda s: setattr(s.policy.grid, "security", "n-1"))
    report = check(n1, placed)
    assert codes(report) == {"LINE_OVERLOAD", "LINE_OVERLOAD_N1"}
    assert all(v.entity.startswith("line:L7") for v in report.violations)


def _pre(plan: Plan, **update) -> Plan:
    return plan.model_copy(
        update={"grid": plan.grid.model_copy(update={"preexisting": plan.grid.preexisting.model_copy(update=update)})}
    )


def test_preexisting_base_overload_left_out(scenario, placed):
    """The relaxed L7 case above: listing the existing overload keeps the plan to LINE_OVERLOAD;
    leaving it out of grid.preexisting.base_overloads adds exactly GRID_COVERAGE."""

    def edit(s):
        line(s, "L7").rating_mw = 30.0
        s.policy.grid.security = "n-0"

    var = variant(scenario, edit)
    plan = attach_grid(var, placed)
    assert codes(verify(var, plan, check_digest=False)) == {"LINE_OVERLOAD"}
    report = verify(var, _pre(plan, base_overloads=[]), check_digest=False)
    assert codes(report) == {"LINE_OVERLOAD", "GRID_COVERAGE"}
    (v,) = [v for v in report.violations if v.code == "GRID_COVERAGE"]
    assert v.entity == "grid.preexisting.base_overloads" and "L7" in v.message


def test_preexisting_base_overload_that_is_none(scenario, plan):
    """A line within its rating before the new load, listed (with its true flow) as overloaded."""
    d = Dense(scenario)
    f0 = d.flows(d.bus_vector(plan.grid.preexisting.dispatch_mw) - d.load)
    l = d.line_ids.index("L3")
    assert abs(f0[l]) < d.rating[l]
    row = LineFlow(
        line="L3",
        flow_mw=f0[l],
        limit_mw=d.rating[l],
        rating_mw=d.rating[l],
        loading_pct=100 * abs(f0[l]) / d.rating[l],
    )
    (v,) = only(verify(scenario, _pre(plan, base_overloads=[row])), "GRID_COVERAGE")
    assert v.entity == "line:L3" and "within its rating" in v.message


@pytest.fixture(scope="module")
def tight_l1(scenario) -> Scenario:
    """L1 rated 600 / 640 MW: losing L2 puts all of g1's 650 MW on L1 before any new load, a
    pre-existing N-1 overload the plan must not worsen."""

    def edit(s):
        line(s, "L1").rating_mw, line(s, "L1").emergency_rating_mw = 600.0, 640.0

    return variant(scenario, edit)


@pytest.fixture(scope="module")
def tight_l1_plan(tight_l1) -> Plan:
    from solvers import solve

    plan = solve(tight_l1, solver="milp")
    assert verify(tight_l1, plan).valid
    assert [(r.line, r.outage) for r in plan.grid.preexisting.n1_overloads] == [("L1", "L2")]
    return plan


def test_preexisting_n1_overload_left_out(tight_l1, tight_l1_plan):
    (v,) = only(verify(tight_l1, _pre(tight_l1_plan, n1_overloads=[])), "GRID_COVERAGE")
    assert v.entity == "grid.preexisting.n1_overloads" and "L1 after losing L2" in v.message


def test_preexisting_n1_overload_that_is_none(tight_l1, tight_l1_plan):
    """L2 after losing L1 carries g1's 650 MW too, but L2's emergency rating is 1000 MW."""
    d = Dense(tight_l1)
    k, l = d.line_ids.index("L1"), d.line_ids.index("L2")
    flow = d.flows(d.bus_vector(tight_l1_plan.grid.preexisting.dispatch_mw) - d.load, k)[l]
    row = ContingencyLoading(
        outage="L1", line="L2", flow_mw=flow, limit_mw=d.emergency[l], loading_pct=100 * abs(flow) / d.emergency[l]
    )
    bad = _pre(tight_l1_plan, n1_overloads=[*tight_l1_plan.grid.preexisting.n1_overloads, row])
    (v,) = only(verify(tight_l1, bad), "GRID_COVERAGE")
    assert v.entity == "line:L2/outage:L1" and "within its emergency rating" in v.message


# --------------------------------------------------------------------------- re-dispatch


def test_redispatch_above_spare(scenario, placed, plan):
    total = sum(r.mw for r in plan.grid.redispatch)
    report = check(scenario, placed, redispatch={"g1": 150.0 + 1.0, "g2": total - 151.0})
    # g1 above its spare; g2 (pre-existing output 0) below zero: both REDISPATCH_LIMIT
    assert codes(report) == {"REDISPATCH_LIMIT"}
    assert {v.entity for v in report.violations} == {"plant:g1", "plant:g2"}
    g1 = next(v for v in report.violations if v.entity == "plant:g1")
    assert (g1.measured, g1.limit) == (151.0, 150.0)


@pytest.mark.skipif("redispatch_down" not in GridPolicy.model_fields, reason="no redispatch_down in the policy")
def test_redispatch_down(scenario, placed, plan):
    """g1 lowers its output by 20 MW and g2 makes up for it: allowed only with redispatch_down."""
    total = sum(r.mw for r in plan.grid.redispatch)
    down = {"g1": -20.0, "g2": total + 20.0}
    on = variant(scenario, lambda s: setattr(s.policy.grid, "redispatch_down", True))
    assert check(on, placed, redispatch=down).valid
    off = variant(scenario, lambda s: setattr(s.policy.grid, "redispatch_down", False))
    (v,) = only(check(off, placed, redispatch=down), "REDISPATCH_LIMIT")
    assert v.entity == "plant:g1" and v.limit == 0.0
    # even with redispatch_down, no plant goes below zero output (g2's pre-existing output is 0)
    (v,) = only(check(on, placed, redispatch={"g1": total + 20.0, "g2": -20.0}), "REDISPATCH_LIMIT")
    assert v.entity == "plant:g2" and v.limit == 0.0


def test_grid_balance(scenario, placed, plan):
    total = sum(r.mw for r in plan.grid.redispatch)
    (v,) = only(check(scenario, placed, redispatch={"g1": total + 5.0}), "GRID_BALANCE")
    assert v.entity == "component:g1"
    assert (v.measured, v.limit) == (pytest.approx(total + 5.0), pytest.approx(total))


def test_unknown_plant_in_redispatch(scenario, plan):
    extra = Redispatch(plant="ghost", mw=1.0, spare_mw=1.0, cost_usd_per_mwh=1.0)
    bad = plan.model_copy(update={"grid": plan.grid.model_copy(update={"redispatch": [*plan.grid.redispatch, extra]})})
    (v,) = only(verify(scenario, bad), "UNKNOWN_ENTITY")
    assert v.entity == "plant:ghost"


# --------------------------------------------------------------------------- line limits


def _base_overload_edit(plan: Plan, line_id: str):
    """Rate ``line_id`` halfway between its pre-existing and its plan flow (emergency kept)."""
    f = flows_of(plan)[line_id]

    def edit(s):
        ln = line(s, line_id)
        f0 = _f0(s)[line_id]
        assert abs(f) > abs(f0) + 1.0, (line_id, f, f0)
        ln.emergency_rating_mw = grid_check.emergency_rating_mw(ln)
        ln.rating_mw = (abs(f) + abs(f0)) / 2

    return edit


def _f0(s: Scenario) -> dict[str, float]:
    d = Dense(s)
    dispatch, _ = d.opf()
    return dict(zip(d.line_ids, d.flows(d.bus_vector(dispatch) - d.load)))


@pytest.mark.parametrize("line_id", ["L1", "L7"])
def test_line_overload(scenario, placed, plan, line_id):
    var = variant(scenario, _base_overload_edit(plan, line_id))
    report = check(var, placed)
    (v,) = only(report, "LINE_OVERLOAD")
    assert v.entity == f"line:{line_id}"
    assert v.measured == pytest.approx(abs(flows_of(plan)[line_id]))
    assert v.limit == pytest.approx(line(var, line_id).rating_mw)
    assert "%" in v.message
    assert report.grid.n_minus_1 == "insecure"
    assert attach_grid(var, placed).grid.n_minus_1 == "insecure"  # the helper agrees


def _n1_case(scenario: Scenario, plan: Plan):
    """The (line, outage) whose post-outage flow rises most above every other limit it has."""
    d = Dense(scenario)
    p = d.bus_vector(plan.grid.injections_mw)
    p0 = d.bus_vector(plan.grid.preexisting.dispatch_mw) - d.load
    f, f0 = d.flows(p), d.flows(p0)
    best = None
    for k in range(len(d.lines)):
        if k in d.bridges():
            continue
        fk, f0k = d.flows(p, k), d.flows(p0, k)
        for l in range(len(d.lines)):
            if l == k:
                continue
            floor = max(abs(f[l]), abs(f0[l]), abs(f0k[l]))
            gain = abs(fk[l]) - floor
            if best is None or gain > best[0]:
                best = (gain, d.line_ids[l], d.line_ids[k], abs(fk[l]), floor)
    return best


def test_line_overload_n1(scenario, placed, plan):
    gain, line_id, outage, post, floor = _n1_case(scenario, plan)
    assert gain > 1.0

    def edit(s):
        ln = line(s, line_id)
        ln.rating_mw = floor + 0.1 * gain  # the base case stays within rating ...
        ln.emergency_rating_mw = floor + 0.5 * gain  # ... the post-outage flow does not

    var = variant(scenario, edit)
    report = check(var, placed)
    violations = only(report, "LINE_OVERLOAD_N1")
    assert f"line:{line_id}/outage:{outage}" in {v.entity for v in violations}
    v = next(v for v in violations if v.entity == f"line:{line_id}/outage:{outage}")
    assert v.measured == pytest.approx(post) and v.limit == pytest.approx(floor + 0.5 * gain)
    assert "after losing line" in v.message and "%" in v.message
    # the same edit is not a violation when only the base case is checked
    n0 = variant(var, lambda s: setattr(s.policy.grid, "security", "n-0"))
    report = check(n0, placed)
    assert report.valid, report.violations
    assert "LINE_OVERLOAD_N1" not in report.checks


def test_emergency_rating_defaults_to_rating(scenario):
    """L6 has no emergency rating: its post-outage limit is rating_mw."""
    assert line(scenario, "L6").emergency_rating_mw is None
    assert grid_check.emergency_rating_mw(line(scenario, "L6")) == 400.0


def test_bridge_outage_is_skipped_and_must_be_listed(scenario, placed, plan):
    """L7 is radial: its outage is never screened (no division by zero, no report), but it must be listed."""
    report = verify(scenario, plan)
    assert report.valid and report.grid.bridges == ["L6", "L7"]
    assert not any("outage:L7" in c.outage for c in plan.grid.worst_contingencies)
    # omitted from grid.bridges
    bad = plan.model_copy(update={"grid": plan.grid.model_copy(update={"bridges": ["L6"]})})
    (v,) = only(verify(scenario, bad), "REPORTED_MISMATCH")
    assert v.entity == "line:L7" and "islands" in v.message
    # a loading reported after losing L7
    fake = ContingencyLoading(outage="L7", line="L4", flow_mw=1.0, limit_mw=300.0, loading_pct=1 / 3)
    bad = plan.model_copy(
        update={"grid": plan.grid.model_copy(update={"worst_contingencies": [*plan.grid.worst_contingencies, fake]})}
    )
    (v,) = only(verify(scenario, bad), "REPORTED_MISMATCH")
    assert v.entity == "line:L4/outage:L7"


# --------------------------------------------------------------------------- monitoring thresholds


def test_monitor_min_kv_excludes_lower_voltage_lines(scenario, placed, plan):
    """L7 (154 kV) overloaded in the base case: flagged, unless only >= 345 kV lines are monitored."""
    var = variant(scenario, _base_overload_edit(plan, "L7"))
    assert codes(check(var, placed)) == {"LINE_OVERLOAD"}
    high = variant(var, lambda s: setattr(s.policy.grid, "monitor_min_kv", 345.0))
    report = check(high, placed)
    assert report.valid, report.violations
    assert report.grid.monitored_lines == 4  # L1, L2, L3, L6
    assert {c.line for c in report.grid.most_loaded} <= {"L1", "L2", "L3", "L6"}


def test_line_without_kv_stays_monitored(scenario, placed, plan):
    def edit(s):
        _base_overload_edit(plan, "L7")(s)
        line(s, "L7").kv = None
        s.policy.grid.monitor_min_kv = 345.0

    (v,) = only(check(variant(scenario, edit), placed), "LINE_OVERLOAD")
    assert v.entity == "line:L7"


def test_monitor_min_loading_excludes_lightly_loaded_lines(scenario, placed, plan):
    """L1 overloaded in the base case; its pre-existing worst loading is w: a threshold above w drops it."""
    var = variant(scenario, _base_overload_edit(plan, "L1"))
    d = Dense(var)
    dispatch, _ = d.opf()
    p0 = d.bus_vector(dispatch) - d.load
    l1 = d.line_ids.index("L1")
    w = abs(d.flows(p0)[l1]) / d.rating[l1]
    for k in range(len(d.lines)):
        if k not in d.bridges():
            w = max(w, abs(d.flows(p0, k)[l1]) / d.emergency[l1])
    above = variant(var, lambda s: setattr(s.policy.grid, "monitor_min_loading", w + 0.01))
    report = check(above, placed)
    assert report.valid, report.violations
    assert report.grid.monitored_lines < 7
    below = variant(var, lambda s: setattr(s.policy.grid, "monitor_min_loading", w - 0.01))
    (v,) = only(check(below, placed), "LINE_OVERLOAD")
    assert v.entity == "line:L1"


def test_monitor_min_loading_under_n0_counts_the_base_case_only(scenario, placed, plan):
    """L1 rated between its pre-existing and its plan flow, emergency 1.2 x rating. Before any new
    load it carries f0 in the base case but all of g1's 650 MW after losing L2: a threshold between
    the two shares keeps L1 monitored under n-1 (outages count) and drops it under n-0."""

    def edit(s):
        _base_overload_edit(plan, "L1")(s)
        line(s, "L1").emergency_rating_mw = 1.2 * line(s, "L1").rating_mw

    var = variant(scenario, edit)
    base_share = abs(_f0(var)["L1"]) / line(var, "L1").rating_mw
    emergency_mw = line(var, "L1").emergency_rating_mw
    assert emergency_mw is not None
    post_share = 650.0 / emergency_mw
    threshold = (base_share + post_share) / 2
    assert base_share < threshold < post_share

    def with_security(security):
        def apply(s):
            s.policy.grid.monitor_min_loading = threshold
            s.policy.grid.security = security

        return apply

    report = check(variant(var, with_security("n-1")), placed)
    assert "LINE_OVERLOAD" in codes(report) and codes(report) <= {"LINE_OVERLOAD", "LINE_OVERLOAD_N1"}
    assert all(v.entity.startswith("line:L1") for v in report.violations)
    report = check(variant(var, with_security("n-0")), placed)
    assert report.valid, report.violations
    assert report.grid.monitored_lines < 7


# --------------------------------------------------------------------------- reported figures


def _edit_grid(plan: Plan, **update) -> Plan:
    return plan.model_copy(update={"grid": plan.grid.model_copy(update=update)})


def _bump_line(plan: Plan, field: str):
    rows = [r.model_copy(update={field: getattr(r, field) + 1.0}) if r.line == "L4" else r for r in plan.grid.lines]
    return _edit_grid(plan, lines=rows), "line:L4"


def _bump_injection(plan: Plan):
    inj = dict(plan.grid.injections_mw)
    inj["B"] += 0.5
    return _edit_grid(plan, injections_mw=inj), "bus:B"


def _drop_new_load(plan: Plan):
    return _edit_grid(plan, new_load_mw={k: v for k, v in plan.grid.new_load_mw.items() if k != "A"}), "bus:A"


def _verdict(plan: Plan):
    return _edit_grid(plan, n_minus_1="insecure"), "grid"


def _not_checked(plan: Plan):
    return _edit_grid(plan, n_minus_1="not_checked"), "grid"


def _security(plan: Plan):
    return _edit_grid(plan, security="n-0"), "grid"


def _worst(plan: Plan):
    w = plan.grid.worst_contingencies
    bumped = w[0].model_copy(update={"flow_mw": w[0].flow_mw * 0.9})
    return _edit_grid(plan, worst_contingencies=[bumped, *w[1:]]), f"line:{w[0].line}/outage:{w[0].outage}"


def _worst_limit(plan: Plan):
    w = plan.grid.worst_contingencies
    bumped = w[0].model_copy(update={"limit_mw": w[0].limit_mw + 10, "loading_pct": w[0].loading_pct})
    return _edit_grid(plan, worst_contingencies=[bumped, *w[1:]]), f"line:{w[0].line}/outage:{w[0].outage}"


def _pre_cost(plan: Plan):
    pre = plan.grid.preexisting.model_copy(update={"cost_usd_per_h": 6400.0})
    return _edit_grid(plan, preexisting=pre), "grid.preexisting"


def _redispatch_cost_field(plan: Plan):
    rows = [r.model_copy(update={"cost_usd_per_mwh": 11.0}) for r in plan.grid.redispatch]
    return _edit_grid(plan, redispatch=rows), "plant:g1"


def _cost_term(plan: Plan):
    terms = [
        t.model_copy(update={"usd_per_year": t.usd_per_year + 1e4}) if t.name == "redispatch" else t
        for t in plan.cost_breakdown
    ]
    return plan.model_copy(update={"cost_breakdown": terms}), "cost:redispatch"


def _objective(plan: Plan):
    terms = [t for t in plan.cost_breakdown if t.name != "redispatch"]
    return plan.model_copy(
        update={"summary": plan.summary.model_copy(update={"objective": sum(t.usd_per_year for t in terms)})}
    ), "summary"


MISMATCHES = {
    "line.flow_mw": lambda p: _bump_line(p, "flow_mw"),
    "line.limit_mw": lambda p: _bump_line(p, "limit_mw"),
    "line.rating_mw": lambda p: _bump_line(p, "rating_mw"),
    "line.loading_pct": lambda p: _bump_line(p, "loading_pct"),
    "injection": _bump_injection,
    "new_load.missing": _drop_new_load,
    "verdict": _verdict,
    "verdict.not_checked": _not_checked,
    "security": _security,
    "worst.flow": _worst,
    "worst.limit": _worst_limit,
    "preexisting.cost": _pre_cost,
    "redispatch.cost_usd_per_mwh": _redispatch_cost_field,
    "cost.redispatch": _cost_term,
    "summary.objective_without_redispatch": _objective,
}


@pytest.mark.parametrize("case", list(MISMATCHES))
def test_reported_mismatch(scenario, plan, case):
    bad, entity = MISMATCHES[case](plan)
    violations = only(verify(scenario, bad), "REPORTED_MISMATCH")
    assert entity in {v.entity for v in violations}, violations


def test_tiny_perturbations_are_accepted(scenario, plan):
    rows = [r.model_copy(update={"flow_mw": r.flow_mw * (1 + 1e-9)}) for r in plan.grid.lines]
    inj = {b: v + 1e-9 for b, v in plan.grid.injections_mw.items()}
    assert verify(scenario, _edit_grid(plan, lines=rows, injections_mw=inj)).valid


# --------------------------------------------------------------------------- the solver's own grid reports


@pytest.mark.parametrize("engine", ["cpsat", "milp"])
def test_solver_grid_reports_agree_with_the_verifier(scenario, engine):
    from solvers import solve

    plan = solve(scenario, solver=engine)
    if plan.grid is None:
        pytest.skip(f"{engine} does not emit a grid report yet")
    report = verify(scenario, plan)
    assert "REPORTED_MISMATCH" not in codes(report), report.violations
    assert report.grid.n_minus_1 == plan.grid.n_minus_1
    if engine == "milp":
        assert report.valid, report.violations


# --------------------------------------------------------------------------- korea-2025


def test_korea_cpsat_placement_with_a_correct_grid_report_verifies():
    from solvers import solve
    from topologies import builtin_scenario

    sc = builtin_scenario("korea-2025")
    placed = solve(sc, solver="cpsat")
    plan = attach_grid(sc, placed)
    start = time.perf_counter()
    report = verify(sc, plan)
    seconds = time.perf_counter() - start
    print(
        f"\nkorea-2025 verify: {seconds:.3f} s (grid part {report.grid.seconds:.3f} s), "
        f"{report.grid.lines} lines, {report.grid.outages_screened} outages, verdict {report.grid.n_minus_1}"
    )
    assert report.valid, report.violations
    assert report.grid.n_minus_1 == "secure"
    # plants at the same cost (four nuclear, two coal): the LP optimum is not unique. Move
    # 100 MW between two of them with room to spare: still least-cost, still valid.
    opf = grid_check.preexisting_opf(sc)
    d = dict(plan.grid.preexisting.dispatch_mw)
    plants = {p.id: p for p in sc.topology.plants}
    a, b = next(
        (x, y)
        for x in plants
        for y in plants
        if x != y
        and plants[x].cost_usd_per_mwh == plants[y].cost_usd_per_mwh
        and d[x] >= 100
        and d[y] + 100 <= plants[y].capacity_mw - plants[y].spare_mw
    )
    d[a] -= 100.0
    d[b] += 100.0
    alt = attach_grid(sc, placed, dispatch=d)
    assert alt.grid.preexisting.cost_usd_per_h == pytest.approx(opf.cost_usd_per_h)
    report = verify(sc, alt)
    assert report.valid, report.violations
