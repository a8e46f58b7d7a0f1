"""The live solve display (placer.progress): its state from synthetic engine events, the structlog
processor on a (forced) terminal, a real solve under a pseudo-terminal, and the fallback to the log
lines when stderr is not a terminal or with --log-json."""

from __future__ import annotations

import io
import json
import os
import re
import select
import subprocess
import sys

import pytest
import structlog

from placer.progress import LiveProgress, ProgressState
from tests.helpers import DATA, REPO, run_cli

TINY = str(DATA / "tiny.yaml")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_state_follows_the_milp_contingency_loop_and_neighbourhoods():
    s = ProgressState()
    assert s.update("solve.start", {"scenario": "korea-2025", "solver": "auto"}) is False  # still printed
    assert s.update("milp.model", {"engine": "highs", "variables": 900, "constraints": 1200})
    assert s.phase == "MILP model built (900 variables, 1200 rows)"
    s.update("milp.solve", {"iteration": 1, "termination": "FEASIBLE", "objective_usd": 1000.0, "bound_usd": -1e30})
    assert (s.incumbent_usd, s.bound_usd, s.gap) == (1000.0, None, None)  # no bound yet: no gap
    s.update("milp.screen", {"iteration": 1, "base_added": 2, "contingency_added": 3, "worst_violation_mw": 12.5})
    assert s.phase == "contingency loop, iteration 1: 5 line rows added (worst overload 12.5 MW), re-solving"
    s.update("milp.solve", {"iteration": 2, "termination": "OPTIMAL", "objective_usd": 1010.0, "bound_usd": 1000.0})
    assert s.iteration == 2 and s.gap == pytest.approx(10 / 1010)
    s.update("milp.screen", {"iteration": 2, "base_added": 0, "contingency_added": 0, "worst_violation_mw": 0})
    assert s.phase == "contingency loop, iteration 2: N-1 secure, no rows to add" and s.rows_added == 5
    s.update("milp.lns", {"neighbourhood": 4, "sites": 3, "objective_usd": 1005.0, "seconds": 0.2})
    assert s.phase == "neighbourhood 4 (3 sites freed): improved" and s.incumbent_usd == 1005.0
    s.update(
        "milp.solve", {"iteration": "final", "termination": "TIME_LIMIT", "objective_usd": 1004.0, "bound_usd": 1003.0}
    )
    assert s.phase.startswith("last full solve") and s.gap == pytest.approx(1 / 1004)
    first, second = s.lines()
    assert "highs korea-2025" in first and "incumbent 1,004" in first and "bound 1,003" in first
    assert "gap 0.100 %" in first and "5 line rows" in first and "4 neighbourhoods improved" in first
    assert second.strip().startswith("last full solve")
    assert s.update("precheck.note", {"x": 1}) is False  # not a progress event: printed as a line


def test_state_follows_cpsat():
    s = ProgressState()
    s.update("cpsat.model", {"variables": 50, "constraints": 70})
    assert s.phase.startswith("CP-SAT search")
    s.update("cpsat.incumbent", {"solution": 1, "objective_usd": 200.0, "bound_usd": 100.0, "gap": 0.5})
    s.update("cpsat.incumbent", {"solution": 7, "objective_usd": 150.0, "bound_usd": 140.0, "gap": 0.07})
    assert s.phase == "CP-SAT search: solution 7" and s.gap == pytest.approx(10 / 150)
    s.update("cpsat.done", {"status": "OPTIMAL", "seconds": 1.5, "objective_usd": 150.0, "bound_usd": 150.0})
    assert s.phase == "CP-SAT OPTIMAL after 1.5 s" and s.gap == 0.0
    s.update("cpsat.done", {"status": "UNKNOWN", "objective_usd": None, "bound_usd": float("nan")})
    assert s.incumbent_usd == 150.0  # None and NaN leave the figures as they were


def test_processor_shows_progress_live_and_prints_other_events_above():
    buf = io.StringIO()
    from rich.console import Console

    console = Console(file=buf, force_terminal=True, width=160, color_system=None)
    proc = LiveProgress(console, structlog.dev.ConsoleRenderer(colors=False))
    with pytest.raises(structlog.DropEvent):
        proc(None, "info", {"event": "cpsat.incumbent", "objective_usd": 150.0, "bound_usd": 140.0, "solution": 3})
    with pytest.raises(structlog.DropEvent):  # while the display shows, other lines go above it
        proc(None, "warning", {"event": "solver.note", "level": "warning", "detail": "something to say"})
    proc.stop()
    proc.stop()  # idempotent
    text = ANSI.sub("", buf.getvalue())
    assert "solver.note" in text and "something to say" in text
    assert "incumbent 150" in text and "gap 6.667 %" in text and "CP-SAT search: solution 3" in text
    # once stopped, a non-progress event is an ordinary line again
    assert "later" in proc(None, "info", {"event": "later"})


def _under_pty(*args: str) -> tuple[int, str]:
    """Run ``python -m placer ARGS`` with stdout and stderr on a pseudo-terminal; its exit code and screen text."""
    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "placer", *args], stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), ANSI.sub("", b"".join(chunks).decode(errors="replace"))


def test_a_solve_on_a_terminal_shows_the_live_display():
    code, screen = _under_pty("solve", TINY, "--time-limit", "5")
    assert code == 0, screen
    assert "contingency loop, iteration" in screen and "elapsed" in screen and "incumbent" in screen
    assert "milp.solve" not in screen  # the raw event lines are replaced by the display
    assert "verified:" in screen  # the report follows


def test_log_json_on_a_terminal_keeps_the_json_lines():
    code, screen = _under_pty("--log-json", "solve", TINY, "--time-limit", "5")
    assert code == 0, screen
    events = [json.loads(line)["event"] for line in screen.splitlines() if line.startswith("{")]
    assert "milp.solve" in events and "elapsed" not in screen


def test_without_a_terminal_the_log_lines_are_as_before():
    r = run_cli("solve", TINY, "--time-limit", "5")
    assert r.returncode == 0, r.stderr
    assert "milp.solve" in r.stderr and "milp.screen" in r.stderr
    assert "elapsed" not in r.stderr and "contingency loop, iteration" not in r.stderr
