"""The scheduling suite (issue 14): every cluster scheduler on the Korea fleet's week, the
decision time with 10,000 queued jobs, and the 10x fleet; every schedule verified.

``python -m benchmarks --suite scheduling --out benchmarks/results/scheduling [--plan PLAN]
[--scheduler NAME ...] [--case NAME ...] [--days D] [--scale-days D] [--queued N] [--seed N]``

Cases:

* ``korea-week``: the Korea fleet (``--plan``, else ``placer solve korea-2025 --layout
  --deterministic``, ~30 s) with :func:`topologies.jobs_synthetic.korea_week` (~39,000 jobs,
  load 1.0, 75 % busy at t = 0, a demand-response event on two sites and a line outage on a third). Every scheduler
  of :data:`solvers.cluster_schedulers.SCHEDULERS` with its default power response, then
  ``easy-blocks`` with each other response of :data:`solvers.cluster_schedulers.RESPONSES`.
* ``decision-10k``: the same fleet with the week's first jobs submitted at t = 0 (those whose GPUs
  fill the fleet, plus 1.5 x ``--queued`` more) and a 2-hour horizon, so every event sees about
  ``--queued`` jobs waiting (recorded: events with at least that many, their times): the decision
  time per event at Korea scale (the issue's target: <= 1 s with 260,000 GPUs and 10,000 queued).
* ``fleet-10x``: the plan's sites replicated 10 times (:func:`topologies.fleet_scale.scale_plan`,
  2.6 M GPUs) with ``--scale-days`` (default 1: a week would be ~390,000 jobs) of the same
  stream; every scheduler with its default response.

Each (case, scheduler, response) runs in a fresh subprocess (``python -m benchmarks.scheduling
--child CONFIG``) that rebuilds the fleet and the seeded workload (deterministic), simulates,
and checks the schedule with :func:`placer.verify_cluster.verify_cluster` (never the
simulator's own figures): a run that crashes or passes ``--run-timeout`` is recorded as such.
``results.json`` has every record, the machine and the command; ``results.md`` a table per case
with mean/p99 JCT, queueing, makespan, utilisation, fragmentation, GPU-hours lost to power,
decision times, the checker's verdict (or its violation codes) and each run's mean JCT over
``easy-blocks``' (the Slurm-default yardstick: FIFO + EASY backfill, block-aware).

Complexity: the simulations dominate (see the recorded wall times).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CASES = ("korea-week", "decision-10k", "fleet-10x")
YARDSTICK = "easy-blocks"
DECISION_HORIZON_S = 2 * 3600.0
SCALE = 10


def _fleet_and_workload(cfg: dict[str, Any]):
    """Rebuild the case's fleet and workload from the run's config (deterministic for its seed)."""
    from placer.fleet import fleet_from_plan
    from placer.io import load_plan
    from topologies.jobs_synthetic import korea_week

    plan = load_plan(cfg["plan"])
    case = cfg["case"]
    if case == "fleet-10x":
        from topologies.fleet_scale import scaled_week

        big, wl = scaled_week(plan, cfg["scale"], days=cfg["scale_days"], seed=cfg["seed"])
        return fleet_from_plan(big, wl), wl
    fleet = fleet_from_plan(plan)
    # the decision case draws its queue from the whole week, whatever --days says
    wl = korea_week(fleet, seed=cfg["seed"], days=7.0 if case == "decision-10k" else cfg["days"])
    if case == "decision-10k":
        n = _decision_jobs(wl, fleet.total_gpus, cfg["queued"])
        jobs = [j.model_copy(update={"arrival_s": 0.0}) for j in wl.jobs[:n]]
        wl = wl.model_copy(
            update={
                "name": f"decision-{cfg['queued']}",
                "jobs": jobs,
                "horizon_s": DECISION_HORIZON_S,
                "power": type(wl.power)(),
            }
        )
    return fleet, wl


def _decision_jobs(wl, fleet_gpus: int, queued: int) -> int:
    """How many of the stream's first jobs to submit at t = 0 so that ``queued`` still wait once
    the fleet is full: the jobs whose GPUs first reach the fleet's, plus 1.5 x ``queued`` more
    (the first events start a few thousand small jobs into the fleet's gaps; recorded on Korea:
    with only ``queued`` more, two events saw 10,000 waiting)."""
    total = 0
    for i, j in enumerate(wl.jobs):
        total += j.gpus
        if total >= fleet_gpus:
            return min(len(wl.jobs), i + 1 + int(1.5 * queued))
    return len(wl.jobs)


def run_child(cfg: dict[str, Any]) -> dict[str, Any]:
    """One (case, scheduler, response) run, in this process: simulate, verify, summarise."""
    from placer.cluster_stats import percentile
    from placer.verify_cluster import verify_cluster
    from solvers.cluster_schedulers import SCHEDULERS
    from solvers.cluster_sim import simulate

    t0 = time.perf_counter()
    fleet, wl = _fleet_and_workload(cfg)
    build_s = time.perf_counter() - t0
    options: dict[str, Any] = {"seed": cfg["seed"], "workers": cfg["workers"]}
    if cfg.get("response"):
        options["power_response"] = cfg["response"]
    sched = SCHEDULERS[cfg["scheduler"]](**options)
    events: list[tuple[int, float]] = []

    def on_event(info: dict[str, Any]) -> None:
        # the queue the scheduler saw: what is left after its starts, plus its starts
        seen = int(info.get("queued", 0)) + int(info.get("starts", 0))
        events.append((seen, float(info.get("decision_s", 0.0))))

    t0 = time.perf_counter()
    schedule = simulate(fleet, wl, sched, interval_s=cfg["interval_s"], seed=cfg["seed"], on_event=on_event)
    sim_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = verify_cluster(fleet, wl, schedule)
    verify_s = time.perf_counter() - t0
    m, d = schedule.metrics, schedule.decisions
    busy = [s for q, s in events if q >= cfg["queued"]]
    codes = sorted({v.code for v in report.violations})
    # Block-unaware baselines place block jobs on whole SUs anywhere at a site (Slurm without
    # topology/block): the checker flags GANG_BLOCK for them by design.
    expected = {"GANG_BLOCK"} if not sched.capabilities.topology_aware else set()
    rec: dict[str, Any] = {
        "case": cfg["case"],
        "scheduler": cfg["scheduler"],
        "power_response": schedule.summary.power_response,
        "status": "OK",
        "fleet_gpus": fleet.total_gpus,
        "fleet_domains": fleet.domains,
        "sites": len(fleet.sites),
        "jobs": m.jobs,
        "completed": m.completed,
        "unfinished": m.unfinished,
        "rejected": m.rejected,
        "mean_jct_h": m.mean_jct_s / 3600,
        "p99_jct_h": m.p99_jct_s / 3600,
        "mean_queue_h": m.mean_queue_s / 3600,
        "p99_queue_h": m.p99_queue_s / 3600,
        "makespan_h": m.makespan_s / 3600,
        "utilisation": m.utilisation,
        "fragmentation": m.fragmentation,
        "gpu_hours_lost_to_power": m.gpu_hours_lost_to_power,
        "gpu_hours_capped": m.gpu_hours_capped,
        "gpu_hours_paused": m.gpu_hours_paused,
        "pauses": m.pauses,
        "migrations": m.migrations,
        "events": d.events,
        "decision_mean_s": d.mean_s,
        "decision_p99_s": d.p99_s,
        "decision_max_s": d.max_s,
        "events_with_queue": len(busy),
        "busy_decision_mean_s": sum(busy) / len(busy) if busy else None,
        "busy_decision_p99_s": percentile(busy, 99) if busy else None,
        "busy_decision_max_s": max(busy) if busy else None,
        "max_queued": max((q for q, _ in events), default=0),
        "build_s": build_s,
        "sim_wall_s": sim_s,
        "verify_s": verify_s,
        "valid": report.valid,
        "violation_codes": codes,
        "unexpected_violations": [c for c in codes if c not in expected],
        "topology_aware": sched.capabilities.topology_aware,
        "violations_first": [next(f"{v.code}: {v.message}" for v in report.violations if v.code == c) for c in codes],
        "sites_power": [s.model_dump() for s in schedule.sites],
        "tenants": [t.model_dump() for t in schedule.tenants],
        "workload_digest": wl.digest(),
        "fleet_digest": fleet.digest(),
        "scheduler_version": schedule.summary.scheduler_version,
    }
    return rec


def _runs(cases: list[str], schedulers: list[str] | None) -> list[tuple[str, str, str | None]]:
    from solvers.cluster_schedulers import RESPONSES, SCHEDULERS

    names = [n for n in SCHEDULERS if schedulers is None or n in schedulers]
    out: list[tuple[str, str, str | None]] = []
    for case in cases:
        out += [(case, n, None) for n in names]
        if case == "korea-week" and YARDSTICK in SCHEDULERS and (schedulers is None or YARDSTICK in schedulers):
            default = SCHEDULERS[YARDSTICK]().response.name
            out += [(case, YARDSTICK, r) for r in sorted(RESPONSES) if r != default]
    return out


def _solve_korea(workdir: Path) -> Path:
    plan = workdir / "korea-laid.json"
    cmd = [sys.executable, "-m", "placer", "solve", "korea-2025", "--layout", "--deterministic", "-o", str(plan)]
    print("solving the Korea fleet:", " ".join(cmd[1:]), flush=True)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if res.returncode != 0 or not plan.exists():
        raise SystemExit(f"korea-2025 solve failed (exit {res.returncode}): {res.stderr.strip()[-500:]}")
    return plan


def _run_one(cfg: dict[str, Any], in_process: bool, timeout_s: float) -> dict[str, Any]:
    base = {"case": cfg["case"], "scheduler": cfg["scheduler"], "power_response": cfg.get("response") or "default"}
    if in_process:
        return run_child(cfg)
    cmd = [sys.executable, "-m", "benchmarks.scheduling", "--child", json.dumps(cfg)]
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {**base, "status": "TIMEOUT", "wall_s": time.perf_counter() - t0}
    if res.returncode != 0:
        return {**base, "status": "CRASH", "error": res.stderr.strip()[-1500:], "wall_s": time.perf_counter() - t0}
    return json.loads(res.stdout.strip().splitlines()[-1])


def _ratios(records: list[dict[str, Any]]) -> None:
    """Each run's mean JCT (and GPU-hours lost to power) over the yardstick's in its case."""
    for case in {r["case"] for r in records}:
        ref = next(
            (
                r
                for r in records
                if r["case"] == case and r["scheduler"] == YARDSTICK and r.get("status") == "OK" and r.get("is_default")
            ),
            None,
        )
        for r in records:
            if r["case"] != case or r.get("status") != "OK" or ref is None:
                continue
            r["jct_ratio_vs_easy_blocks"] = r["mean_jct_h"] / ref["mean_jct_h"] if ref["mean_jct_h"] > 0 else None
            lost = ref["gpu_hours_lost_to_power"]
            r["lost_ratio_vs_easy_blocks"] = r["gpu_hours_lost_to_power"] / lost if lost > 0 else None


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def markdown(records: list[dict[str, Any]]) -> str:
    """One table per case."""
    out: list[str] = []
    for case in CASES:
        rs = [r for r in records if r["case"] == case]
        if not rs:
            continue
        out.append(f"\n### {case}\n")
        if rs[0].get("fleet_gpus"):
            r0 = next(r for r in rs if r.get("fleet_gpus"))
            out.append(
                f"{r0['fleet_gpus']:,} GPUs in {r0['fleet_domains']:,} domains at {r0['sites']} sites; "
                f"{r0['jobs']:,} jobs; workload {r0['workload_digest'][:19]}\n"
            )
        cols = [
            ("scheduler", "scheduler"),
            ("power_response", "response"),
            ("status", "status"),
            ("completed", "done"),
            ("unfinished", "unfin."),
            ("rejected", "rej."),
            ("mean_jct_h", "mean JCT h"),
            ("p99_jct_h", "p99 JCT h"),
            ("jct_ratio_vs_easy_blocks", "JCT / easy-blocks"),
            ("mean_queue_h", "mean queue h"),
            ("p99_queue_h", "p99 queue h"),
            ("makespan_h", "makespan h"),
            ("utilisation", "util."),
            ("fragmentation", "frag."),
            ("gpu_hours_lost_to_power", "GPU-h lost to power"),
            ("gpu_hours_capped", "capped"),
            ("gpu_hours_paused", "paused"),
            ("events", "events"),
            ("decision_mean_s", "decision mean s"),
            ("decision_p99_s", "p99 s"),
            ("decision_max_s", "max s"),
        ]
        if case == "decision-10k":
            cols += [
                ("max_queued", "most queued"),
                ("events_with_queue", "events >= N queued"),
                ("busy_decision_mean_s", "their mean s"),
                ("busy_decision_p99_s", "p99 s"),
                ("busy_decision_max_s", "max s"),
            ]
        cols += [("sim_wall_s", "sim wall s"), ("verified", "verified")]
        out.append("| " + " | ".join(h for _, h in cols) + " |")
        out.append("|" + "---|" * len(cols))
        for r in rs:
            r = dict(r)
            if r.get("status") == "OK":
                r["verified"] = "valid" if r["valid"] else "violations: " + ", ".join(r["violation_codes"])
                if r["violation_codes"] and not r["unexpected_violations"]:
                    r["verified"] += " (expected: block-unaware)"
            digits = {
                "utilisation": 3,
                "fragmentation": 4,
                "decision_mean_s": 4,
                "decision_p99_s": 4,
                "decision_max_s": 4,
                "busy_decision_mean_s": 4,
                "busy_decision_p99_s": 4,
                "busy_decision_max_s": 4,
                "gpu_hours_lost_to_power": 0,
                "gpu_hours_capped": 0,
                "gpu_hours_paused": 0,
                "sim_wall_s": 1,
            }
            out.append("| " + " | ".join(_fmt(r.get(k), digits.get(k, 2)) for k, _ in cols) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks --suite scheduling", description=__doc__.splitlines()[0])
    ap.add_argument("--suite", action="append", choices=["scheduling"], help="scheduling (this suite)")
    ap.add_argument("--out", type=Path, help="directory for results.json and results.md")
    ap.add_argument("--plan", type=Path, help="the laid-out Korea plan; default: solve korea-2025 --layout")
    ap.add_argument("--case", action="append", choices=CASES, help="repeatable; default: all three")
    ap.add_argument("--scheduler", "--solver", action="append", dest="scheduler", help="repeatable; default: all")
    ap.add_argument("--days", type=float, default=7.0, help="the Korea stream's days (default 7)")
    ap.add_argument("--scale", type=int, default=SCALE, help="the big fleet's factor (default 10)")
    ap.add_argument("--scale-days", type=float, default=1.0, help="the 10x stream's days (default 1)")
    ap.add_argument("--queued", type=int, default=10_000, help="decision-10k: jobs waiting (default 10,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--interval", type=float, default=60.0, help="the simulator's scheduling interval, s")
    ap.add_argument("--run-timeout", type=float, default=4 * 3600.0, help="seconds per run before it is cut")
    ap.add_argument("--in-process", action="store_true", help="run each case here, not in a subprocess (tests)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0
    if args.out is None:
        ap.error("--out is required")
    args.out.mkdir(parents=True, exist_ok=True)
    cases = args.case or list(CASES)
    with tempfile.TemporaryDirectory(prefix="placer-sched-bench-") as tmp:
        plan = args.plan or _solve_korea(Path(tmp))
        records: list[dict[str, Any]] = []
        t_all = time.perf_counter()
        for case, sched, response in _runs(cases, args.scheduler):
            cfg = {
                "case": case,
                "scheduler": sched,
                "response": response,
                "plan": str(plan),
                "seed": args.seed,
                "workers": args.workers,
                "days": args.days,
                "scale": args.scale,
                "scale_days": args.scale_days,
                "queued": args.queued,
                "interval_s": args.interval,
            }
            rec = _run_one(cfg, args.in_process, args.run_timeout)
            rec["is_default"] = response is None
            records.append(rec)
            print(
                f"{case:13s} {sched:12s} {rec.get('power_response', '?'):13s} {rec.get('status')} "
                f"jct {_fmt(rec.get('mean_jct_h'))} h  lost {_fmt(rec.get('gpu_hours_lost_to_power'), 0)} GPU-h  "
                f"decision p99 {_fmt(rec.get('decision_p99_s'), 4)} s  sim {_fmt(rec.get('sim_wall_s'), 1)} s  "
                f"valid {rec.get('valid', '-')} {','.join(rec.get('violation_codes', []))}",
                flush=True,
            )
    _ratios(records)
    from benchmarks.runner import machine_info

    command = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
    doc: dict[str, Any] = {
        "command": command,
        "machine": machine_info(),
        "plan": str(args.plan) if args.plan else "placer solve korea-2025 --layout --deterministic",
        "suite_wall_s": time.perf_counter() - t_all,
        "notes": [
            f"fleet-10x plays {args.scale_days:g} day(s) of the stream on the {args.scale}x fleet (a week would be "
            f"~{39_000 * args.scale:,} jobs)",
            f"decision-10k: the week's first jobs submitted at t=0 (those filling the fleet + 1.5 x {args.queued:,}), "
            f"{DECISION_HORIZON_S / 3600:g} h horizon; 'events >= N queued' are events with >= {args.queued:,} waiting",
            "JCT / easy-blocks: each run's mean JCT over easy-blocks' (default response) in the same case",
        ],
        "records": records,
    }
    (args.out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / "results.md").write_text(
        f"Command: `{command}`\n\nMachine: {doc['machine']}\n\nPlan: {doc['plan']}\n\n"
        + "".join(f"- {n}\n" for n in doc["notes"])
        + markdown(records)
    )
    bad = [r for r in records if r.get("status") != "OK" or r.get("unexpected_violations")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
