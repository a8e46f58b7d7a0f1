"""What each built power option is worth: the plan re-evaluated with that option removed.

Method (``same_placement_without_it``): for each option the plan builds, not forced, keep the
plan's final placement and its other options at their quarters, drop this option (and any built
option that requires it), and re-optimise the schedule alone with CP-SAT (a short time limit; the
placement and options fixed, so only the cumulative live racks y[i, q] move). The worth is the
difference in NPV (USD) and stranded GPU-quarters between that re-schedule and the baseline: the
same placement with all its options, re-scheduled the same way (or the plan's own schedule, if
better), so both sides are optimised alike. It is
"against the same placement without it", not a global optimum: another placement might do better
without the option, so the figure is what the option is worth to *this* plan. When the re-schedule
is not OPTIMAL its NPV is an incumbent, so the saving may be overstated; the status says which.
INFEASIBLE means this placement cannot be scheduled without it at all (its final capacity, or a
go-live deadline, needs it): the option is needed, and ranked first.

Input: the problem, the engine's final racks and schedule, the options built (option -> first
period), the plan's NPV report and each quarter's re-dispatch (USD per year), held at the plan's
in the comparisons. The re-schedule is CP-SAT's, which does not model line flows: the final
placement and so the final quarter's grid load are unchanged, but an earlier quarter's schedule
without the option is not screened against that quarter's lines, and its re-dispatch is priced as
the plan's (a re-dispatch LP per quarter and option would price the difference; not done). Output: one
:class:`placer.plan.OptionWorth` per built option and the ranked :class:`placer.plan.BuildFirst` list.

Complexity: one CP-SAT solve of the schedule per built option and one for the baseline, each capped at ``time_limit_s``.
"""

from __future__ import annotations

from collections.abc import Sequence

from placer.plan import BuildFirst, Investment, NpvReport, OptionWorth
from solvers.problem import Problem

# Per re-schedule, at most this share of the solve's time limit and at most MAX_S seconds.
SHARE_OF_TIME_LIMIT = 0.1
# The statuses that say something about the option: a re-schedule (OPTIMAL, FEASIBLE) or a proof that
# the placement needs it (INFEASIBLE); UNKNOWN (no schedule within the limit) ranks nothing.
RANKED = ("OPTIMAL", "FEASIBLE", "INFEASIBLE")
MAX_S = 5.0


def worth_time_limit_s(problem: Problem) -> float:
    """The time limit of one re-schedule: a tenth of the solve's, at most 5 s, at least 0.5 s. O(1)."""
    return max(0.5, min(MAX_S, SHARE_OF_TIME_LIMIT * float(problem.scenario.policy.solver.time_limit_s)))


def dependants(problem: Problem, o: int, built: dict[int, int]) -> set[int]:
    """Option o and every built option that requires it, directly or through others. O(O²)."""
    out = {o}
    grew = True
    while grew:
        grew = False
        for b in built:
            if b not in out and any(r in out for r in problem.options[b].requires):
                out.add(b)
                grew = True
    return out


def reschedule(
    problem: Problem, racks: dict[int, int], built: dict[int, int], time_limit_s: float
) -> tuple[str, dict[tuple[int, int], int] | None]:
    """CP-SAT on the schedule alone: final racks fixed to ``racks``, options fixed to ``built``.
    Returns (status, schedule or None). Hinted with the forward schedule under those options."""
    from ortools.sat.python import cp_model

    from solvers.cpsat import STATUS, PlacementModel, _parameters
    from solvers.options import with_options
    from solvers.schedule import forward_schedule

    pm = PlacementModel(problem)
    m, v = pm.model, pm.v
    for i, x in v.x.items():
        m.add(x == racks.get(i, 0))
    for (o, q), b in v.option.items():
        m.add(b == int(o in built and q >= built[o]))
    pm.hint(racks, forward_schedule(with_options(problem, built, onsite_credit=True), racks), built)
    opts = problem.scenario.policy.solver.with_overrides(time_limit_s=time_limit_s)
    solver = _parameters(opts)
    status = solver.solve(m)
    name = STATUS.get(status, "UNKNOWN")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return name, None
    return name, {key: int(solver.value(y)) for key, y in v.y.items()}


