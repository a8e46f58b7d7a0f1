"""The ``placer`` command line: solve, verify, scenarios, schema.

Exit codes: 0 success, 1 the plan has violations, 2 bad input, 3 proven infeasible, 4 no
plan found (time limit, heuristic), 130 interrupted. A user's mistake is one line on
stderr, never a traceback, and no output file. User strings (ids, file names) are printed
as they are: never read as rich markup or emoji, never highlighted.
"""

from __future__ import annotations

import os

# BLAS threads fight the solver for a small machine's cores; set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path
from typing import Any

import structlog
import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from placer import logs
from placer.errors import InfeasibleError, InputError, PlacerError
from placer.io import (
    atomic_write_text,
    check_output_path,
    check_regular_file,
    dump_model,
    load_plan,
    load_scenario,
)
from placer.overrides import replay, with_overrides
from placer.plan import plan_json_schema
from placer.scenario import Scenario, json_schema

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Place GPUs in datacenters under power, cooling, grid and latency limits, and verify the plan.",
)
# Our own styling uses markup; every user string goes in escaped or as a Text. Emoji codes
# (":sun:") and the highlighter (quadratic on a 100,000-character id) are off everywhere.
out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False, markup=False, soft_wrap=True)
log = structlog.get_logger("placer.cli")


def resolve_scenario(arg: str) -> Scenario:
    """A built-in scenario name or a path to a YAML/JSON file."""
    from topologies import builtin_names, builtin_scenario

    if arg in builtin_names():
        return builtin_scenario(arg)
    path = Path(arg)
    if path.exists() or path.suffix or "/" in arg:
        return load_scenario(path)
    raise InputError(
        f"unknown scenario; built-in scenarios are {', '.join(builtin_names())}, or give a file path", file=arg
    )


def _print_version(value: bool) -> None:
    if value:
        from placer import __version__

        out.print(f"placer {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _main(
    log_json: bool = typer.Option(False, "--log-json", help="structured JSON logs on stderr"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="warnings and errors only"),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="print placer's version and exit"
    ),
) -> None:
    logs.configure(json_logs=log_json, quiet=quiet)


