"""Marginal values of a plan's binding limits: LP duals with the plan's binaries fixed.

Input: a :class:`~solvers.problem.Problem` (single period) and a placement (racks by candidate, as an
engine returns them, or a plan's assignments via :func:`racks_of_plan`). Output: a
:class:`~placer.plan.MarginalValues` for ``plan.marginal_values``.

Method. The placement MILP (:class:`solvers.milp.MilpModel`, built from outside) with every binary
fixed at the plan's value -- ``use[t,s]`` (which tenant is at which site) and ``open[s]`` -- and the
racks relaxed to fractional, solved as an LP by HiGHS through MathOpt under the same grid rows (the
lazy contingency loop: solve, screen with PTDF/LODF, add the rows broken, re-solve). Fixing the racks
too would leave every limit row without a free variable, its dual undefined (any value fits a
degenerate vertex), so the racks stay free; the tenant-site pattern is the integer decision fixed.
The dual of each row is read and mapped back to the planner's words through the formulation's
:class:`~solvers.formulation.Row` (name, entities, sentence): site IT capacity, cooling by medium,
feed (N-1), substation headroom, the band's two sides, generation adequacy, the latency shares.

What a value means: with the sites and tenant-site pairs fixed, one more MW of room at that limit
lowers the annualised cost by ``value_per_unit`` USD per year (a lower limit: one MW less asked).
It is local: the LP objective is piecewise linear in the limit, so the value holds until its basis
changes, and a full MILP re-solve may open another site or re-round racks and save more or less
(:func:`resolve_checks` measures both; ``benchmarks/marginal_check.py`` reports them for korea-2025).

Only limits binding in the plan itself are reported: the plan's slack (its integer racks) within one
rack of the row's largest per-rack coefficient (the LP's fractional racks may fill a limit the whole
racks leave a fraction of a rack short of); other rows with a dual are listed in ``skipped``.

A rollout: the same LP over its whole schedule, the options built fixed too, each quarter's grid
under its own loop (:class:`solvers.grid_periods.PeriodGrid`); its limits are per quarter (site IT,
cooling, feed in that quarter, with the options in force; the band and latency shares of the final
build-out) and their values are USD of NPV per MW of that quarter's limit. A quarter a site is not
yet in service (all its limits 0, tied) is skipped, and so are a rollout's substation headroom rows
(their on-site credits are not recomputed per quarter yet) and its line limits.

Complexity: one LP per contingency-loop round (O(C + T·S) columns, O(C + S + B + rows added) rows), plus
one LP re-solve per checked limit.
"""

from __future__ import annotations

import datetime
import math
import time
from dataclasses import dataclass

import numpy as np
from ortools.math_opt.python import mathopt

from placer.plan import MarginalValue, MarginalValues, Plan, ResolveCheck
from solvers.formulation import MW, Row
from solvers.grid_periods import PeriodGrid
from solvers.grid_security import SecurityLoop, has_grid, redispatch_lower_mw
from solvers.milp import MilpModel
from solvers.problem import Problem, final_scenario

STEP_MW = 10.0  # "what 10 more MW here would save"
SHARE_STEP = 0.01  # a latency share: one percentage point of the tenant's GPUs
PROBE_SHARE = 0.01  # the probe re-solve moves the limit by 1 % of its step (0.1 MW)
DUAL_TOL = 1e-6  # USD per unit: smaller duals are numerical zeros
REPORTED_FAMILIES = (
    "site_it_capacity",
    "liquid_cooling",
    "air_cooling",
    "feed_capacity",
    "substation_headroom",
    "power_band_max",
    "power_band_min",
    "generation_adequacy",
    "latency_share",
    "line_limit",
    "line_limit_n1",
)
LINE_FAMILIES = ("line_limit", "line_limit_n1")
METHOD = (
    "LP duals with the plan's binaries fixed (tenant-site pairs use[t,s] and open sites), racks relaxed to "
    "fractional, under the same grid rows; local: the value of moving the limit with the sites and pairs "
    "fixed, valid while the LP's basis holds"
)


