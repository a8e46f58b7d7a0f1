"""The ``placer schedule`` and ``placer verify-schedule`` commands: run tenants' jobs on a laid-out fleet, and check it.

``placer schedule PLAN JOBS -o schedule.json --scheduler NAME`` builds the fleet of NVLink domains
from a laid-out plan (:func:`placer.fleet.fleet_from_plan`), plays the workload over it with the
discrete-event simulator and the named scheduler (:func:`solvers.cluster_sim.simulate`,
:data:`solvers.cluster_schedulers.SCHEDULERS`), verifies the schedule with the independent
checker (:func:`placer.verify_cluster.verify_cluster`), writes it atomically and prints its
figures. A schedule that fails the checker is still written (a block-unaware baseline's broken
block rule is a finding to read, not a crash) and the command exits 1.

``placer verify-schedule PLAN JOBS SCHEDULE`` re-checks a written schedule: exit 0 valid, 1
violations (printed, at most :data:`placer.verify_cluster.FINDINGS_PER_CODE` per code).

Bad input (a missing file, a plan without a layout, a bad workload field, an unknown scheduler
or power response, a schedule for another fleet's shape) is one line naming the file and the path
inside it, exit 2, nothing written. Complexity: the simulator's and the checker's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
import typer
from rich.table import Table
from rich.text import Text

from placer.cli import _print_violations, app, err, out
from placer.cluster_schedule import ClusterSchedule
from placer.errors import InputError
from placer.fleet import Fleet, fleet_from_plan
from placer.io import atomic_write_text, check_output_path, load_plan, parse_model, read_document
from placer.verify_cluster import ClusterReport, verify_cluster
from placer.workload import Workload, load_workload

log = structlog.get_logger("placer.schedule")
PROGRESS_EVERY_S = 10.0


def _table(title: str, columns: tuple[str, ...]) -> Table:
    """A rich table whose first column (a name) is left-aligned and may wrap; the figures right-aligned."""
    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right", overflow="fold", no_wrap=i > 0, min_width=6)
    return table


def progress_logger(every_s: float = PROGRESS_EVERY_S) -> Callable[[dict[str, Any]], None]:
    """An ``on_event`` callback that logs the simulation's progress (``schedule.progress``: simulated
    hours, queued, running, completed, rejected) at most once per ``every_s`` wall seconds: a
    Korea-scale week runs for minutes. O(1) per event."""
    last = [time.perf_counter()]

    def on_event(ev: dict[str, Any]) -> None:
        now = time.perf_counter()
        if now - last[0] >= every_s:
            last[0] = now
            log.info(
                "schedule.progress",
                simulated_h=round(ev["now_s"] / 3600.0, 2),
                queued=ev["queued"],
                running=ev["running"],
                completed=ev["completed"],
                rejected=ev["rejected"],
            )

    return on_event


def load_fleet(plan_path: Path, jobs_path: Path) -> tuple[Fleet, Workload]:
    """The fleet of the laid-out plan and the workload, both validated (InputError names the file)."""
    plan = load_plan(plan_path)
    workload = load_workload(jobs_path)
    return fleet_from_plan(plan, workload, plan_file=str(plan_path)), workload


def load_schedule(path: Path) -> ClusterSchedule:
    return parse_model(ClusterSchedule, read_document(path), str(path))


def _hours(seconds: float) -> str:
    return f"{seconds:,.0f} s ({seconds / 3600:,.2f} h)"


def print_schedule(schedule: ClusterSchedule) -> None:
    """The schedule's figures: metrics, decision times, tenants, sites (rich tables)."""
    m, d, s = schedule.metrics, schedule.decisions, schedule.summary
    table = Table(title=f"Schedule by {s.scheduler} (power response {s.power_response}), {s.wall_s:,.1f} s wall")
    table.add_column("metric", justify="left")
    table.add_column("value", justify="right")
    rows = [
        ("jobs", f"{m.jobs:,}: {m.completed:,} completed, {m.unfinished:,} unfinished, {m.rejected:,} rejected"),
        ("mean JCT", _hours(m.mean_jct_s)),
        ("p99 JCT", _hours(m.p99_jct_s)),
        ("mean queueing delay", _hours(m.mean_queue_s)),
        ("p99 queueing delay", _hours(m.p99_queue_s)),
        ("makespan", _hours(m.makespan_s)),
        ("GPU utilisation", f"{m.utilisation:.1%}"),
        ("fragmentation (idle GPUs in partly used domains)", f"{m.fragmentation:.2%}"),
        (
            "GPU-hours lost to power",
            f"{m.gpu_hours_lost_to_power:,.1f} (capped {m.gpu_hours_capped:,.1f}, paused {m.gpu_hours_paused:,.1f})",
        ),
        ("pauses / migrations", f"{m.pauses:,} / {m.migrations:,}"),
        (
            "decision time per event",
            f"mean {d.mean_s * 1000:,.2f} ms, p99 {d.p99_s * 1000:,.2f} ms, max {d.max_s * 1000:,.2f} ms "
            f"({d.events:,} events)",
        ),
    ]
    for name, value in rows:
        table.add_row(Text(name), Text(value))
    out.print(table)
    tenants = _table(
        "Tenants: GPUs held against quota (mean over the makespan)",
        ("tenant", "quota", "weight", "mean held", "peak", "of quota", "GPU-hours"),
    )
    for t in schedule.tenants:
        tenants.add_row(
            Text(t.tenant),
            f"{t.quota_gpus:,}",
            f"{t.weight:g}",
            f"{t.mean_gpus_held:,.0f}",
            f"{t.peak_gpus_held:,}",
            f"{t.share_of_quota:.1%}",
            f"{t.gpu_hours:,.0f}",
        )
    out.print(tenants)
    sites = _table(
        "Sites: facility power against the allowance", ("site", "base MW", "peak MW", "least headroom MW", "energy MWh")
    )
    for row in schedule.sites:
        sites.add_row(
            Text(row.site),
            f"{row.base_mw:,.2f}",
            f"{row.peak_mw:,.2f}",
            f"{row.least_headroom_mw:,.3f}",
            f"{row.energy_mwh:,.1f}",
        )
    out.print(sites)
    for note in s.notes[:10]:
        out.print(Text(f"note: {note}"))


