"""Logging: JSON lines on stderr with --log-json, live solver progress, report on stdout."""

from __future__ import annotations

import json


def test_log_json_emits_json_lines_with_progress(cli, tiny_path):
    result = cli("--log-json", "solve", str(tiny_path), "--solver", "cpsat")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    names = [e["event"] for e in events]
    assert "solve.start" in names and "cpsat.incumbent" in names and "cpsat.done" in names
    incumbent = next(e for e in events if e["event"] == "cpsat.incumbent")
    assert {"objective_usd", "bound_usd", "gap"} <= set(incumbent)
    assert "verified" in result.stdout


def test_quiet_hides_info_logs(cli, tiny_path):
    result = cli("--quiet", "solve", str(tiny_path))
    assert result.returncode == 0
    assert "cpsat.incumbent" not in result.stderr
