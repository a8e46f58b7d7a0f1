"""``placer jobs``: write a workload for ``placer schedule`` from a laid-out plan (registered on :data:`placer.cli.app`).

* ``placer jobs synth PLAN -o jobs.yaml [--days D] [--load L] [--seed N] [--korea-week] [--warm S] [--scale K]``:
  the seeded synthetic stream of :mod:`topologies.jobs_synthetic` over the plan's fleet
  (``--korea-week``: the benchmark week with its two curtailment events; ``--scale K``: over
  the plan's sites replicated K times, :mod:`topologies.fleet_scale`, writing the scaled plan
  next to the jobs as ``<jobs>.plan.json``);
* ``placer jobs alibaba DIR --plan PLAN -o jobs.yaml [--days D] [--max-jobs N]``: Alibaba's PAI
  trace (cluster-trace-gpu-v2020's ``pai_job_table.csv`` and ``pai_task_table.csv``) mapped
  onto the plan's tenants, :mod:`topologies.alibaba_trace`; prints what it kept and skipped.

The output is JSON when ``-o`` ends in ``.json`` (use it for big streams: it is several times
faster to read than YAML), YAML otherwise; written atomically, nothing on an error. Exit codes:
0 written, 2 bad input (one line naming the file, the row or path, and what is wrong).
"""

from __future__ import annotations

from pathlib import Path

import typer

from placer.cli import app, out
from placer.errors import InputError
from placer.io import atomic_write_text, check_output_path, dump_model, load_plan

jobs_app = typer.Typer(help="Write a job stream (workload) for `placer schedule`: synthetic or from a public trace.")
app.add_typer(jobs_app, name="jobs")


def _fleet(plan_path: Path, scale: int = 1):
    from placer.fleet import fleet_from_plan

    plan = load_plan(plan_path)
    if scale > 1:
        from topologies.fleet_scale import scale_plan

        plan = scale_plan(plan, scale)
    return plan, fleet_from_plan(plan, plan_file=str(plan_path))


@jobs_app.command("synth")
def synth(
    plan: Path = typer.Argument(..., help="a laid-out plan (placer solve --layout, or placer layout)"),
    output: Path = typer.Option(..., "-o", "--output", help="the workload file: .json, else YAML"),
    days: float = typer.Option(7.0, "--days", min=0.01, max=366, help="length of the stream, days"),
    load: float | None = typer.Option(
        None, "--load", min=0.01, max=3.0, help="offered GPU-hours over the fleet's (default 0.95; 1.0 --korea-week)"
    ),
    seed: int = typer.Option(0, "--seed", min=0, max=2**63 - 1, help="the generator's seed"),
    korea_week: bool = typer.Option(
        False, "--korea-week", help="add the benchmark week's two curtailment events (demand response, line outage)"
    ),
    scale: int = typer.Option(1, "--scale", min=1, max=100, help="replicate the plan's sites K times first"),
    warm: float | None = typer.Option(
        None, "--warm", min=0.0, max=1.0, help="share of the fleet busy at t=0 (default 0; 0.75 with --korea-week)"
    ),
) -> None:
    """A seeded synthetic job stream over the plan's fleet (shapes from Philly, Helios, Alibaba PAI)."""
    from topologies.jobs_synthetic import KOREA_LOAD, KOREA_WARM, synthetic_workload
    from topologies.jobs_synthetic import korea_week as week

    check_output_path(output)
    laid, fleet = _fleet(plan, scale)
    if korea_week:
        wl = week(
            fleet,
            seed=seed,
            load=KOREA_LOAD if load is None else load,
            days=days,
            warm=KOREA_WARM if warm is None else warm,
        )
    else:
        wl = synthetic_workload(fleet, days=days, load=0.95 if load is None else load, seed=seed, warm=warm or 0.0)
    if scale > 1:
        plan_out = output.with_name(output.stem + ".plan.json")
        check_output_path(plan_out)
        atomic_write_text(plan_out, laid.model_dump_json(indent=2) + "\n")
        out.print(f"scaled plan (x{scale}, {fleet.total_gpus:,} GPUs) -> {plan_out}")
    dump_model(wl, output)
    gpu_h = sum(j.gpus * j.duration_s for j in wl.jobs) / 3600.0
    out.print(
        f"{len(wl.jobs):,} jobs over {days:g} days for {len(wl.tenants)} tenants on {fleet.total_gpus:,} GPUs: "
        f"{gpu_h:,.0f} GPU-hours offered (load {gpu_h / (fleet.total_gpus * days * 24):.2f}), "
        f"{len(wl.power.curtailments)} curtailment events -> {output}"
    )


@jobs_app.command("alibaba")
def alibaba(
    directory: Path = typer.Argument(..., help="the trace directory: pai_job_table.csv and pai_task_table.csv"),
    plan: Path = typer.Option(..., "--plan", help="the laid-out plan whose tenants the trace's users map onto"),
    output: Path = typer.Option(..., "-o", "--output", help="the workload file: .json, else YAML"),
    days: float | None = typer.Option(None, "--days", min=0.01, max=10_000, help="keep the first D days"),
    max_jobs: int | None = typer.Option(None, "--max-jobs", min=1, max=100_000_000, help="keep the first N jobs"),
) -> None:
    """Alibaba's PAI GPU trace (cluster-trace-gpu-v2020) as a workload over the plan's fleet."""
    from topologies.alibaba_trace import load_alibaba

    check_output_path(output)
    _, fleet = _fleet(plan)
    res = load_alibaba(directory, fleet, max_jobs=max_jobs, days=days)
    if not res.workload.jobs:
        raise InputError(f"no usable job in the trace ({res.summary()})", file=str(directory))
    dump_model(res.workload, output)
    out.print(f"{res.summary()} -> {output}")


__all__ = ["alibaba", "jobs_app", "synth"]
