"""Parity: the exact engines reach the same optimum, within their gaps, on the same problem.

Every exact engine's bound must lie below every other engine's objective (a bound above another
engine's verified plan is wrong, whichever engine is at fault), and each must be proven
optimal on these small cases; together that pins the objectives to within the larger gap.

Cases (``tests/data``), all solved in well under a second each:

* single period without line flows: ``tiny``, ``grid_mesh`` and ``grid_binding`` with their
  lines removed (CP-SAT, HiGHS and SCIP all place the same model; plants stay, so the
  generation-adequacy row is in it);
* rollouts: ``rollout_toy`` and ``rollout_multi`` (placement and schedule together);
* grids under N-1: ``grid_binding`` (the contingency loop adds rows), ``grid_mesh`` and ``tiny``,
  between the grid-aware engines. CP-SAT is grid-blind: its plan, priced with the re-dispatch
  chosen afterwards, is a feasible plan of the grid problem wherever it is N-1 secure, so its
  objective must then lie above the grid engines' bounds.
"""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

import pytest

from placer.io import load_scenario
from placer.verify import verify
from solvers import REGISTRY, solve

DATA = Path(__file__).parent / "data"
EXACT = ["cpsat", "milp", "scip"]
TIME_LIMIT_S = 10.0
TOL = 1e-9  # relative: floating-point slack between engines' sums of the same terms


def _without_lines(sc):
    sc = sc.model_copy(deep=True)
    sc.topology.edges = [e for e in sc.topology.edges if e.kind != "line"]
    return sc


def _case(name: str):
    base, _, variant = name.partition(":")
    sc = load_scenario(DATA / f"{base}.yaml")
    return _without_lines(sc) if variant == "no-lines" else sc


def _assert_parity(sc, engines: list[str]) -> dict:
    plans = {name: solve(sc, name, time_limit_s=TIME_LIMIT_S) for name in engines}
    for name, plan in plans.items():
        report = verify(sc, plan)
        assert report.valid, (name, report.violations)
        assert plan.summary.status == "OPTIMAL", (name, plan.summary.gap)
    for a, b in permutations(engines, 2):
        bound, objective = plans[a].summary.bound, plans[b].summary.objective
        assert bound is not None, f"{a} claims bounds"
        assert bound <= objective + TOL * abs(objective), (
            f"{a}'s bound {bound:,.2f} is above {b}'s plan {objective:,.2f}"
        )
    objectives = [p.summary.objective for p in plans.values()]
    gaps = [p.summary.gap for p in plans.values()]
    assert all(g is not None for g in gaps), gaps  # every plan is OPTIMAL, so it has a gap
    widest = max(max(g for g in gaps if g is not None), plans[engines[0]].summary.relative_gap)
    assert max(objectives) - min(objectives) <= (widest + TOL) * max(abs(o) for o in objectives), objectives
    return plans


def test_the_exact_engines_are_the_registered_bounded_ones():
    assert EXACT == [name for name, e in REGISTRY.items() if e.capabilities.bounds]


@pytest.mark.parametrize("case", ["tiny:no-lines", "grid_mesh:no-lines", "grid_binding:no-lines"])
def test_single_period_placement_parity(case):
    plans = _assert_parity(_case(case), EXACT)
    assert all(p.grid is None for p in plans.values())


@pytest.mark.parametrize("case", ["rollout_toy", "rollout_multi"])
def test_rollout_parity(case):
    plans = _assert_parity(_case(case), EXACT)
    stranded = {p.summary.stranded_gpu_quarters for p in plans.values()}
    if case == "rollout_toy":
        assert stranded == {1440}


@pytest.mark.parametrize("case", ["grid_binding", "grid_mesh", "tiny"])
def test_grid_parity_between_the_grid_aware_engines(case):
    sc = _case(case)
    grid_aware = [name for name in EXACT if REGISTRY[name].capabilities.grid]
    plans = _assert_parity(sc, grid_aware)
    assert all(p.grid.n_minus_1 == "secure" for p in plans.values())
    blind = solve(sc, "cpsat", time_limit_s=TIME_LIMIT_S)
    # The grid-blind bound (placement bound + the re-dispatch no placement avoids) bounds the grid problem.
    assert blind.summary.bound <= min(p.summary.objective for p in plans.values()) * (1 + TOL)
    if blind.grid.n_minus_1 == "secure":
        for name, plan in plans.items():
            assert plan.summary.bound <= blind.summary.objective * (1 + TOL), name
    else:
        assert case == "grid_binding"  # the one case where N-1 binds on the grid-blind placement


# --------------------------------------------------------------------------- one formulation, two translations


def _cpsat_row_names(problem) -> list[str]:
    from solvers.cpsat import PlacementModel

    return [c.name for c in PlacementModel(problem).model.proto.constraints]