def racks_of_plan(problem: Problem, plan: Plan) -> dict[int, int]:
    """A plan's assignments as racks by candidate index (racks without a candidate are an error). O(A)."""
    index = {
        (problem.tenants[c.t].id, problem.skus[c.k].id, problem.sites[c.s].id): i
        for i, c in enumerate(problem.candidates)
    }
    out: dict[int, int] = {}
    for a in plan.assignments:
        key = (a.tenant, a.sku, a.site)
        if key not in index:
            raise ValueError(f"the plan places {key} where the problem has no candidate")
        out[index[key]] = out.get(index[key], 0) + a.racks
    return out


@dataclass
class FixedLp:
    """The fixed-binary LP of a placement: the model, its grid loop and the rows it reports."""

    mm: MilpModel
    loop: SecurityLoop | None
    rows: dict[str, Row]  # reported families' rows by name
    racks: dict[int, int]  # the plan's placement
    time_limit_s: float
    redispatch_mw: np.ndarray | None = None  # the plan's re-dispatch, GridModel.plant_ids order (line rows)
    periods: PeriodGrid | None = None  # a rollout's per-quarter loops (then ``loop`` is None)
    schedule: dict[tuple[int, int], int] | None = None  # a rollout's plan: live racks per (candidate, quarter)
    options: dict[tuple[int, int], int] | None = None  # and its options built per (option, quarter)

    def add_line_rows(self) -> None:
        """The line-limit rows the LP's loop added (base case and N-1), by name, for their duals."""
        if self.loop is not None:
            for l, j in sorted(self.loop.added):
                row = self.loop.rows.line_limit(l, j)
                self.rows[row.name] = row

    def solve(self) -> mathopt.SolveResult:
        """Solve the LP; with a grid, add the rows its solution breaks and re-solve until clean."""
        for _ in range(50):
            params = mathopt.SolveParameters(time_limit=datetime.timedelta(seconds=self.time_limit_s))
            res = mathopt.solve(self.mm.m, mathopt.SolverType.HIGHS, params=params)
            reason = res.termination.reason
            if reason == mathopt.TerminationReason.INFEASIBLE:
                raise RuntimeError(
                    "with this plan's sites fixed no placement meets every limit (an insecure plan: no "
                    "re-dispatch keeps its lines within their limits)"
                )
            if reason != mathopt.TerminationReason.OPTIMAL:
                raise RuntimeError(f"the fixed-binary LP ended {reason.name} within {self.time_limit_s:g} s")
            values = res.variable_values()
            if self.periods is not None:  # every quarter against its own network, at the LP's racks
                mm = self.mm
                live = {key: values[v] for key, v in mm.y.items()}
                draws = self.periods.draws_mw(live, self.options)
                red_q = np.array(
                    [
                        [values[mm.redispatch_q[(g, q)]] for g in range(len(lq.grid.plant_ids))]
                        for q, lq in enumerate(self.periods.loops)
                    ]
                )
                n_base, n_post, _ = self.periods.screen_and_cut(mm, draws, red_q, self.options)
                if n_base + n_post == 0:
                    return res
                continue
            if self.loop is None:
                return res
            site_mw = np.array([values[v] for v in self.mm.facility])
            red_mw = np.array([values[v] for v in self.mm.redispatch])
            n_base, n_post = self.loop.add_rows(self.mm, self.loop.screen(site_mw, red_mw))
            if n_base + n_post == 0:
                return res
        raise RuntimeError("the fixed-binary LP's contingency loop did not converge in 50 rounds")


