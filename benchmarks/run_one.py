"""One benchmark run in its own process, so that peak memory (RSS) is this run's alone.

``python -m benchmarks.run_one SUITE CASE SOLVER TIME_LIMIT_S`` prints one JSON record.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


class PhaseSampler(threading.Thread):
    """Samples this process's resident memory every 20 ms and keeps the peak per phase.

    Phases: generate -> build (problem and model) -> solve (from the engine's model-built
    log event) -> verify. The build/solve peaks answer "does building need more memory
    than solving?" without instrumenting the solvers."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.phase = "generate"
        self.peak_mb: dict[str, float] = {}
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")

    def sample(self) -> None:
        try:
            with open("/proc/self/statm") as fh:
                rss = int(fh.read().split()[1]) * self._page / 2**20
        except OSError:
            return
        self.peak_mb[self.phase] = max(self.peak_mb.get(self.phase, 0.0), rss)

    def switch(self, phase: str) -> None:
        self.sample()
        self.phase = phase
        self.sample()

    def run(self) -> None:
        while not self._stop.wait(0.02):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self.sample()


UPFRONT = "milp-upfront"  # the up-front N-1 yardstick: the MILP with every binding-capable row before its first solve


def engine_for(solver: str):
    """The engine to run: a ``--solver`` name, or :data:`UPFRONT` (not offered to users)."""
    if solver != UPFRONT:
        return solver
    from solvers.engine import REGISTRY
    from solvers.engines import MilpEngine

    return MilpEngine(UPFRONT, "highs", REGISTRY["milp"].capabilities, n1_mode="upfront")


def _upfront_fields(event: dict) -> dict:
    """The up-front build's rows (built, binding-capable, monitored candidates) and seconds; when the
    build was cut off by the time limit, the time the whole build would take at the measured rate
    (an estimate, labelled so)."""
    if not event:
        return {}
    out = {f"upfront_{k}": v for k, v in event.items()}
    built, total, secs = event["rows_built"], event["rows_total"], event["seconds"]
    if built < total and built > 0:
        out["upfront_build_estimate_seconds"] = round(secs * total / built, 1)
        out["upfront_nonzeros_estimate"] = round(event["nonzeros_built"] * total / built)
    return out


def _layout_fields(scenario, plan) -> dict:
    """Issue 13: lay out every rack of the solved plan (solvers.layout, a process pool of
    policy.solver.workers) and verify the laid-out plan; the seconds of each and the sites' states."""
    from placer.errors import PlacerError
    from placer.verify import verify
    from solvers.layout import layout_plan

    t0 = time.perf_counter()
    try:
        laid = layout_plan(scenario, plan)
    except PlacerError as exc:
        return {"layout_status": type(exc).__name__, "layout_error": str(exc)}
    layout_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    report = verify(scenario, laid)
    verify_s = time.perf_counter() - t1
    assert laid.layout is not None
    return {
        "layout_racks": len(laid.layout.racks),
        "layout_seconds": round(layout_s, 3),
        "layout_verify_seconds": round(verify_s, 4),
        "layout_total_seconds": round(layout_s + verify_s, 3),
        "layout_valid": report.valid,
        "layout_sites": {s.site: s.status for s in laid.layout.sites},
        "layout_worst_fault_share": max((e.worst_loss_share for s in laid.layout.sites for e in s.exposure), default=0),
    }


def run(suite: str, case: str, solver: str, time_limit_s: float) -> dict:
    import logging

    import structlog

    sampler = PhaseSampler()
    sampler.start()

    upfront: dict = {}

    def phase_marker(logger, method, event_dict):
        if event_dict.get("event") in ("cpsat.model", "milp.model") and sampler.phase == "build":
            sampler.switch("solve")
        if event_dict.get("event") == "milp.upfront":
            upfront.update({k: v for k, v in event_dict.items() if k != "event"})
        raise structlog.DropEvent  # logs are not part of a benchmark's output

    structlog.configure(processors=[phase_marker], wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    from benchmarks.suites import case_builder
    from placer.errors import PlacerError
    from placer.verify import verify
    from solvers import solve

    t0 = time.perf_counter()
    scenario = case_builder(suite, case)()
    record: dict = {
        "suite": suite,
        "case": case,
        "solver": solver,
        "time_limit_s": time_limit_s,
        "sites": len(scenario.topology.sites),
        "buses": len(scenario.topology.substations) + len(scenario.topology.plants),
        "lines": len(scenario.topology.edges_of_kind("line")),
        "gpus": sum(t.total_gpus for t in scenario.demand.tenants),
        "generate_seconds": round(time.perf_counter() - t0, 3),
        "rss_after_generate_mb": round(_rss_mb(), 1),
    }
    sampler.switch("build")
    t_solve = time.perf_counter()
    try:
        # the option worth (solvers/worth.py) is a post-step of short re-schedules, not the solve the time
        # limit and the targets are about: left out so a record's times are the solve's alone
        plan = solve(scenario, engine_for(solver), time_limit_s=time_limit_s, option_worth=False)
    except PlacerError as exc:
        sampler.stop()
        record.update(_upfront_fields(upfront))
        record.update(
            status=type(exc).__name__,
            error=str(exc),
            engine_wall_seconds=round(time.perf_counter() - t_solve, 3),
            peak_rss_mb=round(_rss_mb(), 1),
        )
        return record
    record["engine_wall_seconds"] = round(time.perf_counter() - t_solve, 3)
    record.update(_upfront_fields(upfront))
    s = plan.summary
    sampler.switch("verify")
    t1 = time.perf_counter()
    report = verify(scenario, plan)
    verify_s = time.perf_counter() - t1
    sampler.stop()
    record["phase_peak_rss_mb"] = {k: round(v, 1) for k, v in sampler.peak_mb.items()}
    build_mb, solve_mb = sampler.peak_mb.get("build"), sampler.peak_mb.get("solve")
    if build_mb and solve_mb:
        record["build_to_solve_memory_ratio"] = round(build_mb / solve_mb, 3)
    record.update(
        status=s.status,
        placement_status=s.placement_status,
        relative_gap=s.relative_gap,
        stranded_gpu_quarters=s.stranded_gpu_quarters,
        objective=s.objective,
        objective_unit=s.objective_unit,  # usd_per_year (single period) or usd (a rollout's NPV)
        bound=s.bound,
        gap=s.gap,
        build_seconds=s.build_seconds,
        solve_seconds=s.solve_seconds,
        verify_seconds=round(verify_s, 4),
        valid=report.valid,
        violations=len(report.violations),
        facility_power_mw=s.facility_power_mw,
        peak_rss_mb=round(_rss_mb(), 1),
    )
    if suite == "layout":
        record.update(_layout_fields(scenario, plan))
    if plan.grid is not None:
        record.update(
            n_minus_1=plan.grid.n_minus_1,
            loop_iterations=len(plan.grid.iterations),
            constraints_added=plan.grid.constraints_added,
            loop_seconds=plan.grid.loop_seconds,
            grid_enforced=plan.grid.enforced_by_solver,
            loop_iteration_seconds=[it.seconds for it in plan.grid.iterations],
            loop_rows_per_iteration=[
                it.base_constraints_added + it.contingency_constraints_added for it in plan.grid.iterations
            ],
        )
    return record


if __name__ == "__main__":
    suite, case, solver, limit = sys.argv[1:5]
    print(json.dumps(run(suite, case, solver, float(limit))))
