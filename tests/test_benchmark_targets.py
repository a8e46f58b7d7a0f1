"""The targets judge: verdicts and margins from recorded records (no runs)."""

from __future__ import annotations

import json

from benchmarks.targets import judge, main


def _rec(**kw):
    base = {"suite": "x", "solver": "milp", "valid": True, "build_to_solve_memory_ratio": 0.5}
    return {**base, **kw}


def test_verdicts_and_margins():
    rows = [
        _rec(case="korea-2025", status="OPTIMAL", solve_seconds=3.0),
        _rec(case="korea-2025", solver="cpsat", status="FEASIBLE", solve_seconds=10.0),
        {
            "case": "korea-2025",
            "command": "placer solve korea-2025 -o plan.json",
            "median_s": 5.4,
            "wall_seconds": [5.0, 5.4, 6.0],
            "exit_codes": [0, 0, 0],
        },
        _rec(case="syn-s500-g1m", gap=0.007, solve_seconds=120.0),
        _rec(case="syn-s1000-g2.6m", gap=0.009, solve_seconds=120.2, verify_seconds=0.8),
        _rec(
            case="syn-s1000-g2.6m",
            solver="cpsat",
            gap=0.009,
            solve_seconds=120.0,
            valid=False,
            verify_seconds=2.5,
            build_to_solve_memory_ratio=2.4,
        ),
        _rec(case="syn-s1000-g2.6m", solver="greedy", gap=None, solve_seconds=0.1, verify_seconds=0.7),
    ]
    got = {(v["target"].split()[0], v["solver"]): v for v in judge(rows)}
    assert got[("korea-2025", "milp")]["met"] and not got[("korea-2025", "cpsat")]["met"]
    wall = got[("korea-2025", "default")]
    assert not wall["met"] and wall["margin"] == "+0.40 s" and "5.00, 5.40, 6.00" in wall["measured"]
    assert not got[("large", "milp")]["met"] and got[("large", "milp")]["margin"] == "+0.20 pp"
    assert got[("build", "all")]["measured"].startswith("worst 2.40x")
    assert got[("xl", "milp")]["met"]  # within the 5 % slack on the time limit
    assert not got[("xl", "cpsat")]["met"]  # the plan did not verify
    assert ("xl", "greedy") not in got  # no bound, no gap target
    assert not got[("verifier", "cpsat")]["met"] and got[("verifier", "milp")]["met"]
    assert not got[("build", "all")]["met"] and "2.40x" in got[("build", "all")]["measured"]


def test_cli_writes_markdown_and_json(tmp_path):
    src = tmp_path / "results.json"
    src.write_text(
        json.dumps(
            {"command": "c", "machine": {}, "records": [_rec(case="korea-2025", status="OPTIMAL", solve_seconds=1.0)]}
        )
    )
    out = tmp_path / "targets.md"
    assert main([str(src), "--out", str(out)]) == 0
    assert "| korea-2025 OPTIMAL | milp | OPTIMAL | yes | - |" in out.read_text()
    assert json.loads(out.with_suffix(".json").read_text())[0]["met"] is True


def test_n1_targets_judge_gap_time_security_and_the_ratio():
    rows = [
        _rec(suite="pglib-n1", case="a", gap=0.0005, engine_wall_seconds=40.0, n_minus_1="secure", status="OPTIMAL"),
        _rec(suite="pglib-n1", case="b", gap=0.0005, engine_wall_seconds=40.0, n_minus_1="insecure", status="FEASIBLE"),
        _rec(suite="pglib-n1", case="c", gap=0.002, engine_wall_seconds=40.0, n_minus_1="secure", status="FEASIBLE"),
        {
            "kind": "n1_pair",
            "case": "a",
            "ratio": 35.2,
            "ratio_is_lower_bound": True,
            "upfront_status": "X",
            "upfront_engine_wall_seconds": 272.0,
            "lazy_status": "OPTIMAL",
            "lazy_engine_wall_seconds": 7.7,
        },
        {
            "kind": "n1_pair",
            "case": "c",
            "ratio": 4.0,
            "ratio_is_lower_bound": False,
            "upfront_status": "OPTIMAL",
            "upfront_engine_wall_seconds": 160.0,
            "lazy_status": "OPTIMAL",
            "lazy_engine_wall_seconds": 40.0,
        },
    ]
    got = {v["target"]: v for v in judge(rows)}
    assert got["a: secure, verified, within 0.1 % in <= 120 s"]["met"]
    assert not got["b: secure, verified, within 0.1 % in <= 120 s"]["met"]
    assert not got["c: secure, verified, within 0.1 % in <= 120 s"]["met"]
    a = got["a: lazy N-1 >= 10x faster than up-front"]
    assert a["met"] and a["measured"].startswith("≥ 35.2x") and "(lower bound)" in a["margin"]
    assert not got["c: lazy N-1 >= 10x faster than up-front"]["met"]