def fixed_lp(
    problem: Problem,
    racks: dict[int, int],
    *,
    redispatch_mw: dict[str, float] | None = None,
    schedule: dict[tuple[int, int], int] | None = None,
    options: dict[tuple[int, int], int] | None = None,
    time_limit_s: float = 30.0,
) -> FixedLp:
    """Build the fixed-binary LP of ``racks`` (see the module docstring); ``redispatch_mw``: the plan's
    re-dispatch by plant id (its line flows decide which line limits bind in the plan); a rollout's
    ``schedule`` and ``options`` (built per quarter, fixed too). O(model size)."""
    multi = problem.periods.multi
    if multi and schedule is None:
        raise ValueError("a rollout's marginal values need its schedule")
    mm = MilpModel(problem)
    if problem.replan is not None:
        from solvers.replan_milp import add_moves

        add_moves(mm)
    loop = None
    periods = None
    sc = problem.scenario
    if has_grid(sc) and multi:
        periods = PeriodGrid.build(problem)
        mm.objective_terms += periods.add_to(mm, mm.redispatch_q)
        if sc.policy.grid.security == "none":
            periods = None
    elif has_grid(sc):
        from solvers.dcpf import GridModel

        final = final_scenario(sc)
        grid = GridModel.from_scenario(final)
        pre = grid.preexisting_state()
        loop = SecurityLoop(final, grid, pre, [s.id for s in problem.sites], last=mm.f.last)
        mm.add_grid(grid, redispatch_lower_mw(final, pre), loop)
        if sc.policy.grid.security == "none":
            loop = None  # (line limits not enforced: the LP is not screened either)
    mm.set_objective()
    used = {(problem.candidates[i].t, problem.candidates[i].s) for i, n in racks.items() if n > 0}
    for (t, s), var in mm.use.items():
        var.lower_bound = var.upper_bound = float((t, s) in used)
    for s, var in mm.open.items():
        var.lower_bound = var.upper_bound = float(any(ss == s for _, ss in used))
    for var in mm.m.variables():
        var.integer = False
    # The racks' own bounds come from pruning by the capacities (max_racks): kept, they would bind in
    # place of the limit rows (their value would go to reduced costs, and a moved limit would not move
    # them). With the binaries fixed, the rows alone hold the capacities: a candidate may take up to its
    # demand line at a used pair, none elsewhere; the use links and the capacity-link cuts (copies of
    # the limits once the binaries are fixed) go.
    for key, var in mm.option.items():  # a rollout's power options: as built
        var.lower_bound = var.upper_bound = float((options or {}).get(key, 0))
    for i, c in enumerate(problem.candidates):
        mm.x[i].upper_bound = float(problem.demand_racks[(c.t, c.k)] if (c.t, c.s) in used else 0)
    for (i, _q), var in mm.y.items():
        c = problem.candidates[i]
        if var.upper_bound > 0:  # (0: pinned, e.g. before the tenant's go-live)
            var.upper_bound = float(problem.demand_racks[(c.t, c.k)] if (c.t, c.s) in used else 0)
    for ct in list(mm.m.linear_constraints()):
        if ct.name.split("[", 1)[0] in ("use_link", "open_capacity", "use_capacity"):
            mm.m.delete_linear_constraint(ct)
    f = mm.f
    rows: dict[str, Row] = {}
    for q in range(problem.periods.count):  # a rollout's limits quarter by quarter
        for s in range(len(problem.sites)):
            for row in f.site_limits(s, q):
                rows[row.name] = row
        if not multi:  # (a rollout's substation rows carry on-site credits: not reported per quarter yet)
            for row in f.substation_limits(q):
                rows[row.name] = row
    for row in (*f.power(), *f.tenant_rules()):
        if row.family in REPORTED_FAMILIES:
            rows[row.name] = row
    red = None
    if loop is not None:
        red = np.array([(redispatch_mw or {}).get(pid, 0.0) for pid in loop.grid.plant_ids])
    return FixedLp(mm, loop, rows, racks, time_limit_s, red, periods, schedule, options)


