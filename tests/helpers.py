"""Shared test helpers: paths to the test data and grids, the real `placer` CLI in a subprocess,
and assertions on verifier reports. Imported by test modules (``from tests.helpers import ...``);
the fixtures built on them live in ``tests/conftest.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
SHARED_GRIDS = REPO.parent / "shared" / "grids" / "pglib"


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m placer ARGS` as a user would; returns the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "placer", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def cli_in_process(*args: str) -> int:
    """Run the `placer` command line in this process (as the console script does, without the
    interpreter start-up and imports a subprocess pays); returns its exit code."""
    import structlog

    from placer.cli import main

    saved = structlog.get_config()  # the CLI binds its logs to this sys.stderr (a test's capture, soon closed)
    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    finally:
        structlog.configure(**saved)
    return 0


def pypower_dcpf(path: Path | str):
    """PYPOWER's DC power flow of a MATPOWER case's own dispatch (the ppc built from matpowercaseframes
    arrays): the independent reference the grid tests compare placer's DC model with."""
    import pytest

    pypower_api = pytest.importorskip("pypower.api")
    from matpowercaseframes import CaseFrames

    cf = CaseFrames(str(path))
    ppc = {
        "version": "2",
        "baseMVA": float(cf.baseMVA),
        "bus": cf.bus.to_numpy(dtype=float).copy(),
        "gen": cf.gen.to_numpy(dtype=float).copy(),
        "branch": cf.branch.to_numpy(dtype=float).copy(),
        "gencost": cf.gencost.to_numpy(dtype=float).copy(),
    }
    results, success = pypower_api.rundcpf(ppc, pypower_api.ppoption(VERBOSE=0, OUT_ALL=0))
    assert success
    return results


def codes(report) -> set[str]:
    """The violation codes of a verifier report."""
    return {v.code for v in report.violations}


def only(report, code: str) -> list:
    """Assert the report has violations of ``code`` and no other; return them."""
    assert not report.valid
    assert codes(report) == {code}, report.violations
    return report.violations


def renpv(scenario, plan):
    """``plan`` with its rollout NPV (``npv`` and ``summary.objective``) and critical path re-derived from its schedule
    as a solver would (:func:`solvers.npv.npv_report`, never the verifier's recomputation). Schedule
    keys the solver's problem has no candidate for count as nothing live."""
    from solvers.critical_path import critical_paths
    from solvers.npv import npv_report
    from solvers.problem import build_problem

    problem = build_problem(scenario)
    index = {
        (problem.tenants[c.t].id, problem.skus[c.k].id, problem.sites[c.s].id): i
        for i, c in enumerate(problem.candidates)
    }
    schedule: dict[tuple[int, int], int] = {}
    for q, rep in enumerate(plan.schedule or []):
        for key, n in rep.installed_racks.items():
            i = index.get(tuple(key.split("/")))
            if i is not None:
                schedule[(i, q)] = n
    # each quarter pays its own re-dispatch; the last quarter's grid is the plan's
    redispatch: list[float] = []
    if plan.grid is not None:
        grids = [rep.grid for rep in (plan.schedule or [])[:-1]] + [plan.grid]
        redispatch = [_redispatch_usd_per_year(scenario, g) for g in grids]
    option_of = {opt.id: o for o, opt in enumerate(problem.options)}
    period_of = {p: q for q, p in enumerate(problem.periods.ids)}
    built: dict[int, int] = {}
    for inv in plan.investments or []:  # the first entry of each known option, as a solver records it
        if inv.option in option_of and inv.period in period_of:
            built.setdefault(option_of[inv.option], period_of[inv.period])
    npv = npv_report(problem, schedule, redispatch, built)
    summary = plan.summary.model_copy(update={"objective": npv.total_usd})
    # the critical path follows the schedule too (solvers.critical_path, as a solver derives it)
    reports = [rep.grid for rep in (plan.schedule or [])[:-1]] + [plan.grid]
    paths = critical_paths(problem, schedule, built, reports) if plan.critical_path is not None else None
    return plan.model_copy(update={"npv": npv, "summary": summary, "critical_path": paths})


def _redispatch_usd_per_year(scenario, grid) -> float:
    """A grid report's re-dispatch cost by the solver's rule (only raised output charged); 0 without one."""
    from solvers.grid_security import redispatch_cost_usd_per_year

    if grid is None:
        return 0.0
    return redispatch_cost_usd_per_year(
        scenario, [r.cost_usd_per_mwh for r in grid.redispatch], [r.mw for r in grid.redispatch]
    )


def npv_term(plan, name: str) -> float:
    """The present value of one NPV term of a rollout plan, USD."""
    return next(t.usd for t in plan.npv.terms if t.name == name)
