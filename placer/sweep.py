"""Scenario sweeps on Ray: every case of a sweep file solved, verified and tabulated.

``run_sweep(SWEEP.yaml, DIR)`` expands the file (:mod:`placer.sweep_file`), validates every case on
the driver (a bad case is an :class:`InputError` before any solve), and runs the cases as Ray tasks:
on a local Ray instance started here (``ray.init`` with the machine's CPUs, nothing to set up), or on
the cluster at ``address`` (``--address`` / ``RAY_ADDRESS``), to which this checkout's ``placer``,
``solvers`` and ``topologies`` are shipped as ``py_modules`` (the nodes need placer's dependencies).

* Each task reserves ``num_cpus`` = its solver's workers, so CP-SAT and HiGHS threads do not fight.
* Tasks return a small dict (the case's figures and its plan, zlib-compressed); the driver streams them
  with ``ray.wait`` and keeps at most ``2 x (CPUs / workers)`` tasks in flight, so 10,000 cases cost the
  driver their table rows and nothing else.
* Resumable: a finished case is written under ``DIR`` keyed by its scenario digest
  (``results/<hex>.json`` and ``plans/<hex>.json``); a re-run skips a case whose digest already has a
  final result (a verified plan, or a proof of infeasibility) solved with the same solver settings.
* Results: ``DIR/sweep.json`` (the sweep as read, its base digest and solver settings),
  ``DIR/results.parquet`` and ``DIR/results.csv`` (one row per case: its parameters and
  overrides, status, objective and its terms, gap, stranded GPU-quarters, sites used, power, solve
  seconds, verified) and ``DIR/plots/<parameter>.png`` (each metric against each swept parameter).

Every plan is checked by :func:`placer.verify.verify` inside its task. Complexity: driver work is
O(cases x scenario size) for validation plus O(cases) for the table; the solves are the engines'.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from placer import overrides as ov
from placer.errors import InputError, SolveInterrupted
from placer.io import atomic_write_text
from placer.scenario import Scenario
from placer.sweep_file import Case, SolverSpec, SweepFile, expand, load_sweep

# Statuses a re-run need not repeat: a verified plan's, or a proof that none exists.
FINAL = ("OPTIMAL", "FEASIBLE", "INFEASIBLE")
METRICS = ("objective", "facility_power_mw", "stranded_gpu_quarters", "sites_used", "gap", "solve_seconds")


@dataclass
class Outcome:
    """What a sweep did: cases in all, run now, skipped (already done), and the result files."""

    cases: int
    ran: int
    skipped: int
    failed: int  # plans that failed verification, or errors
    table: Path
    csv: Path
    plots: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)


def resolve_base(sweep: SweepFile, sweep_path: Path) -> tuple[Scenario, str]:
    """The base scenario (a built-in name, or a file relative to the sweep file) and its label."""
    from placer.io import load_scenario
    from topologies import builtin_names, builtin_scenario

    if sweep.base in builtin_names():
        return builtin_scenario(sweep.base), sweep.base
    path = Path(sweep.base)
    if not path.is_absolute():
        path = sweep_path.parent / path
    if not path.exists():
        raise InputError(
            f"'{sweep.base}' is neither a built-in scenario ({', '.join(builtin_names())}) nor a file",
            file=str(sweep_path),
            where="base",
        )
    return load_scenario(path), str(path)


# ---------------------------------------------------------------------------- the task


def _plan_metrics(plan, report) -> dict[str, Any]:
    s = plan.summary
    used = sorted({a.site for a in plan.assignments if a.racks > 0})
    row: dict[str, Any] = {
        "status": s.status,
        "engine": s.solver,
        "objective": s.objective,
        "objective_unit": s.objective_unit,
        "bound": s.bound,
        "gap": s.gap,
        "gpus_placed": s.gpus_placed,
        "it_power_mw": s.it_power_mw,
        "facility_power_mw": s.facility_power_mw,
        "stranded_gpu_quarters": s.stranded_gpu_quarters,
        "sites_used": len(used),
        "sites": ";".join(used),
        "solve_seconds": s.build_seconds + s.solve_seconds,
        "interrupted": s.interrupted,
        "verified": report.valid,
        "violations": len(report.violations),
        "reason": "; ".join(f"{v.code} {v.entity}" for v in report.violations[:5]),
    }
    for term in plan.cost_breakdown:
        row[f"cost_{term.name}_usd_per_year"] = term.usd_per_year
    if plan.npv is not None:
        for t in plan.npv.terms:
            row[f"npv_{t.name}_usd"] = t.usd
    if plan.grid is not None:
        row["n_minus_1"] = plan.grid.n_minus_1
    return row


def solve_case(base_data: dict, overrides: list[tuple[str, Any]], spec: dict) -> dict[str, Any]:
    """One case, in a Ray worker (or in-process): apply the overrides, solve, verify.

    Returns ``{"digest", "row", "plan"}``: the case's figures (a flat dict) and its plan as
    zlib-compressed JSON (None without a plan). Never raises for a case's own failure (no plan,
    infeasible, a verifier finding, an engine error): the row says what happened."""
    from placer import logs
    from placer.errors import InfeasibleError, NoSolutionError, PlacerError
    from placer.verify import verify
    from solvers import solve

    logs.configure(quiet=True)  # the driver shows progress; a worker's log lines would interleave
    started = time.perf_counter()
    opts = SolverSpec.model_validate(spec)
    ovs = [ov.make(p, v) for p, v in overrides]
    base = Scenario.model_validate(base_data)
    scenario = ov.apply(base, ovs)
    row: dict[str, Any] = {"host": socket.gethostname()}
    plan_blob = None
    try:
        plan = solve(
            scenario,
            opts.engine,
            time_limit_s=opts.time_limit_s,
            workers=opts.workers,
            seed=opts.seed,
            option_worth=opts.option_worth,
        )
    except InfeasibleError as exc:
        row.update(status="INFEASIBLE", verified=False, reason=" | ".join([str(exc), *exc.reasons])[:2000])
    except NoSolutionError as exc:
        row.update(status="NO_PLAN", verified=False, reason=str(exc)[:2000])
    except PlacerError as exc:
        row.update(status="ERROR", verified=False, reason=str(exc)[:2000])
    except Exception as exc:  # an engine bug must not stop the other 9,999 cases; the row names it
        row.update(status="ERROR", verified=False, reason=f"{type(exc).__name__}: {exc}"[:2000])
    else:
        record = ov.what_if(base, ovs)
        if record is not None:
            plan = plan.model_copy(update={"what_if": record})
        report = verify(scenario, plan)
        row.update(_plan_metrics(plan, report))
        plan_blob = zlib.compress(plan.model_dump_json().encode(), 6)
    row["wall_seconds"] = time.perf_counter() - started
    return {"digest": scenario.digest(), "row": row, "plan": plan_blob}


# ---------------------------------------------------------------------------- the store


def _key(digest: str) -> str:
    return digest.split(":", 1)[1]


class Store:
    """``DIR/results/<hex>.json`` (the case's figures and solver settings) and ``DIR/plans/<hex>.json``."""

    def __init__(self, root: Path):
        self.root = root
        if root.exists() and not root.is_dir():
            raise InputError("is not a directory; give -o a directory for the sweep's results", file=str(root))
        try:
            for sub in ("results", "plans", "plots"):
                (root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the results directory: {exc.strerror or exc}", file=str(root)) from None

    def result_path(self, digest: str) -> Path:
        return self.root / "results" / f"{_key(digest)}.json"

    def plan_path(self, digest: str) -> Path:
        return self.root / "plans" / f"{_key(digest)}.json"

    def load(self, digest: str) -> dict | None:
        try:
            return json.loads(self.result_path(digest).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def done(self, digest: str, spec: dict) -> bool:
        """A final result for this digest under the same solver settings: a verified plan whose file
        is there and names this digest, or a proof of infeasibility."""
        got = self.load(digest)
        if got is None or got.get("solver") != spec:
            return False
        row = got.get("row", {})
        if row.get("status") == "INFEASIBLE":
            return True
        if row.get("status") not in FINAL or row.get("verified") is not True:
            return False
        try:
            with self.plan_path(digest).open(encoding="utf-8") as fh:
                head = fh.read(4096)
        except OSError:
            return False
        return f'"scenario_digest":"{digest}"' in head.replace(" ", "")

    def save(self, digest: str, spec: dict, row: dict, plan_blob: bytes | None) -> None:
        # The plan first: a result file only ever names a plan that is already whole on disk.
        if plan_blob is not None:
            atomic_write_text(self.plan_path(digest), zlib.decompress(plan_blob).decode() + "\n")
        atomic_write_text(
            self.result_path(digest), json.dumps({"digest": digest, "solver": spec, "row": row}, default=str) + "\n"
        )


# ---------------------------------------------------------------------------- Ray


def _project_root() -> str:
    return str(Path(__file__).resolve().parents[1])


_SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _loopback_only() -> None:
    """Keep a local Ray instance on 127.0.0.1: by default Ray listens on every interface and names
    the node by its network address; its single-machine mode (the one it uses on macOS and Windows,
    switched by this variable) binds loopback only, so nothing of the sweep is reachable from the
    network. Set the variable to 1 to have the default back. O(1)."""
    os.environ.setdefault(_SINGLE_MACHINE, "0")
    try:  # read by Ray when it is imported; set here too in case it already was
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = os.environ[_SINGLE_MACHINE].lower() not in ("0", "false")
    except (ImportError, AttributeError):
        pass


def _start_ray(address: str | None):
    """Connect to ``address`` (or ``RAY_ADDRESS``) or start a local instance; True when started here."""
    import ray

    if ray.is_initialized():
        return False
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    address = address or os.environ.get("RAY_ADDRESS") or None
    common: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR, "include_dashboard": False}
    if address is None:
        _loopback_only()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_project_root(), os.environ.get("PYTHONPATH", "")) if p)
        ray.init(num_cpus=os.cpu_count() or 1, runtime_env={"env_vars": env}, **common)
    else:
        import placer
        import solvers
        import topologies

        common.pop("include_dashboard")
        try:
            ray.init(
                address=address,
                runtime_env={"env_vars": env, "py_modules": [placer, solvers, topologies]},
                **common,
            )
        except (ConnectionError, ValueError, RuntimeError) as exc:
            hint = ""
            if os.environ.get("RAY_AUTH_MODE") != "token":
                hint = (
                    " (a cluster started by `ray start` checks a token: set RAY_AUTH_MODE=token, with the "
                    "cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN)"
                )
            raise InputError(
                f"cannot connect to the Ray cluster: {str(exc).splitlines()[0]}{hint}", where="--address"
            ) from None
    return True


