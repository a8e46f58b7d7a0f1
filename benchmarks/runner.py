"""Run benchmark suites and record the results: JSON, a Markdown table and a PNG plot.

``python -m benchmarks [--suite S ...] [--solver X ...] [--time-limit S] --out DIR``

Each (case, solver) runs in a fresh subprocess (:mod:`benchmarks.run_one`) so peak RSS
is that run's own. The JSON carries the suite name in every record, the machine (cores,
CPU model, library versions) and the exact command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.suites import DEFAULT_SOLVERS, SUITES


def machine_info() -> dict:
    import numpy
    import ortools
    import scipy

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "ortools": ortools.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
    }


def run_case(suite: str, case: str, solver: str, time_limit_s: float, timeout_s: float) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.run_one", suite, case, solver, str(time_limit_s)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"suite": suite, "case": case, "solver": solver, "status": "TIMEOUT", "wall_seconds": timeout_s}
    wall = round(time.perf_counter() - t0, 3)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"suite": suite, "case": case, "solver": solver, "status": "CRASH", "error": tail, "wall_seconds": wall}
    record = json.loads(lines[-1])
    record["wall_seconds"] = wall
    return record


def markdown(records: list[dict]) -> str:
    cols = [
        "suite",
        "case",
        "solver",
        "sites",
        "gpus",
        "status",
        "placement_status",
        "objective",
        "objective_unit",
        "gap",
        "build_seconds",
        "solve_seconds",
        "verify_seconds",
        "peak_rss_mb",
        "loop_iterations",
        "constraints_added",
        "n_minus_1",
        "valid",
    ]

    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.4e}"
        return str(v)

    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in records]
    return "\n".join(out) + "\n"


def plot(records: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for solver in sorted({r["solver"] for r in records}):
        rows = sorted(
            (r for r in records if r["solver"] == solver and r.get("solve_seconds") is not None),
            key=lambda r: r["gpus"],
        )
        if not rows:
            continue
        # markers only: cases of equal size (e.g. PGLib grids) are different problems, not a series
        ax1.scatter([r["gpus"] for r in rows], [max(r["solve_seconds"], 1e-3) for r in rows], label=solver, alpha=0.8)
        ax2.scatter([r["gpus"] for r in rows], [100 * (r.get("gap") or 0.0) for r in rows], label=solver, alpha=0.8)
    for ax, label in ((ax1, "solve seconds"), (ax2, "gap %")):
        ax.set_xscale("log")
        ax.set_xlabel("GPUs")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    ax1.set_yscale("log")
    fig.suptitle("placer benchmarks: solve time and gap against size")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--suite", action="append", choices=sorted(SUITES), help="repeatable; default: small")
    ap.add_argument("--solver", action="append", help=f"repeatable; default: {' '.join(DEFAULT_SOLVERS)}")
    ap.add_argument("--case", action="append", help="only these case names (repeatable)")
    ap.add_argument("--time-limit", type=float, default=120.0, help="solver time limit per run, s")
    ap.add_argument("--out", required=True, type=Path, help="directory for results.json, results.md, results.png")
    args = ap.parse_args(argv)
    suites = args.suite or ["small"]
    solvers = args.solver or DEFAULT_SOLVERS
    args.out.mkdir(parents=True, exist_ok=True)
    records = []
    for suite in suites:
        for case, _ in SUITES[suite]:
            if args.case and case not in args.case:
                continue
            for solver in solvers:
                rec = run_case(suite, case, solver, args.time_limit, timeout_s=args.time_limit * 4 + 300)
                records.append(rec)
                print(
                    f"{suite:7s} {case:18s} {solver:7s} {rec.get('status', '?'):12s} "
                    f"solve {rec.get('solve_seconds', '-')} s gap {rec.get('gap', '-')} "
                    f"valid {rec.get('valid', '-')} rss {rec.get('peak_rss_mb', '-')} MB",
                    flush=True,
                )
    doc = {
        "command": "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(),
        "records": records,
    }
    (args.out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    table = markdown(records)
    (args.out / "results.md").write_text(f"Command: `{doc['command']}`\n\nMachine: {doc['machine']}\n\n{table}")
    plot(records, args.out / "results.png")

    # An engine that does not model flows and says its plan is insecure is an expected result, not a failure.
    def expected_invalid(r: dict) -> bool:
        return r.get("grid_enforced") is False and r.get("n_minus_1") == "insecure"

    failed = [
        r
        for r in records
        if r.get("status") in ("CRASH", "TIMEOUT") or (r.get("valid") is False and not expected_invalid(r))
    ]
    return 1 if failed else 0