def _plan_value(lp: FixedLp, row: Row) -> tuple[float, float]:
    """(the plan's value of the row's expression, its largest per-rack coefficient); for a line row,
    (the plan's |flow|, the largest flow one rack moves). O(terms)."""
    if row.family in LINE_FAMILIES:
        p = lp.mm.p
        site_mw = np.zeros(len(p.sites))
        for i, n in lp.racks.items():
            site_mw[p.candidates[i].s] += n * p.facility_mw(p.candidates[i].k, p.candidates[i].s)
        red = lp.redispatch_mw if lp.redispatch_mw is not None else np.zeros(0)
        expr = sum(c * (site_mw[ref.key[0]] if ref.kind == "facility" else red[ref.key[0]]) for c, ref in row.terms)
        const = -(row.lo + row.hi) / 2  # type: ignore[operator]
        rack = max((p.facility_mw(c.k, c.s) for c in p.candidates), default=0.0)
        coef = max((abs(c) for c, ref in row.terms if ref.kind == "facility"), default=0.0)
        return abs(expr + const), coef * rack
    terms = lp.mm.f.expand(row.terms)
    live = lp.schedule
    if live is not None:  # a rollout: the plan's live racks in the row's quarter
        value = math.fsum(c * live.get((ref.key[0], ref.key[1]), 0) for c, ref in terms if ref.kind == "y")
    else:
        value = math.fsum(c * lp.racks.get(ref.key[0], 0) for c, ref in terms if ref.kind == "y")
    one_rack = max((abs(c) for c, ref in terms if ref.kind == "y"), default=0.0)
    return value, one_rack


def _option_mw(lp: FixedLp, row: Row) -> float:
    """The MW the plan's power options add to a row's limit in its quarter (its ``-mw * option`` terms)."""
    built = lp.options or {}
    return math.fsum(-c * built.get((ref.key[0], ref.key[1]), 0) for c, ref in row.terms if ref.kind == "option")


def _limit_entry(problem: Problem, lp: FixedLp, row: Row, dual: float) -> tuple[MarginalValue | None, str]:
    line = row.family in LINE_FAMILIES
    upper = row.hi is not None
    value, one_rack = _plan_value(lp, row)
    if line:  # |flow| <= limit, a ranged row: the dual's sign says which side binds
        limit = (row.hi - row.lo) / 2  # type: ignore[operator]
        saving = abs(dual)
    else:
        limit = float(row.hi if upper else row.lo) + _option_mw(lp, row)  # type: ignore[arg-type]
        saving = -dual if upper else dual  # MathOpt: d(objective)/d(bound) = dual
    slack = limit - value if upper else value - limit
    if row.unit == MW and limit == 0.0 and lp.schedule is not None:
        return None, f"{row.name}: not in service in that quarter (its limits are all 0 there: tied)"
    if slack > one_rack + 1e-6 * max(1.0, abs(limit)):
        return (
            None,
            f"{row.name}: dual {dual:,.2f} at the LP's fractional racks, but the plan leaves {slack:,.3f} of room",
        )
    if row.unit == MW:
        unit, step = "MW", STEP_MW
        words = f"{step:g} more MW" if upper else f"{step:g} MW less"
    else:
        tenant = next(t for t in problem.tenants if t.id == row.entities[0])
        unit, step = "GPUs", float(math.ceil(SHARE_STEP * tenant.total_gpus))
        words = f"a {SHARE_STEP:.0%} lower share ({step:,.0f} GPUs)"
    npv = lp.schedule is not None  # a rollout's objective: its NPV, USD
    text = (
        f"{row.sentence}: {words} here would save ${saving * step / 1e6:,.2f}M{' of NPV' if npv else '/yr'} "
        f"(${saving:,.0f} per {unit[:-1] if unit == 'GPUs' else unit}{'' if npv else ' per year'}; local, sites fixed)"
    )
    return (
        MarginalValue(
            limit=row.name,
            family=row.family,
            entities=list(row.entities),
            sentence=row.sentence,
            sense="upper" if upper else "lower",
            unit=unit,
            limit_value=limit,
            plan_value=value,
            value_per_unit=saving,
            step=step,
            saving_per_step=saving * step,
            text=text,
        ),
        "",
    )