@app.command()
def solve(
    scenario: str = typer.Argument(..., help="built-in scenario name or scenario file (YAML/JSON)"),
    output: Path | None = typer.Option(None, "-o", "--output", help="write the plan here (JSON)"),
    solver: str = typer.Option(
        "auto",
        "--solver",
        help="auto (milp when the scenario has lines and grid security, else cpsat) | cpsat | milp (HiGHS) | scip | greedy",
    ),
    time_limit: float | None = typer.Option(None, "--time-limit", min=0.01, help="seconds"),
    workers: int | None = typer.Option(None, "--workers", min=1),
    seed: int | None = typer.Option(None, "--seed", min=0),
    deterministic: bool | None = typer.Option(
        None, "--deterministic/--no-deterministic", help="reproducible even when the time limit stops CP-SAT"
    ),
    worth: bool = typer.Option(
        True,
        "--worth/--no-worth",
        help="rollouts with options: what each built option is worth against the same placement without it "
        "(one short CP-SAT re-schedule per option) and the 'what to build first' list",
    ),
    layout: bool = typer.Option(
        False, "--layout", help="also lay out every rack inside its site (as `placer layout`), verified, in the plan"
    ),
    previous_path: Path | None = typer.Option(
        None, "--from", help="re-plan from this previous plan: moving its racks costs --move-cost each"
    ),
    move_cost: float | None = typer.Option(
        None,
        "--move-cost",
        help="USD per rack moved away from its site, one-off (default 100,000; annualised by the CRF)",
    ),
    freeze: list[str] = typer.Option([], "--freeze", help="with --from: this site keeps its racks (repeatable)"),
    marginals: bool = typer.Option(
        True,
        "--marginals/--no-marginals",
        help="single period: what 10 more MW at each binding limit would save (LP duals, the plan's sites fixed)",
    ),
    set_: list[str] = typer.Option(
        [],
        "--set",
        metavar="PATH=VALUE",
        help="what-if override of any scenario field, repeatable: policy.power_band_mw.max_mw=620, "
        "topology.nodes[id=sejong].it_capacity_mw=150, demand.tenants[id=naver].latency[0].min_share=0.5",
    ),
) -> None:
    """Solve a scenario, verify the plan, print a summary and write the plan."""
    from placer.report import print_plan
    from placer.report_replan import print_marginals, print_replan
    from placer.verify import verify
    from solvers import solve as run_solver

    if output is not None:
        check_output_path(output)
    sc, what_if = with_overrides(resolve_scenario(scenario), set_, file=scenario)
    overrides: dict[str, Any] = {
        k: v
        for k, v in (
            ("time_limit_s", time_limit),
            ("workers", workers),
            ("seed", seed),
            ("deterministic", deterministic),
        )
        if v is not None
    }
    sc.policy.solver.with_overrides(**overrides)  # refused here, before any work, naming the option
    previous = load_plan(previous_path) if previous_path is not None else None
    log.info("solve.start", scenario=sc.name, digest=sc.digest(), solver=solver)
    replan: dict[str, Any] = {"previous": previous, "move_cost_usd_per_rack": move_cost, "freeze": freeze}
    try:
        plan = run_solver(sc, solver, option_worth=worth, marginals=marginals, **overrides, **replan)
    finally:
        logs.stop_live()  # the report goes to the same terminal
    if what_if is not None:
        plan = plan.model_copy(update={"what_if": what_if})
    report = verify(sc, plan, previous=previous)
    print_plan(out, sc, plan)
    print_replan(out, plan)
    print_marginals(out, plan)
    if what_if is not None:
        out.print(Text(f"what-if: {len(what_if.overrides)} override(s): " + "; ".join(what_if.overrides)))
    if not report.valid:
        _print_violations(report)
        if plan.summary.interrupted:  # the user stopped it: 130 says so, whatever the incumbent was worth
            err.print(
                f"interrupted: the solve was stopped (Ctrl-C); the best plan found by then fails "
                f"verification ({len(report.violations)} violation(s)); no plan written"
            )
            raise typer.Exit(130)
        err.print(f"error: the {plan.summary.solver} plan failed verification; no plan written")
        raise typer.Exit(1)
    out.print(f"[green]verified[/green]: {len(report.checks)} checks, 0 violations ({report.seconds:.3f} s)")
    if layout and not plan.summary.interrupted:
        from placer.cli_layout import show_layout

        plan = show_layout(sc, plan, lambda cut: run_solver(cut, solver, option_worth=worth, **overrides))
    if output is not None:
        atomic_write_text(output, plan.model_dump_json(indent=2) + "\n")
        out.print(f"plan written to {escape(str(output))}")
    if plan.summary.interrupted:
        written = f", written to {output} with summary.interrupted" if output is not None else ""
        err.print(
            f"interrupted: the solve was stopped (Ctrl-C); the plan is the best found by then, "
            f"status {plan.summary.status}{written}"
        )
        raise typer.Exit(130)


def _print_most_loaded(grid) -> None:
    from rich.table import Table

    table = Table(
        title=f"Grid {grid.n_minus_1} ({grid.security}): the most loaded monitored lines, each at its worst case"
    )
    for col in ("line", "case", "flow MW", "limit MW", "loading"):
        table.add_column(col, justify="left" if col in ("line", "case") else "right")
    for ln in grid.most_loaded[:10]:
        case = "base case" if ln.outage == "-" else f"after losing {ln.outage}"
        table.add_row(Text(ln.line), Text(case), f"{ln.flow_mw:.1f}", f"{ln.limit_mw:.1f}", f"{ln.loading_pct:.1f}%")
    out.print(table)


def _print_violations(report) -> None:
    for v in report.violations:
        out.print(f"[red]{escape(v.code)}[/red] {escape(v.entity)}: {escape(v.message)}")