def _milp_row_names(problem) -> list[str]:
    from solvers.milp import MilpModel

    return [c.name for c in MilpModel(problem).m.linear_constraints()]


@pytest.mark.parametrize("case", ["tiny", "grid_binding", "rollout_toy", "rollout_multi"])
def test_both_engines_translate_the_same_named_rows(case):
    """The rows come from one formulation: CP-SAT and the MILP hold the same named rows, except the
    MILP's facility definitions (it keeps the aggregates as variables; CP-SAT writes them out), the
    capacity cuts the MILP leaves out of rollouts, and the rows on one variable the MILP makes bounds
    (nothing live before a tenant's first period)."""
    from solvers.problem import build_problem

    problem = build_problem(_case(case))
    cp, mip = _cpsat_row_names(problem), _milp_row_names(problem)
    assert all(cp) and len(set(mip)) == len(mip)
    families = {name.split("[", 1)[0] for name in cp}
    assert {"demand", "site_it_capacity", "feed_capacity", "power_band_max", "use_link"} <= families
    only_milp = {n for n in mip if n.startswith("facility_def[")}
    cuts = {n for n in cp if n.startswith(("open_capacity[", "use_capacity["))}
    bounds = {n for n in cp if n.startswith("earliest[")}
    assert set(mip) - only_milp == set(cp) - (cuts if problem.periods.multi else set()) - bounds


@pytest.mark.parametrize("case", ["tiny", "rollout_multi"])
def test_cpsat_scales_every_mw_row_on_the_safe_side(case):
    """CP-SAT's translator owns the integer scaling: for every MW row of the formulation, an upper
    limit's coefficients are rounded up and its limit down (a lower limit's the other way), so a plan
    feasible in watts is feasible in MW; count rows keep their exact integers."""
    from solvers.cpsat import PlacementModel
    from solvers.formulation import MW
    from solvers.problem import build_problem
    from solvers.scaling import W_PER_MW

    problem = build_problem(_case(case))
    pm = PlacementModel(problem)
    by_name = {c.name: c for c in pm.model.proto.constraints}
    checked = 0
    for named in pm.constraints:
        row, ct = named.row, by_name[named.name]
        terms = {pm.var(ref).index: c for c, ref in pm.f.expand(row.terms)}
        scaled = dict(zip(ct.linear.vars, ct.linear.coeffs))
        lo, hi = list(ct.linear.domain)[:2]
        assert scaled.keys() == terms.keys(), row.name
        if row.unit != MW:
            assert scaled == {v: int(c) for v, c in terms.items()}, row.name
            continue
        checked += 1
        if row.hi is not None:
            assert all(scaled[v] >= c * W_PER_MW - 1e-6 for v, c in terms.items()), row.name
            assert hi <= row.hi * W_PER_MW + 1e-6, row.name
        else:
            assert row.lo is not None, row.name  # an MW row has exactly one side
            assert all(scaled[v] <= c * W_PER_MW + 1e-6 for v, c in terms.items()), row.name
            assert lo >= row.lo * W_PER_MW - 1e-6, row.name
    assert checked >= 5


@pytest.mark.parametrize("case", ["tiny", "rollout_multi"])
def test_the_milp_keeps_its_measured_row_order(case):
    """Row order steers HiGHS's search (korea-2025: 1,038 nodes with every facility definition first,
    479 as built), so the MILP's translation keeps its order: the demand rows first, then site by site
    its limits and just after them its facility definition; on rollouts the monotone rows before the
    earlier periods' limits, and each demand line's deliveries and windows period by period. The
    period-by-period windows are the same rows as the formulation's default order."""
    from solvers.formulation import Formulation
    from solvers.problem import build_problem

    problem = build_problem(_case(case))
    names = _milp_row_names(problem)
    family = [n.split("[", 1)[0] for n in names]
    n_demand = len(problem.demand_racks)
    assert family[:n_demand] == ["demand"] * n_demand
    for site in problem.sites:
        at = names.index(f"facility_def[{site.id}]")
        tag = f",{problem.periods.ids[-1]}" if problem.periods.multi else ""
        if f"feed_capacity[{site.id}{tag}]" in names:
            assert names[at - 1] == f"feed_capacity[{site.id}{tag}]", site.id
    if problem.periods.multi:
        first_earlier_limit = next(
            i
            for i, n in enumerate(names)
            if n.startswith("site_it_capacity[") and n.endswith(f",{problem.periods.ids[0]}]")
        )
        assert max(i for i, f in enumerate(family) if f == "monotone") < first_earlier_limit
        f = Formulation(problem)
        by_period = [r.name for r in f.windows(by_period=True)]
        assert sorted(by_period) == sorted(r.name for r in f.windows())
        delivered = [n for n in by_period if n.startswith(("delivered[", "latest["))]
        assert [n for n in names if n.startswith(("delivered[", "latest["))] == delivered
