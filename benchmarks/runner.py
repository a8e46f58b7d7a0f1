"""Run benchmark suites and record the results: JSON, a Markdown table and a PNG plot.

``python -m benchmarks [--suite S ...] [--solver X ...] [--time-limit S] [--upfront-time-limit S] --out DIR``

``--suite scheduling`` (issue 14: cluster schedulers on job streams) has its own runner and
options: :mod:`benchmarks.scheduling`.

The ``pglib-n1`` suite runs, per case, the lazy contingency loop (``milp``) and then, back to
back, the up-front N-1 yardstick (``milp-upfront``, capped by ``--upfront-time-limit``), and
records their engine wall-time ratio (:func:`n1_pairs`): a lower bound ("≥") when the up-front
run did not finish proven within its cap.

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

from benchmarks.run_one import UPFRONT
from benchmarks.suites import DEFAULT_SOLVERS, LAYOUT_SOLVERS, SUITES

N1_SOLVERS = ["milp", UPFRONT]  # the pglib-n1 suite's default: lazy, then up-front, back to back


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


def n1_pairs(records: list[dict]) -> list[dict]:
    """Per case with both a lazy (``milp``) and an up-front record: engine wall seconds of each, the
    ratio up-front / lazy (``ratio_is_lower_bound`` when the up-front run stopped before a proven
    plan: its true time is longer), both statuses, gaps, loop iterations, rows and seconds per
    iteration. O(records)."""
    by_case: dict[tuple[str, str], dict[str, dict]] = {}
    for r in records:
        by_case.setdefault((r["suite"], r["case"]), {})[r["solver"]] = r
    out = []
    for (suite, case), runs in by_case.items():
        lazy, up = runs.get("milp"), runs.get(UPFRONT)
        if not lazy or not up or not lazy.get("engine_wall_seconds") or up.get("engine_wall_seconds") is None:
            continue
        iters = lazy.get("loop_iterations") or 0
        out.append(
            {
                "suite": suite,
                "case": case,
                "lazy_status": lazy.get("status"),
                "lazy_gap": lazy.get("gap"),
                "lazy_valid": lazy.get("valid"),
                "lazy_n_minus_1": lazy.get("n_minus_1"),
                "lazy_engine_wall_seconds": lazy["engine_wall_seconds"],
                "lazy_wall_seconds": lazy.get("wall_seconds"),
                "lazy_loop_iterations": iters,
                "lazy_rows_added": lazy.get("constraints_added"),
                "lazy_seconds_per_iteration": round(sum(lazy.get("loop_iteration_seconds") or [0]) / iters, 3)
                if iters
                else None,
                "upfront_status": up.get("status"),
                "upfront_gap": up.get("gap"),
                "upfront_engine_wall_seconds": up["engine_wall_seconds"],
                "upfront_wall_seconds": up.get("wall_seconds"),
                "upfront_rows": up.get("upfront_rows_total"),
                "upfront_rows_built": up.get("upfront_rows_built"),
                "upfront_build_estimate_seconds": up.get("upfront_build_estimate_seconds"),
                "upfront_nonzeros": up.get("upfront_nonzeros_estimate") or up.get("upfront_nonzeros_built"),
                "ratio": round(up["engine_wall_seconds"] / lazy["engine_wall_seconds"], 2),
                # an estimate, not a measurement: the up-front build alone at its measured rate, per lazy run
                "ratio_estimate_build_only": round(
                    up["upfront_build_estimate_seconds"] / lazy["engine_wall_seconds"], 1
                )
                if up.get("upfront_build_estimate_seconds")
                else None,
                "ratio_is_lower_bound": up.get("status") != "OPTIMAL",
            }
        )
    return out


def n1_markdown(pairs: list[dict]) -> str:
    cols = [
        "case",
        "lazy_status",
        "lazy_gap",
        "lazy_engine_wall_seconds",
        "lazy_loop_iterations",
        "lazy_rows_added",
        "lazy_seconds_per_iteration",
        "upfront_status",
        "upfront_engine_wall_seconds",
        "upfront_rows_built",
        "upfront_rows",
        "upfront_build_estimate_seconds",
        "upfront_nonzeros",
        "ratio_estimate_build_only",
        "ratio",
    ]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for p in pairs:
        cells = [p.get(c) for c in cols]
        cells[-1] = ("≥ " if p["ratio_is_lower_bound"] else "") + f"{p['ratio']:g}×"
        out.append("| " + " | ".join("-" if v is None else str(v) for v in cells) + " |")
    return "\n".join(out) + "\n"


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
    args_in = sys.argv[1:] if argv is None else list(argv)
    if any(a == "scheduling" or a == "--suite=scheduling" for a in args_in):
        # issue 14: the scheduling suite plays job streams, not scenarios; its own runner and options
        from benchmarks.scheduling import main as scheduling_main

        return scheduling_main(args_in)
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--suite", action="append", choices=sorted([*SUITES, "scheduling"]), help="repeatable; default: small"
    )
    ap.add_argument("--solver", action="append", help=f"repeatable; default: {' '.join(DEFAULT_SOLVERS)}")
    ap.add_argument("--case", action="append", help="only these case names (repeatable)")
    ap.add_argument("--time-limit", type=float, default=120.0, help="solver time limit per run, s")
    ap.add_argument(
        "--upfront-time-limit", type=float, default=60.0, help=f"time limit of the {UPFRONT} yardstick runs, s"
    )
    ap.add_argument("--out", required=True, type=Path, help="directory for results.json, results.md, results.png")
    args = ap.parse_args(argv)
    suites = args.suite or ["small"]
    args.out.mkdir(parents=True, exist_ok=True)
    records = []
    for suite in suites:
        solvers = args.solver or (
            N1_SOLVERS if suite == "pglib-n1" else LAYOUT_SOLVERS if suite == "layout" else DEFAULT_SOLVERS
        )
        for case, _ in SUITES[suite]:
            if args.case and case not in args.case:
                continue
            for solver in solvers:
                limit = args.upfront_time_limit if solver == UPFRONT else args.time_limit
                rec = run_case(suite, case, solver, limit, timeout_s=limit * 4 + 300)
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
    pairs = n1_pairs(records)
    if pairs:
        doc["n1_pairs"] = pairs
    (args.out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    table = markdown(records)
    if pairs:
        table += "\nLazy N-1 loop against the up-front yardstick (engine wall seconds, back to back):\n\n"
        table += n1_markdown(pairs)
    (args.out / "results.md").write_text(f"Command: `{doc['command']}`\n\nMachine: {doc['machine']}\n\n{table}")
    plot(records, args.out / "results.png")

    # An engine that does not model flows and says its plan is insecure is an expected result, not a failure.
    def expected_invalid(r: dict) -> bool:
        return r.get("grid_enforced") is False and r.get("n_minus_1") == "insecure"

    failed = [
        r
        for r in records
        if r.get("status") in ("CRASH", "TIMEOUT")
        or (r.get("valid") is False and not expected_invalid(r))
        or r.get("layout_valid") is False
    ]
    return 1 if failed else 0