@app.command()
def verify(
    scenario: str = typer.Argument(..., help="built-in scenario name or scenario file"),
    plan: Path = typer.Argument(..., help="plan file (JSON)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    previous_path: Path | None = typer.Option(
        None, "--from", help="the previous plan of a re-plan: its moves and frozen sites are recomputed against it"
    ),
) -> None:
    """Recompute every constraint from the scenario and the plan. Exit 0 valid, 1 violations, 2 bad input."""
    from placer.verify import verify as run_verify

    base = resolve_scenario(scenario)  # (first: an unknown scenario is named before the plan is read)
    pl = load_plan(plan)
    sc = replay(base, pl, file=scenario)  # a plan of a what-if: its overrides again
    previous = load_plan(previous_path) if previous_path is not None else None
    try:
        report = run_verify(sc, pl, previous=previous)
    except InputError as exc:
        raise InputError(exc.message, file=str(plan), where=exc.where) from None
    if as_json:
        print(report.model_dump_json(indent=2))
    elif report.valid:
        out.print(f"[green]valid[/green]: {len(report.checks)} checks, 0 violations ({report.seconds:.3f} s)")
        if report.grid is not None:
            _print_most_loaded(report.grid)
    else:
        _print_violations(report)
        out.print(f"[red]invalid[/red]: {len(report.violations)} violation(s)")
    raise typer.Exit(0 if report.valid else 1)


@app.command()
def scenarios(
    name: str | None = typer.Argument(None, help="a built-in scenario to write out"),
    output: Path | None = typer.Option(None, "-o", "--output", help="file to write (.yaml or .json)"),
) -> None:
    """List the built-in scenarios, or write one out as an editable file."""
    from topologies import builtin_names, builtin_scenario, describe

    if name is None:
        for n in builtin_names():
            out.print(Text(f"{n}\t{describe(n)}"))
        return
    if output is not None:
        check_output_path(output)
    sc = builtin_scenario(name)
    if output is None:
        print(sc.model_dump_json(by_alias=True, exclude_none=True, indent=2))
        return
    dump_model(sc, output)
    out.print(Text(f"wrote {name} to {output}"))


@app.command("import-grid")
def import_grid(
    case: Path = typer.Argument(..., help="MATPOWER case file (.m), e.g. a PGLib-OPF case"),
    output: Path = typer.Option(..., "-o", "--output", help="scenario file to write (.json or .yaml)"),
    sites: int = typer.Option(20, "--sites", min=1, max=100_000, help="candidate sites to attach to buses"),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="seed for site placement and figures"),
    gpus: int = typer.Option(
        26_000, "--gpus", min=1, max=100_000_000, help="GPUs of demand (Korea tenant mix, whole racks)"
    ),
) -> None:
    """Import a MATPOWER grid into a scenario: buses, generators and branches, plus seeded sites and demand."""
    from topologies.matpower import import_case

    check_output_path(output)
    check_regular_file(case)
    scenario = import_case(case, sites=sites, seed=seed, gpus=gpus)
    dump_model(scenario, output)
    topo = scenario.topology
    out.print(
        Text(
            f"wrote {output}: {len(topo.substations)} substations, {len(topo.plants)} plants, "
            f"{len(topo.edges_of_kind('line'))} lines, {len(topo.sites)} sites, "
            f"{sum(t.total_gpus for t in scenario.demand.tenants):,} GPUs"
        )
    )


