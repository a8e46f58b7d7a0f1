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
