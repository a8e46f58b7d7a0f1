"""Verifier checks of a plan's claims about itself: status, bound, gap, stranding, loop and timings.

:func:`check_claims` is called by :func:`placer.verify.verify` after the constraint and
reported-figure checks. Like the rest of the verifier it never imports ``solvers/``.

Inputs: the scenario, the plan, the verifier's own objective of the plan's racks (the sum
of the recomputed cost terms in USD per year; a rollout's recomputed NPV in USD), the stranded GPU-quarters recomputed from the
schedule (None when the schedule is missing or its periods are not the scenario's: then
``SCHEDULE_MISSING`` / ``SCHEDULE_PERIODS`` report it), the number of monitored lines
and of non-islanding outages (None without a checked grid), and ``add``, the verifier's
violation sink. Output: the codes checked. Minimising is assumed throughout (placer's
objective is a cost).

Codes
-----
``STATUS_CLAIM``
    * ``summary.status`` (and ``summary.placement_status`` when present) is ``OPTIMAL``
      or ``FEASIBLE``: a plan is a placement, so INFEASIBLE, UNKNOWN and MODEL_INVALID
      contradict it.
    * ``OPTIMAL`` needs a finite bound with ``objective - bound <= relative_gap x
      |objective| + money tolerance`` (``relative_gap`` = ``summary.relative_gap``,
      ``objective`` = the verifier's own), and ``summary.relative_gap`` no looser than
      the scenario's ``policy.solver.relative_gap`` (solver options are not part of the
      digest, so a plan could otherwise set its own bar).
    * ``summary.relative_gap`` is a finite share in [0, 1].
    * ``placement_status`` describes the placement part of the objective only.
      ``placement_status: OPTIMAL`` needs a finite ``summary.bound`` (an engine that proves
      its placement has a bound, and the whole objective's bound is built on it). When
      the plan has no grid report the objective *is* the placement's (no re-dispatch
      term), so it needs the same proof as ``status: OPTIMAL``. With a grid report the
      plan carries no bound of the placement alone, so a placement-only OPTIMAL is not
      checkable further; nor is ``status: FEASIBLE`` with ``placement_status: OPTIMAL``
      (the grid-blind engines' honest pair).
``BOUND_CLAIM``
    ``summary.bound`` is finite and ``bound <= objective + money tolerance``.
``GAP_CLAIM``
    ``summary.gap`` is present iff a bound is (and the objective is not 0, where the gap
    is undefined and must be absent), finite, never negative, and equal to
    ``max(0, (objective - bound) / |objective|)`` within the money tolerance divided by
    ``|objective|`` (the gap implies a bound; that bound must match within the money
    tolerance).
``STRANDING_CLAIM``
    ``summary.stranded_gpu_quarters`` is never negative; 0 without a rollout; for a
    rollout it equals the sum over periods of GPUs delivered but not live, recomputed
    from the schedule (:func:`placer.verify_schedule.stranded_gpu_quarters`).
``GRID_LOOP_CLAIM`` (plans with a grid report on a checked grid)
    ``grid.iterations`` are numbered 1, 2, ... in order; their rows added and
    ``worst_violation_mw`` are non-negative and finite; ``grid.constraints_added`` (the
    distinct rows the contingency loop added) is at least the sum of the rows added per
    iteration and at most the rows that exist: monitored lines x (1 + non-islanding
    outages) under ``n-1``, monitored lines under ``n-0``, times the quarters of a rollout (each
    quarter's network has its own rows). It may exceed the iterations'
    sum: the MILP's neighbourhood search and its last hinted solve screen their
    incumbents and add violated rows outside a recorded iteration.
``TIMING_CLAIM``
    ``summary.build_seconds``, ``summary.solve_seconds``, ``grid.loop_seconds`` and every
    ``grid.iterations[*].seconds`` are finite and non-negative, and the iterations'
    seconds add up to at most ``grid.loop_seconds`` (each rounded to 1e-4 s, so 1e-4 s
    of slack per figure).

Not verifiable (provenance, taken as stated): ``solver``, ``engine_choice``,
``solver_version``, ``seed``, ``workers``, ``parameters``, ``notes``, ``interrupted``
(an interrupted plan may still be OPTIMAL if its bound proves it), the wall-clock seconds
themselves (only their sign and sums), ``grid.enforced_by_solver`` and each iteration's
intermediate ``objective``.

Money tolerance: rel 1e-6 of max(|objective|, |bound|) plus 1 USD (the verifier's
``USD_REL_TOL`` / ``USD_ABS_TOL`` of :mod:`placer.contract`).

Complexity: O(I) for I loop iterations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeGuard

from placer.contract import USD_ABS_TOL, USD_REL_TOL
from placer.plan import Plan
from placer.scenario import Scenario

CLAIM_CODES = ("STATUS_CLAIM", "BOUND_CLAIM", "GAP_CLAIM", "STRANDING_CLAIM", "GRID_LOOP_CLAIM", "TIMING_CLAIM")
SOLVED = ("OPTIMAL", "FEASIBLE")
GAP_REL_TOL = 1e-9  # summary.relative_gap against the scenario's: both are copies of one number
SECONDS_SLACK = 1e-4  # the solvers round every seconds figure to 4 decimals

AddFn = Callable[..., None]  # add(code, entity, message, measured=None, limit=None, unit="")


def _finite(x: float | None) -> TypeGuard[float]:
    return x is not None and math.isfinite(x)


def money_tolerance_usd(*values: float) -> float:
    """Absolute slack for comparing money (USD/yr or USD): rel USD_REL_TOL of the largest plus USD_ABS_TOL."""
    return USD_REL_TOL * max([0.0, *(abs(v) for v in values if _finite(v))]) + USD_ABS_TOL


def check_claims(
    scenario: Scenario,
    plan: Plan,
    objective_usd: float,
    stranded_gpu_quarters: int | None,
    add: AddFn,
    *,
    grid_rows: tuple[int, int] | None = None,
) -> list[str]:
    """Check the plan's claims; see the module docstring. ``grid_rows`` is (monitored lines,
    non-islanding outages screened) from the verifier's grid check, None when no grid was
    checked (the loop checks are skipped then)."""
    c = _Claims(scenario, plan, objective_usd, add)
    c.status()
    c.bound()
    c.gap()
    c.stranding(stranded_gpu_quarters)
    codes = ["STATUS_CLAIM", "BOUND_CLAIM", "GAP_CLAIM", "STRANDING_CLAIM"]
    if plan.grid is not None and grid_rows is not None:
        c.loop(*grid_rows)
        codes.append("GRID_LOOP_CLAIM")
    c.timings()
    codes.append("TIMING_CLAIM")
    return codes


class _Claims:
    def __init__(self, scenario: Scenario, plan: Plan, objective_usd: float, add: AddFn):
        self.scenario, self.plan, self.sm, self.add = scenario, plan, plan.summary, add
        self.obj = float(objective_usd)
        # the objective's unit: annualised (single period) or present value (rollout)
        self.unit = "USD" if scenario.rollout is not None else "USD/year"
        self.u = "USD" if scenario.rollout is not None else "USD/yr"
        self.racks = sum(a.racks for a in plan.assignments)

    # ---- status ---------------------------------------------------------------------
    def _proof_gap(self) -> str | None:
        """Why OPTIMAL is not proven within summary.relative_gap, or None when it is."""
        sm = self.sm
        if sm.bound is None:
            return "it reports no bound"
        if not _finite(sm.bound):
            return f"its bound {sm.bound!r} is not a finite number"
        slack = sm.relative_gap * abs(self.obj) + money_tolerance_usd(self.obj, sm.bound)
        if self.obj - sm.bound > slack:
            gap = (self.obj - sm.bound) / abs(self.obj) if self.obj else math.inf
            return (
                f"objective {self.obj:,.2f} and bound {sm.bound:,.2f} {self.u} are {gap:.6%} apart, above the "
                f"gap it claims to be proven within (summary.relative_gap {sm.relative_gap:.6%})"
            )
        return None

    def status(self) -> None:
        sm = self.sm
        if not _finite(sm.relative_gap) or not 0 <= sm.relative_gap <= 1:
            # a Python-built plan can hold anything; with NaN every comparison below would pass
            self.add(
                "STATUS_CLAIM",
                "summary.relative_gap",
                f"summary.relative_gap is {sm.relative_gap!r}: the gap target is a share in [0, 1]",
            )
            return
        for name, value in (("status", sm.status), ("placement_status", sm.placement_status)):
            if value is not None and value not in SOLVED:
                self.add(
                    "STATUS_CLAIM",
                    f"summary.{name}",
                    f"summary.{name} is {value}, but the plan places {self.racks:,} racks: a plan is a placement, "
                    f"its status is {' or '.join(SOLVED)}",
                )
        if sm.status == "OPTIMAL":
            why = self._proof_gap()
            if why is not None:
                self.add(
                    "STATUS_CLAIM",
                    "summary.status",
                    f"summary.status is OPTIMAL, but {why}",
                    measured=sm.bound if _finite(sm.bound) else None,
                    limit=self.obj,
                    unit=self.unit,
                )
            policy_gap = float(self.scenario.policy.solver.relative_gap)
            if sm.relative_gap > policy_gap * (1 + GAP_REL_TOL) + 1e-15:
                self.add(
                    "STATUS_CLAIM",
                    "summary.relative_gap",
                    f"summary.status is OPTIMAL within summary.relative_gap {sm.relative_gap:.6%}, looser than the "
                    f"scenario's policy.solver.relative_gap {policy_gap:.6%}",
                    measured=sm.relative_gap,
                    limit=policy_gap,
                    unit="share",
                )
        if sm.placement_status == "OPTIMAL" and not _finite(sm.bound):
            self.add(
                "STATUS_CLAIM",
                "summary.placement_status",
                "summary.placement_status is OPTIMAL, but the plan reports no finite bound: a placement proven "
                "optimal has one, and the whole objective's bound (it plus what the placement leaves to the grid) "
                "is reported with it",
            )
        elif sm.placement_status == "OPTIMAL" and self.plan.grid is None:
            why = self._proof_gap()
            if why is not None:
                self.add(
                    "STATUS_CLAIM",
                    "summary.placement_status",
                    "summary.placement_status is OPTIMAL and the plan has no grid report, so the placement is the "
                    f"whole objective; but {why}",
                )

    # ---- bound and gap ----------------------------------------------------------------
    def bound(self) -> None:
        b = self.sm.bound
        if b is None:
            return
        if not _finite(b):
            self.add("BOUND_CLAIM", "summary.bound", f"summary.bound is not a finite number ({b!r})")
            return
        if b > self.obj + money_tolerance_usd(self.obj, b):
            self.add(
                "BOUND_CLAIM",
                "summary.bound",
                f"summary.bound {b:,.2f} {self.u} is above the plan's own objective {self.obj:,.2f} {self.u}: "
                "a lower bound of a minimisation cannot exceed a plan's cost",
                measured=b,
                limit=self.obj,
                unit=self.unit,
            )

    def gap(self) -> None:
        sm = self.sm
        g, b = sm.gap, sm.bound
        if g is None:
            if _finite(b) and self.obj != 0:
                self.add(
                    "GAP_CLAIM",
                    "summary.gap",
                    f"summary.bound is {b:,.2f} {self.u} but summary.gap is missing",
                    limit=max(0.0, (self.obj - b) / abs(self.obj)),
                    unit="share",
                )
            return
        if b is None:
            self.add(
                "GAP_CLAIM",
                "summary.gap",
                f"summary.gap is {g!r} but the plan reports no bound to measure it against",
                measured=g if _finite(g) else None,
                unit="share",
            )
            return
        if not _finite(g):
            self.add("GAP_CLAIM", "summary.gap", f"summary.gap is not a finite number ({g!r})", unit="share")
            return
        if g < 0:
            self.add(
                "GAP_CLAIM",
                "summary.gap",
                f"summary.gap is negative ({g!r}): a gap is never below 0",
                measured=g,
                limit=0.0,
                unit="share",
            )
            return
        if not _finite(b):
            return  # BOUND_CLAIM reports it
        if self.obj == 0:
            self.add(
                "GAP_CLAIM",
                "summary.gap",
                f"summary.gap is {g!r} but the objective is 0, where the relative gap is undefined (leave it out)",
                measured=g,
                unit="share",
            )
            return
        expected = max(0.0, (self.obj - b) / abs(self.obj))
        if abs(g - expected) * abs(self.obj) > money_tolerance_usd(self.obj, b):
            self.add(
                "GAP_CLAIM",
                "summary.gap",
                f"summary.gap is {g:.6%}, but objective {self.obj:,.2f} and bound {b:,.2f} {self.u} give "
                f"(objective - bound) / |objective| = {expected:.6%}",
                measured=g,
                limit=expected,
                unit="share",
            )

    # ---- stranding ----------------------------------------------------------------------
    def stranding(self, expected: int | None) -> None:
        got = self.sm.stranded_gpu_quarters
        if got < 0:
            self.add(
                "STRANDING_CLAIM",
                "summary.stranded_gpu_quarters",
                f"summary.stranded_gpu_quarters is {got:,}: GPUs delivered but not live are never negative",
                measured=got,
                limit=0,
                unit="GPU-quarters",
            )
            return
        if self.scenario.rollout is None:
            expected, why = 0, "the scenario is single-period (no rollout): every GPU is live when placed"
        else:
            why = "the sum over the schedule's periods of GPUs delivered but not live"
        if expected is not None and got != expected:
            self.add(
                "STRANDING_CLAIM",
                "summary.stranded_gpu_quarters",
                f"summary.stranded_gpu_quarters is {got:,}, recomputed {expected:,} ({why})",
                measured=got,
                limit=expected,
                unit="GPU-quarters",
            )

    # ---- contingency loop ----------------------------------------------------------------
    def loop(self, monitored: int, outages: int) -> None:
        grid = self.plan.grid
        assert grid is not None  # called only for a plan with a grid report
        total = 0
        for j, it in enumerate(grid.iterations):
            ent = f"grid.iterations[{j}]"
            if it.iteration != j + 1:
                self.add(
                    "GRID_LOOP_CLAIM",
                    ent,
                    f"{ent} is numbered {it.iteration}, expected {j + 1} (iterations are numbered 1, 2, ... in order)",
                    measured=it.iteration,
                    limit=j + 1,
                )
            rows = (it.base_constraints_added, it.contingency_constraints_added)
            if not all(_finite(r) for r in rows) or min(rows) < 0:
                self.add(
                    "GRID_LOOP_CLAIM",
                    ent,
                    f"{ent} adds a negative number of rows ({rows[0]} base, {rows[1]} contingency)",
                    measured=min(rows),
                    limit=0,
                    unit="rows",
                )
            else:
                total += sum(rows)
            w = it.worst_violation_mw
            if not _finite(w) or w < 0:
                self.add(
                    "GRID_LOOP_CLAIM",
                    ent,
                    f"{ent}.worst_violation_mw is {w!r}: a violation is a finite amount over a limit, at least 0 MW",
                    measured=w if _finite(w) else None,
                    limit=0,
                    unit="MW",
                )
        security = self.scenario.policy.grid.security
        possible = monitored * (1 + outages) if security == "n-1" else monitored
        if self.scenario.rollout is not None:  # a rollout's loop has the rows of every quarter's network
            possible *= len(self.scenario.rollout.periods)
        n = grid.constraints_added
        if not _finite(n):
            self.add("GRID_LOOP_CLAIM", "grid.constraints_added", f"grid.constraints_added is {n!r}, not a count")
        elif n < total:
            self.add(
                "GRID_LOOP_CLAIM",
                "grid.constraints_added",
                f"grid.constraints_added is {n:,}, fewer than the {total:,} rows its iterations added",
                measured=n,
                limit=total,
                unit="rows",
            )
        elif n > possible:
            self.add(
                "GRID_LOOP_CLAIM",
                "grid.constraints_added",
                f"grid.constraints_added is {n:,}, more than the {possible:,} distinct rows that exist "
                f"({monitored:,} monitored lines" + (f" x (1 + {outages:,} outages))" if security == "n-1" else ")"),
                measured=n,
                limit=possible,
                unit="rows",
            )

    # ---- timings ----------------------------------------------------------------------------
    def timings(self) -> None:
        sm, grid = self.sm, self.plan.grid
        figures = [("summary.build_seconds", sm.build_seconds), ("summary.solve_seconds", sm.solve_seconds)]
        if grid is not None:
            figures.append(("grid.loop_seconds", grid.loop_seconds))
            figures += [(f"grid.iterations[{j}].seconds", it.seconds) for j, it in enumerate(grid.iterations)]
        bad = False
        for name, s in figures:
            if not _finite(s) or s < 0:
                bad = True
                self.add(
                    "TIMING_CLAIM",
                    name,
                    f"{name} is {s!r}: seconds are finite and never negative",
                    measured=s if _finite(s) else None,
                    limit=0.0,
                    unit="s",
                )
        if grid is None or bad or not grid.iterations:
            return
        spent = math.fsum(it.seconds for it in grid.iterations)
        slack = SECONDS_SLACK * (len(grid.iterations) + 1)
        if spent > grid.loop_seconds + slack:
            self.add(
                "TIMING_CLAIM",
                "grid.loop_seconds",
                f"grid.iterations take {spent:.4f} s in all, more than the whole loop's grid.loop_seconds "
                f"{grid.loop_seconds:.4f} s",
                measured=spent,
                limit=grid.loop_seconds,
                unit="s",
            )


__all__ = ["CLAIM_CODES", "check_claims", "money_tolerance_usd"]