@app.command()
def generate(
    output: Path = typer.Option(..., "-o", "--output", help="scenario file to write (.json or .yaml)"),
    # Upper bounds: the schema's (GPU counts) or far beyond any study, so a typo fails at once
    # instead of generating for hours.
    sites: int = typer.Option(..., "--sites", min=1, max=100_000, help="candidate sites"),
    gpus: int = typer.Option(..., "--gpus", min=1, max=100_000_000, help="GPUs of demand, in whole racks"),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1),
    substations: int | None = typer.Option(None, "--substations", min=2, max=100_000),
    plants: int | None = typer.Option(None, "--plants", min=1, max=100_000),
    metros: int | None = typer.Option(None, "--metros", min=1, max=10_000),
    tenants: int = typer.Option(5, "--tenants", min=1, max=1_000),
    skus: int = typer.Option(4, "--skus", min=1, max=100),
) -> None:
    """Generate a seeded synthetic scenario: the same arguments give the same file, byte for byte."""
    from topologies.synthetic import generate as synthesize

    check_output_path(output)
    try:
        scenario = synthesize(
            sites=sites,
            gpus=gpus,
            seed=seed,
            substations=substations,
            plants=plants,
            metros=metros,
            tenants=tenants,
            skus=skus,
        )
    except ValueError as exc:
        raise InputError(str(exc), where="placer generate") from None
    dump_model(scenario, output)
    out.print(
        Text(
            f"wrote {output}: {len(scenario.topology.sites)} sites, "
            f"{sum(t.total_gpus for t in scenario.demand.tenants):,} GPUs, digest {scenario.digest()}"
        )
    )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context) -> None:
    """Run the benchmark suite (alias of `python -m benchmarks`; same options, e.g. --suite small --out DIR)."""
    from benchmarks.runner import main as bench_main

    raise typer.Exit(bench_main(list(ctx.args)))


@app.command()
def schema(plan: bool = typer.Option(False, "--plan", help="the plan file's schema instead")) -> None:
    """Print the JSON Schema of the scenario file (generated from the pydantic models)."""
    print(json.dumps(plan_json_schema() if plan else json_schema(), indent=2))


class _PipeSafeStdout:
    """stdout (or stderr) that survives its reader leaving (``placer verify ... | head -1``).

    Once a write or flush meets a closed pipe, fd 1 is pointed at /dev/null and the command
    carries on, so the exit code still says what happened (0 valid, 1 violations) instead of
    a BrokenPipeError turning a valid plan into a failure. Everything else is delegated."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _error_line(text: str) -> str:
    # One line, whatever a message quotes (a file name or an id with a newline in it).
    return text.replace("\r", "\\r").replace("\n", "\\n")


def main(argv: list[str] | None = None) -> None:
    """The console script. ``argv`` defaults to ``sys.argv[1:]``; exits with the command's code."""
    stdout, stderr = sys.stdout, sys.stderr
    if not isinstance(stdout, _PipeSafeStdout):
        sys.stdout = _PipeSafeStdout(stdout)
    if not isinstance(stderr, _PipeSafeStdout):
        sys.stderr = _PipeSafeStdout(stderr)  # `placer solve ... 2>&1 | head -1` closes both
    try:
        _run(argv)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            sys.stdout, sys.stderr = stdout, stderr


def _run(argv: list[str] | None) -> None:
    try:
        # Without standalone mode click returns (not raises) the code of typer.Exit.
        code = app(args=argv, prog_name="placer", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except PlacerError as exc:
        logs_line = str(exc) if not isinstance(exc, InputError) else exc.one_line()
        err.print(_error_line(f"error: {logs_line}"))
        if isinstance(exc, InfeasibleError):
            for reason in exc.reasons:
                err.print(_error_line(f"  - {reason}"))
            if not exc.reasons:
                err.print("  (no smaller set of conflicting constraints was found in time)")
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted (Ctrl-C); nothing written")
        sys.exit(130)
    except Exception as exc:
        # Usage errors (bad option value, missing argument). Typer may vendor its own click,
        # so recognise them by interface rather than by class.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            err.print(_error_line(f"error: {exc.format_message()}"))
            sys.exit(2)
        raise


from placer import cli_layout as _cli_layout  # noqa: E402,F401  (registers `placer layout` and `placer racks`)
from placer import cli_sweep  # noqa: E402,F401  (registers `placer sweep` on app)

if __name__ == "__main__":
    main()


# The output commands (diff, export, map, report) register themselves on `app`.
import placer.cli_outputs  # noqa: E402, F401
import placer.cli_schedule  # noqa: E402, F401  (registers `placer schedule` and `placer verify-schedule`)
from placer import cli_jobs as _cli_jobs  # noqa: E402,F401  (registers `placer jobs synth` and `placer jobs alibaba`)