def option_worth(
    problem: Problem,
    racks: dict[int, int],
    built: dict[int, int],
    npv: NpvReport,
    stranded: int,
    redispatch_usd_per_year: Sequence[float],
) -> dict[int, OptionWorth]:
    """Option index -> its worth, for every built option that is not forced (see the module docstring)."""
    from solvers.npv import npv_report
    from solvers.schedule import stranded_gpu_quarters

    limit = worth_time_limit_s(problem)
    # The baseline: the same placement with all its options, re-scheduled like the comparisons, unless
    # the plan's own schedule is better (a re-schedule stopped by its time limit). Without it the
    # "without" side would get an optimisation the plan's side did not, and a saving could turn negative
    # only because the plan's schedule was not optimal.
    with_npv, with_stranded = npv.total_usd, stranded
    _, base = reschedule(problem, racks, built, limit)
    if base is not None:
        again = npv_report(problem, base, redispatch_usd_per_year, built).total_usd
        if again < with_npv:
            with_npv, with_stranded = again, stranded_gpu_quarters(problem, base)
    out: dict[int, OptionWorth] = {}
    for o in sorted(built):
        if problem.options[o].forced:
            continue  # a fixed upgrade: not a decision, nothing to compare against
        drop = dependants(problem, o, built)
        keep = {b: q for b, q in built.items() if b not in drop}
        status, sched = reschedule(problem, racks, keep, limit)
        names = sorted(problem.options[b].id for b in drop)
        if sched is None:
            out[o] = OptionWorth(
                without=names, status=status, npv_with_usd=with_npv, stranded_gpu_quarters_with=with_stranded
            )
            continue
        without = npv_report(problem, sched, redispatch_usd_per_year, keep).total_usd
        lost = stranded_gpu_quarters(problem, sched)
        out[o] = OptionWorth(
            without=names,
            status=status,
            npv_with_usd=with_npv,
            stranded_gpu_quarters_with=with_stranded,
            npv_without_usd=without,
            npv_saved_usd=without - with_npv,
            stranded_gpu_quarters_without=lost,
            stranded_gpu_quarters_saved=lost - with_stranded,
        )
    return out


def _money(usd: float) -> str:
    return f"${usd / 1e6:,.1f}M" if abs(usd) >= 1e5 else f"${usd:,.0f}"


def build_first(investments: list[Investment]) -> list[BuildFirst]:
    """The ranked list: options the placement needs (INFEASIBLE without them) first, in quarter order,
    then by NPV saved, largest first (ties by quarter, then id). Options without a worth (forced, or
    not evaluated) or whose re-schedule ended UNKNOWN are left out. O(I log I)."""
    rated = [inv for inv in investments if inv.worth is not None and inv.worth.status in RANKED]

    def key(inv: Investment) -> tuple:
        w = inv.worth
        assert w is not None
        needed = w.npv_saved_usd is None
        return (0 if needed else 1, 0.0 if needed else -(w.npv_saved_usd or 0.0), inv.period, inv.option)

    out = []
    for rank, inv in enumerate(sorted(rated, key=key), start=1):
        w = inv.worth
        assert w is not None
        head = f"Build {inv.option} by {inv.period} ({_money(inv.capex_usd)})"
        if w.npv_saved_usd is None:
            text = f"{head}: this placement cannot be scheduled without it"
        else:
            gq = w.stranded_gpu_quarters_saved or 0
            quarters = f"saves {gq:,} GPU-quarters" if gq >= 0 else f"adds {-gq:,} GPU-quarters"
            money = _money(abs(w.npv_saved_usd))
            text = (
                f"{head}: {quarters} and {money} NPV"
                if w.npv_saved_usd >= 0
                else f"{head}: {quarters} but costs {money} NPV"
            )
            if w.npv_saved_usd < 0:
                text += "; on this placement it does not pay for itself"
            if w.status != "OPTIMAL":
                text += f" (re-schedule {w.status}: the saving may be overstated)"
        out.append(
            BuildFirst(
                rank=rank,
                option=inv.option,
                period=inv.period,
                capex_usd=inv.capex_usd,
                npv_saved_usd=w.npv_saved_usd,
                stranded_gpu_quarters_saved=w.stranded_gpu_quarters_saved,
                text=text,
            )
        )
    return out
