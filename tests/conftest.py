"""Shared fixtures: scenario files and a runner for the real `placer` CLI in a subprocess.

Plain helpers (paths, ``run_cli``, report assertions) live in :mod:`tests.helpers`, which test
modules import; a conftest is not meant to be imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import DATA, run_cli


@pytest.fixture
def tiny_path() -> Path:
    return DATA / "tiny.yaml"


@pytest.fixture
def tiny():
    from placer.io import load_scenario

    return load_scenario(DATA / "tiny.yaml")


@pytest.fixture
def cli():
    return run_cli