def print_report(report: ClusterReport) -> None:
    if report.valid:
        out.print(f"[green]verified[/green]: {len(report.checks)} checks, 0 violations ({report.seconds:.3f} s)")
        return
    _print_violations(report)
    for code, n in sorted(report.suppressed.items()):
        out.print(Text(f"... and {n:,} more {code} finding(s)"))
    total = len(report.violations) + sum(report.suppressed.values())
    out.print(f"[red]invalid[/red]: {total:,} violation(s)")


def _scheduler(name: str, power_response: str | None, seed: int, workers: int, time_limit: float | None):
    from solvers.cluster_schedulers import RESPONSES, SCHEDULERS

    factory = SCHEDULERS.get(name)
    if factory is None:
        raise InputError(f"unknown scheduler '{name}'; known: {', '.join(sorted(SCHEDULERS))}", where="--scheduler")
    options: dict = {"seed": seed, "workers": workers, "time_limit_s": time_limit}
    if power_response is not None:
        if power_response not in RESPONSES:
            raise InputError(
                f"unknown power response '{power_response}'; known: {', '.join(sorted(RESPONSES))}",
                where="--power-response",
            )
        options["power_response"] = power_response
    return factory(**options)


@app.command()
def schedule(
    plan: Path = typer.Argument(..., help="a laid-out plan (placer solve ... --layout, or placer layout)"),
    jobs: Path = typer.Argument(..., help="the workload: jobs, tenants' quotas, power allowances (YAML/JSON)"),
    output: Path = typer.Option(..., "-o", "--output", help="write the schedule here (JSON)"),
    scheduler: str = typer.Option(
        ..., "--scheduler", help="fifo | fifo-blocks | easy | easy-blocks | bestfit | cpsat (placer's registry)"
    ),
    power_response: str | None = typer.Option(
        None,
        "--power-response",
        help="how a drop in allowance is met: proportional | optimised (default: the scheduler's own)",
    ),
    interval: float = typer.Option(60.0, "--interval", min=0.001, max=1e6, help="scheduling interval, seconds"),
    seed: int = typer.Option(0, "--seed", min=0, max=2**31 - 1),
    workers: int = typer.Option(1, "--workers", min=1, max=1024),
    time_limit: float | None = typer.Option(
        None, "--time-limit", min=0.001, max=1e6, help="seconds per decision (the optimising scheduler)"
    ),
) -> None:
    """Run the workload's jobs on the plan's fleet with a scheduler, verify the schedule, print its figures, write it.

    Exit 0 verified, 1 the schedule has violations (written anyway, findings printed), 2 bad input."""
    from solvers.cluster_engine import SchedulerBug
    from solvers.cluster_sim import simulate

    check_output_path(output)
    fleet, workload = load_fleet(plan, jobs)
    sched_obj = _scheduler(scheduler, power_response, seed, workers, time_limit)
    out.print(
        Text(
            f"fleet: {fleet.domains:,} NVLink domains, {fleet.total_gpus:,} GPUs on {len(fleet.sites)} site(s); "
            f"workload: {len(workload.jobs):,} jobs"
        )
    )
    try:
        result = simulate(
            fleet,
            workload,
            sched_obj,
            interval_s=interval,
            seed=seed,
            workers=workers,
            on_event=progress_logger(),
            workload_file=str(jobs),
        )
    except SchedulerBug as exc:
        err.print(f"error: scheduler '{scheduler}' made a decision the fleet cannot carry: {exc}; nothing written")
        raise typer.Exit(1) from None
    report = verify_cluster(fleet, workload, result)
    atomic_write_text(output, result.model_dump_json(indent=1) + "\n")
    print_schedule(result)
    print_report(report)
    out.print(Text(f"schedule written to {output}"))
    raise typer.Exit(0 if report.valid else 1)


@app.command("verify-schedule")
def verify_schedule(
    plan: Path = typer.Argument(..., help="the laid-out plan the schedule ran on"),
    jobs: Path = typer.Argument(..., help="the workload file"),
    schedule_path: Path = typer.Argument(..., metavar="SCHEDULE", help="the schedule (placer schedule -o)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Recompute every rule and figure of a schedule. Exit 0 valid, 1 violations, 2 bad input."""
    fleet, workload = load_fleet(plan, jobs)
    sched = load_schedule(schedule_path)
    report = verify_cluster(fleet, workload, sched)
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        print_report(report)
    raise typer.Exit(0 if report.valid else 1)


__all__ = [
    "load_fleet",
    "progress_logger",
    "load_schedule",
    "print_report",
    "print_schedule",
    "schedule",
    "verify_schedule",
]
