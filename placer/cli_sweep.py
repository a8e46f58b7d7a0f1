"""``placer sweep SWEEP.yaml -o DIR``: the sweep command, registered on :data:`placer.cli.app`.

A progress bar on a terminal (cases done, cases per minute, elapsed, time left, the last case's
status); one ``sweep.case`` log line per case otherwise (or with ``--log-json``). Exit codes: 0 every
case has a result (a verified plan, a proof of infeasibility, or no plan within the time limit),
1 some plan failed verification or a case hit an engine error, 2 a bad sweep file, case or
directory (nothing solved), 130 interrupted (finished cases kept; the same command resumes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import structlog
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from placer.cli import app, out

log = structlog.get_logger("placer.sweep")


@app.command()
def sweep(
    sweep_file: Path | None = typer.Argument(
        None, help="the sweep file (YAML/JSON): a base scenario and a grid or sample"
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="directory for the results (created; resumed)"),
    address: str | None = typer.Option(
        None,
        "--address",
        envvar="RAY_ADDRESS",
        help="an existing Ray cluster (e.g. ray://head:10001 or auto); default: a local Ray instance started here",
    ),
    workers_per_case: int | None = typer.Option(
        None, "--workers-per-case", min=1, max=256, help="solver threads per case = CPUs each task reserves"
    ),
    time_limit: float | None = typer.Option(
        None, "--time-limit", min=0.01, max=1e6, help="seconds per case (instead of the file's solver.time_limit_s)"
    ),
    schema: bool = typer.Option(False, "--schema", help="print the sweep file's JSON Schema and exit"),
) -> None:
    """Run every case of a sweep on Ray, verify each plan, write a table (Parquet, CSV) and plots."""
    from placer.errors import InputError
    from placer.sweep import run_sweep
    from placer.sweep_file import sweep_json_schema

    if schema:
        print(json.dumps(sweep_json_schema(), indent=2))
        return
    if sweep_file is None:
        raise InputError("give the sweep file: placer sweep SWEEP.yaml -o DIR", where="placer sweep")
    if output is None:
        raise InputError("give the results directory: -o DIR", where="placer sweep")
    console = Console(stderr=True, highlight=False, emoji=False)
    live = console.is_terminal and not _json_logs()
    progress = Progress(
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}", markup=False),
        console=console,
        disable=not live,
        transient=False,
    )
    state: dict[str, Any] = {"task": None, "done": 0, "t0": 0.0}

    def on_event(kind: str, info: dict) -> None:
        import time

        if kind == "start":
            out.print(
                Text(
                    f"sweep of {info['base']}: {info['cases']} cases, {info['to_run']} to run, "
                    f"{info['cases'] - info['to_run'] - info['invalid']} already done in {output}"
                    + (
                        f", {info['invalid']} invalid (a site removed leaves a tenant no site)"
                        if info["invalid"]
                        else ""
                    )
                )
            )
            state["t0"] = time.perf_counter()
            state["task"] = progress.add_task("sweep", total=info["to_run"], rate="", last="")
            progress.start()
        elif kind == "case":
            state["done"] += 1
            row, case = info["row"], info["case"]
            minutes = max(time.perf_counter() - state["t0"], 1e-9) / 60
            labels = " ".join(f"{k}={v}" for k, v in case.labels.items())
            objective = row.get("objective")
            last = f"case {case.index} {labels}: {row.get('status')}" + (
                f" {objective:,.0f}" if isinstance(objective, (int, float)) else ""
            )
            progress.update(state["task"], advance=1, rate=f"{state['done'] / minutes:.1f}/min", last=last[:80])
            if not live:
                log.info(
                    "sweep.case",
                    case=case.index,
                    **{k: v for k, v in case.labels.items()},
                    status=row.get("status"),
                    objective=objective,
                    verified=row.get("verified"),
                    seconds=round(row.get("wall_seconds", 0.0), 2),
                )
        elif kind == "done":
            progress.stop()

    try:
        outcome = run_sweep(
            sweep_file,
            output,
            address=address,
            workers_per_case=workers_per_case,
            time_limit_s=time_limit,
            on_event=on_event,
        )
    finally:
        progress.stop()
    rate = outcome.ran / (outcome.seconds / 60) if outcome.seconds > 0 and outcome.ran else 0.0
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(outcome.statuses.items()))
    out.print(
        Text(
            f"{outcome.cases} cases ({outcome.ran} run, {outcome.skipped} already done) in {outcome.seconds:.1f} s"
            + (f", {rate:.1f} cases/min" if rate else "")
            + f": {statuses}"
        )
    )
    out.print(Text(f"table: {outcome.table} and {outcome.csv}"))
    for p in outcome.plots:
        out.print(Text(f"plot: {p}"))
    if outcome.failed:
        out.print(Text(f"{outcome.failed} case(s) failed verification or hit an engine error: see the table's reason"))
        raise typer.Exit(1)


def _json_logs() -> bool:
    cfg = structlog.get_config()
    return any(type(p).__name__ == "JSONRenderer" for p in cfg.get("processors", []))
