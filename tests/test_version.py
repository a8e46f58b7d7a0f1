"""One version source: ``placer.__version__``, read by the build and printed by ``placer --version``."""

from __future__ import annotations

import tomllib

import placer
from tests.helpers import REPO, run_cli


def test_version_option_prints_the_one_version():
    done = run_cli("--version", timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"placer {placer.__version__}"


def test_the_build_reads_the_version_from_the_package():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "placer.__version__"}