def _cluster_cpus() -> tuple[float, float]:
    """(total CPUs, the most CPUs any one node has)."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    per_node = [float(n.get("Resources", {}).get("CPU", 0)) for n in nodes]
    return sum(per_node), max(per_node, default=0.0)


# ---------------------------------------------------------------------------- the driver


def _validate_cases(cases: list[Case], base_data: dict, file: str) -> tuple[list[str], dict[int, str]]:
    """Each case's scenario digest (validating it), and why the invalid site-removal cases are
    invalid (those get a row, digest ''); any other invalid case is an :class:`InputError` naming it."""
    digests, invalid = [], {}
    for case in cases:
        try:
            digests.append(ov.apply(base_data, case.overrides).digest())
        except InputError as exc:
            if case.removes:
                digests.append("")
                invalid[case.index] = exc.one_line()
                continue
            labels = ", ".join(f"{k}={v}" for k, v in case.labels.items())
            where = f"case {case.index} ({labels})" + (f": {exc.where}" if exc.where else "")
            raise InputError(exc.message, file=file, where=where) from None
    return digests, invalid


def run_sweep(
    sweep_path: str | Path,
    out_dir: str | Path,
    *,
    address: str | None = None,
    workers_per_case: int | None = None,
    time_limit_s: float | None = None,
    on_event: Callable[[str, dict], None] | None = None,
) -> Outcome:
    """Run (or resume) a sweep; returns what it did. ``workers_per_case`` and ``time_limit_s`` override
    the file's solver settings (and so the resume key). ``on_event(kind, info)`` is told ``start``
    (cases, to_run), ``case`` (one finished: its row) and ``done``. Raises :class:`InputError` for
    a bad sweep file, case or directory (nothing solved), :class:`SolveInterrupted` on Ctrl-C (the
    finished cases are kept and tabulated; a re-run resumes)."""
    started = time.perf_counter()
    sweep_path = Path(sweep_path)
    sweep = load_sweep(sweep_path)
    given = {k: v for k, v in (("workers", workers_per_case), ("time_limit_s", time_limit_s)) if v is not None}
    try:
        spec = SolverSpec.model_validate({**sweep.solver.model_dump(), **given}).model_dump()
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        option = {"workers": "--workers-per-case", "time_limit_s": "--time-limit"}.get(str(err["loc"][0]), "")
        raise InputError(f"{err['msg']} (got {err.get('input')!r})", where=option) from None
    base, base_label = resolve_base(sweep, sweep_path)
    try:
        cases = expand(sweep, base)
    except InputError as exc:
        raise InputError(exc.message, file=str(sweep_path), where=exc.where) from None
    base_data = ov.scenario_data(base)
    digests, invalid = _validate_cases(cases, base_data, str(sweep_path))
    store = Store(Path(out_dir))
    # What this directory's table was made from (the table itself says what each case did).
    atomic_write_text(
        store.root / "sweep.json",
        json.dumps(
            {
                "sweep_file": str(sweep_path),
                "base": base_label,
                "base_scenario_digest": base.digest(),
                "solver": spec,
                "cases": len(cases),
                "sweep": sweep.model_dump(mode="json"),
            },
            indent=2,
        )  # fmt: skip
        + "\n",
    )
    todo: dict[str, Case] = {}
    for case, digest in zip(cases, digests):
        if digest and digest not in todo and not store.done(digest, spec):
            todo[digest] = case  # cases with the same scenario are solved once
    emit = on_event or (lambda kind, info: None)
    emit("start", {"cases": len(cases), "to_run": len(todo), "invalid": len(invalid), "base": base_label})
    failed = 0
    interrupted = False
    if todo:
        failed, interrupted = _run_on_ray(todo, base_data, spec, store, address, emit)
    table, csv, statuses = write_table(store, cases, digests, invalid)
    plots = write_plots(store, sweep, table)
    outcome = Outcome(
        cases=len(cases),
        ran=len(todo),
        skipped=len(cases) - len(todo) - len(invalid),
        failed=failed,
        table=table,
        csv=csv,
        plots=plots,
        seconds=time.perf_counter() - started,
        statuses=statuses,
    )
    emit("done", {"outcome": outcome})
    if interrupted:
        have = len(cases) - statuses.get("NOT_RUN", 0)
        raise SolveInterrupted(
            f"interrupted (Ctrl-C): {have} of {len(cases)} cases have results in {store.root}; "
            "run the same command again to resume"
        )
    return outcome


def _run_on_ray(todo: dict[str, Case], base_data: dict, spec: dict, store: Store, address, emit) -> tuple[int, bool]:
    import ray

    started_here = _start_ray(address)
    failed = 0
    pending: dict[Any, str] = {}
    try:
        total_cpus, node_cpus = _cluster_cpus()
        if spec["workers"] > node_cpus:
            raise InputError(
                f"{spec['workers']} workers per case, but no Ray node has more than {node_cpus:g} CPUs",
                where="--workers-per-case",
            )
        window = max(2, 2 * int(total_cpus // spec["workers"]))
        task = ray.remote(num_cpus=spec["workers"], max_retries=1)(solve_case)
        base_ref = ray.put(base_data)
        queue = list(todo.items())
        queue.reverse()
        try:
            while queue or pending:
                while queue and len(pending) < window:
                    digest, case = queue.pop()
                    ref = task.remote(base_ref, [(o.path, o.value) for o in case.overrides], spec)
                    pending[ref] = digest
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    digest = pending.pop(ref)
                    case = todo[digest]
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # the worker died (OOM, node lost): the row says so
                        result = {
                            "digest": digest,
                            "row": {
                                "status": "ERROR",
                                "verified": False,
                                "reason": f"{type(exc).__name__}: {exc}"[:2000],
                            },
                            "plan": None,
                        }
                    row = result["row"]
                    if result["digest"] != digest:  # the worker's schema disagrees with the driver's
                        row = {"status": "ERROR", "verified": False, "reason": "worker computed another digest"}
                    store.save(digest, spec, row, result["plan"])
                    if row.get("status") == "ERROR" or (
                        row.get("status") in ("OPTIMAL", "FEASIBLE") and not row.get("verified")
                    ):
                        failed += 1
                    emit("case", {"case": case, "digest": digest, "row": row})
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            return failed, True
    finally:
        if started_here:
            ray.shutdown()
    return failed, False


# ---------------------------------------------------------------------------- the table and plots


def _rows(store: Store, cases: list[Case], digests: list[str], invalid: dict[int, str]) -> tuple[list[dict], dict]:
    rows: list[dict] = []
    statuses: dict[str, int] = {}
    for case, digest in zip(cases, digests):
        got = store.load(digest) if digest else None
        metrics: dict[str, Any]
        if case.index in invalid:
            metrics = {"status": "INVALID", "verified": False, "reason": invalid[case.index]}
        else:
            metrics = got["row"] if got else {"status": "NOT_RUN"}
        status = str(metrics.get("status", "?"))
        statuses[status] = statuses.get(status, 0) + 1
        rows.append(
            {
                "case": case.index,
                **case.labels,
                "digest": digest,
                "overrides": json.dumps([o.text for o in case.overrides]),
                **metrics,
                "plan": f"plans/{_key(digest)}.json" if got and store.plan_path(digest).exists() else "",
            }
        )
    return rows, statuses


def write_table(
    store: Store, cases: list[Case], digests: list[str], invalid: dict[int, str]
) -> tuple[Path, Path, dict[str, int]]:
    """``results.parquet`` and ``results.csv`` (one row per case, in case order), written atomically."""
    import pandas as pd

    rows, statuses = _rows(store, cases, digests, invalid)
    frame = pd.DataFrame(rows)
    for col in frame.columns:  # one type per column: parameter labels may mix numbers and 'none'
        if frame[col].dtype == object and frame[col].map(lambda v: isinstance(v, (int, float, bool))).any():
            if not frame[col].map(lambda v: v is None or isinstance(v, (int, float)) and not isinstance(v, bool)).all():
                frame[col] = frame[col].map(lambda v: "" if v is None else str(v))
    parquet, csv = store.root / "results.parquet", store.root / "results.csv"
    tmp = store.root / ".results.parquet.tmp"
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, parquet)
    atomic_write_text(csv, frame.to_csv(index=False))
    return parquet, csv, statuses


def _file_name(column: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", column).strip("_")[:100] or "parameter"


def write_plots(store: Store, sweep: SweepFile, table: Path) -> list[Path]:
    """One PNG per swept parameter: each metric (objective, facility MW, stranded GPU-quarters, sites
    used, gap, solve seconds) against it: in a two-parameter grid one line per value of the other
    parameter, otherwise every case a point and the mean per value a line (a bar per value for a
    non-numeric parameter); cases without a plan are counted in the title. O(cases)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.read_parquet(table)
    params = sweep.grid or (sweep.sample.parameters if sweep.sample else [])
    has_plan = frame["objective"].notna() if "objective" in frame else pd.Series(False, index=frame.index)
    metrics = [m for m in METRICS if m in frame and frame.loc[has_plan, m].notna().any()]
    if "stranded_gpu_quarters" in metrics and not (frame["stranded_gpu_quarters"].fillna(0) != 0).any():
        metrics.remove("stranded_gpu_quarters")
    out = []
    for p in params:
        col = p.column
        if col not in frame or not metrics:
            continue
        sub = frame.loc[has_plan]
        numeric = pd.api.types.is_numeric_dtype(frame[col])
        ncols = min(3, len(metrics))
        nrows = math.ceil(len(metrics) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
        for ax, metric in zip(axes.flat, metrics):
            unit = (
                frame["objective_unit"].dropna().iloc[0] if metric == "objective" and "objective_unit" in frame else ""
            )
            # A two-parameter grid: one line per value of the other parameter (when it has few values).
            others = [q.column for q in params if q.column != col and q.column in frame]
            group = others[0] if len(others) == 1 and frame[others[0]].nunique() <= 8 else None
            if numeric and group is not None:
                for value, part in sub.groupby(group, sort=True):
                    part = part.sort_values(col)
                    ax.plot(part[col], part[metric], marker="o", ms=3, lw=1.0, label=f"{group}={value}")
                ax.legend(fontsize=6)
            elif numeric:
                ax.scatter(sub[col], sub[metric], s=14, alpha=0.6)
                mean = sub.groupby(col)[metric].mean().sort_index()
                ax.plot(mean.index, mean.values, lw=1.2)
            else:
                labels = list(dict.fromkeys(frame[col].astype(str)))
                mean = sub.groupby(sub[col].astype(str))[metric].mean().reindex(labels)
                ax.bar(range(len(labels)), mean.values)
                ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
            ax.set_xlabel(col, fontsize=8)
            ax.set_ylabel(f"{metric} ({unit})" if unit else metric, fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(metrics) :]:
            ax.axis("off")
        missing = int((~has_plan).sum())
        status = frame.loc[~has_plan, "status"].value_counts().to_dict() if missing else {}
        note = f"; no plan: {missing} ({', '.join(f'{k} {v}' for k, v in status.items())})" if missing else ""
        fig.suptitle(f"{len(frame)} cases against {col}{note}", fontsize=10)
        fig.tight_layout()
        path = store.root / "plots" / f"{_file_name(col)}.png"
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp, dpi=110)
        plt.close(fig)
        os.replace(tmp, path)
        out.append(path)
    return out
