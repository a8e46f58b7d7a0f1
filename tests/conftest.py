"""Shared fixtures: scenario files and a runner for the real `placer` CLI in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
SHARED_GRIDS = REPO.parent / "shared" / "grids" / "pglib"


@pytest.fixture
def tiny_path() -> Path:
    return DATA / "tiny.yaml"


@pytest.fixture
def tiny():
    from placer.io import load_scenario

    return load_scenario(DATA / "tiny.yaml")


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m placer ARGS` as a user would; returns the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "placer", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


def codes(report) -> set[str]:
    """The violation codes of a verifier report."""
    return {v.code for v in report.violations}


def only(report, code: str) -> list:
    """Assert the report has violations of ``code`` and no other; return them."""
    assert not report.valid
    assert codes(report) == {code}, report.violations
    return report.violations