def marginal_values(
    problem: Problem,
    racks: dict[int, int],
    *,
    redispatch_mw: dict[str, float] | None = None,
    schedule: dict[tuple[int, int], int] | None = None,
    options: dict[tuple[int, int], int] | None = None,
    checks: int = 20,
    time_limit_s: float = 30.0,
) -> MarginalValues:
    """The marginal values of ``racks``'s binding limits, largest saving first, with ``checks`` of them
    re-solved with the limit moved (:func:`resolve_checks`: the first ``checks``, two LPs each). ``redispatch_mw``: the plan's re-dispatch
    by plant (for its line flows). O(LP solves)."""
    lp = fixed_lp(
        problem, racks, redispatch_mw=redispatch_mw, schedule=schedule, options=options, time_limit_s=time_limit_s
    )
    res = lp.solve()
    lp.add_line_rows()
    _, constants = lp.mm.f.objective()  # (a rollout's NPV has constants: the idle charge of every GPU delivered)
    duals = res.dual_values()
    limits: list[MarginalValue] = []
    skipped: list[str] = []
    for ct, dual in duals.items():
        row = lp.rows.get(ct.name)
        if row is None or abs(dual) <= DUAL_TOL:
            continue
        entry, why = _limit_entry(problem, lp, row, float(dual))
        if entry is None:
            skipped.append(why)
        elif entry.value_per_unit > DUAL_TOL:
            limits.append(entry)
    limits.sort(key=lambda v: (-v.saving_per_step, v.limit))
    base = float(res.objective_value())
    offset = sum(constants)
    found = resolve_checks(lp, base, limits[:checks], budget_s=time_limit_s / 2)
    for v, c in zip(limits, found):
        if not c.agrees:  # the dual is one subgradient of a kink: more room saves what the probe measured
            v.text += (
                f"; the re-solve with {c.probe_step:g} {v.unit} more saves ${c.probe_lp_saving / c.probe_step:,.0f} "
                f"per {v.unit[:-1] if v.unit == 'GPUs' else v.unit} (a tied limit holds too)"
            )
    out = MarginalValues(
        method=METHOD,
        objective_unit="usd" if lp.schedule is not None else "usd_per_year",
        value_unit="USD (NPV) per MW of the limit in its quarter (per GPU for a latency share)"
        if lp.schedule is not None
        else "USD per year per MW (per GPU for a latency share; per MW of rating for a line)",
        lp_objective=base + offset,
        limits=limits,
        checks=found,
        skipped=sorted(skipped),
    )
    return out


def lp_objective_with(lp: FixedLp, limit: str, delta: float) -> float:
    """The fixed-binary LP's optimum with row ``limit``'s bound moved by ``delta`` (its upper side up or its
    lower side down by ``delta``: more room); the bound is restored after. O(one LP loop)."""
    ct = next(c for c in lp.mm.m.linear_constraints() if c.name == limit)
    lo, hi = ct.lower_bound, ct.upper_bound
    row = lp.rows[limit]
    try:
        if row.hi is not None:
            ct.upper_bound = hi + delta
        if row.lo is not None and (row.hi is None or row.family in LINE_FAMILIES):
            ct.lower_bound = lo - delta  # (a line's limit bounds |flow|: both sides move)
        return float(lp.solve().objective_value())
    finally:
        ct.lower_bound, ct.upper_bound = lo, hi


def agrees(predicted: float, measured: float) -> bool:
    """Within 1 % of the prediction, or 1 USD: the LP's own arithmetic, while its basis holds."""
    return abs(predicted - measured) <= max(1.0, 0.01 * abs(predicted))


def resolve_checks(
    lp: FixedLp, base: float, limits: list[MarginalValue], *, budget_s: float = math.inf
) -> list[ResolveCheck]:
    """Each limit's prediction against the fixed-binary LP re-solved with the limit moved by a probe
    (1 % of its step: checks the dual) and by its whole step (what the step saves, sites fixed), in
    order until ``budget_s`` is spent. O(two LP loops per limit)."""
    out = []
    until = time.perf_counter() + budget_s
    for v in limits:
        if time.perf_counter() > until:
            break
        probe = PROBE_SHARE * v.step
        saving = base - lp_objective_with(lp, v.limit, v.step)
        probe_saving = base - lp_objective_with(lp, v.limit, probe)
        out.append(
            ResolveCheck(
                limit=v.limit,
                step=v.step,
                predicted_saving=v.saving_per_step,
                lp_saving=saving,
                linear_over_step=agrees(v.saving_per_step, saving),
                probe_step=probe,
                probe_predicted_saving=v.value_per_unit * probe,
                probe_lp_saving=probe_saving,
                agrees=agrees(v.value_per_unit * probe, probe_saving),
            )
        )
    return out
