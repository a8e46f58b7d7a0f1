"""A rollout's grid limits in every period: one no-harm loop per period, over that period's network.

Input: a rollout :class:`~solvers.problem.Problem` whose topology has lines. Output: per period a
:class:`~solvers.grid_security.SecurityLoop` over that period's network (the line ratings and feeds
its fixed upgrades give then, :func:`solvers.problem.period_scenario`; its own pre-existing
dispatch) and its load (the racks live then, less the on-site or contracted supply built then);
the MILP's per-period re-dispatch, raised-output and balance rows; the screen of an incumbent
over every period (the lazy loop, period by period: only violated rows are added, each to its own
period); the LP repair of a placement; and one :class:`~placer.plan.GridReport` per period.

Money: period q's re-dispatch (USD per year of raised output, as in a single period) is charged
for that quarter, discounted: ``quarter_years x discount[q]`` (the NPV's unit).

Complexity: one DC model and pre-existing OPF per distinct network (periods that share their line
ratings and feeds share them), one screen per period and loop iteration: O(P (L B + L K)).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from placer.contract import HOURS_PER_YEAR
from placer.plan import GridReport, LoopIteration
from placer.scenario import Scenario
from solvers.dcpf import GridModel
from solvers.formulation import Ref
from solvers.grid_security import (
    RowTarget,
    SecurityLoop,
    add_raise_cost,
    least_cost_redispatch,
    merit_order,
    parsimonious_redispatch,
    redispatch_cost_usd_per_year,
    redispatch_lower_mw,
)
from solvers.problem import Problem, period_scenario


def _network_key(scenario: Scenario) -> tuple:
    """What makes two periods' DC models differ: line ratings and feed capacities (the site-to-bus shares)."""
    edges = scenario.topology.edges
    return tuple(
        (
            e.kind,
            getattr(e, "rating_mw", None),
            getattr(e, "emergency_rating_mw", None),
            getattr(e, "capacity_mw", None),
        )
        for e in edges
        if e.kind in ("line", "feed")
    )


@dataclass
class PeriodGrid:
    """The per-period no-harm loops of one rollout; ``iterations`` records the loop as a whole."""

    problem: Problem
    loops: list[SecurityLoop]
    lower_mw: list[np.ndarray]
    iterations: list[LoopIteration] = field(default_factory=list)

    @classmethod
    def build(cls, problem: Problem) -> PeriodGrid:
        sc, per = problem.scenario, problem.periods
        site_ids = [s.id for s in problem.sites]
        cache: dict[tuple, tuple] = {}
        loops, lowers = [], []
        for q in range(per.count):
            scq = period_scenario(sc, q)
            key = _network_key(scq)
            if key not in cache:
                grid = GridModel.from_scenario(scq)
                cache[key] = (scq, grid, grid.preexisting_state())
            scq, grid, pre = cache[key]
            supply = tuple(
                (o.site, o.generation_mw, Ref("option", (j, q)))
                for j, o in enumerate(problem.options)
                if o.onsite and o.site is not None and o.generation_mw > 0 and o.serves(q)
            )
            uprates = tuple(
                (grid.line_index[o.line], o.rating_mw, o.emergency_mw, Ref("option", (j, q)))
                for j, o in enumerate(problem.options)
                if o.line is not None and o.serves(q)
            )
            plant_of = {pid: g for g, pid in enumerate(grid.plant_ids)}
            contracts = tuple(
                (plant_of[o.plant], o.generation_mw, Ref("option", (j, q)))
                for j, o in enumerate(problem.options)
                if o.plant is not None and o.plant in plant_of and o.serves(q)
            )
            loops.append(
                SecurityLoop(
                    scq,
                    grid,
                    pre,
                    site_ids,
                    last=q,
                    period=q,
                    period_id=per.ids[q],
                    supply=supply,
                    uprates=uprates,
                    contracts=contracts,
                )
            )
            lowers.append(redispatch_lower_mw(scq, pre))
        return cls(problem, loops, lowers)

    # ------------------------------------------------------------------ money
    def money(self, q: int) -> float:
        """What one USD per year of period q's re-dispatch weighs in the NPV: one quarter, discounted."""
        per = self.problem.periods
        return per.quarter_years * per.discount[q]

    def cost_usd_per_year(self, q: int, redispatch_mw: np.ndarray) -> float:
        loop = self.loops[q]
        return redispatch_cost_usd_per_year(loop.scenario, loop.grid.cost_usd_per_mwh, redispatch_mw)

    def npv_usd(self, redispatch_mw: np.ndarray) -> float:
        """The re-dispatch's present value over the rollout, USD (``redispatch_mw``: periods x plants)."""
        return sum(self.money(q) * self.cost_usd_per_year(q, redispatch_mw[q]) for q in range(len(self.loops)))

    # ------------------------------------------------------------------ model
    def add_to(self, target: RowTarget, redispatch: dict[tuple[int, int], object]) -> list:
        """Re-dispatch variables per (plant, period) into ``redispatch``, their raised-output rows and
        balance rows into ``target``. Returns the objective's (USD, variable) terms."""
        sc = self.problem.scenario
        hours = HOURS_PER_YEAR * sc.policy.cost.utilization * sc.policy.grid.redispatch_weight
        terms: list = []
        for q, loop in enumerate(self.loops):
            g = loop.grid
            for i, pid in enumerate(g.plant_ids):
                redispatch[(i, q)] = target.m.add_variable(
                    lb=float(self.lower_mw[q][i]), ub=float(g.spare_mw[i]), name=f"redispatch[{pid},{loop.period_id}]"
                )
            terms += add_raise_cost(target, loop.rows, hours * self.money(q) * g.cost_usd_per_mwh)
            loop.add_balance(target)
            for row in loop.rows.contracted_spare(loop.contracts):
                target.add_row(row)
        return terms

    # ------------------------------------------------------------------ incumbents
    def draws_mw(
        self, schedule: Mapping[tuple[int, int], float], options: Mapping[tuple[int, int], int] | None
    ) -> np.ndarray:
        """Each period's grid draw per site (periods x sites): the live racks' facility MW less the
        on-site supply built and in force. O(P (C + O))."""
        p = self.problem
        out = np.zeros((len(self.loops), len(p.sites)))
        for (i, q), n in schedule.items():
            c = p.candidates[i]
            out[q, c.s] += n * p.facility_mw(c.k, c.s)
        for q, loop in enumerate(self.loops):
            for s, mw, ref in loop.supply:
                if options and options.get(ref.key, 0):
                    out[q, s] -= mw
        return np.maximum(out, 0.0)  # (option_absorbed: the load absorbs the supply; clip rounding)

    def lifted(self, q: int, options: Mapping[tuple[int, int], int] | None) -> frozenset[int]:
        """The line reinforcements (period q's loop's uprate indices) built and in service in q."""
        loop = self.loops[q]
        return frozenset(u for u, (*_, ref) in enumerate(loop.uprates) if options and options.get(ref.key, 0))

    def spare(self, q: int, options: Mapping[tuple[int, int], int] | None) -> np.ndarray:
        """Period q's spare per plant, less the direct supply contracts built and in service then."""
        loop = self.loops[q]
        built = frozenset(c for c, (*_, ref) in enumerate(loop.contracts) if options and options.get(ref.key, 0))
        return loop.spare_for(built)

    def screen_and_cut(
        self,
        target: RowTarget,
        draws_mw: np.ndarray,
        redispatch_mw: np.ndarray,
        options: Mapping[tuple[int, int], int] | None,
    ) -> tuple[int, int, float]:
        """Screen every period (with the reinforcements ``options`` build); add each period's violated
        rows to ``target``. Returns (base rows, contingency rows, worst violation MW) over all periods."""
        n_base = n_post = 0
        worst = 0.0
        for q, loop in enumerate(self.loops):
            scr = loop.screen(draws_mw[q], redispatch_mw[q], self.lifted(q, options))
            b, c = loop.add_rows(target, scr)
            n_base, n_post, worst = n_base + b, n_post + c, max(worst, scr.worst_violation_mw)
        return n_base, n_post, worst

    def violations(
        self, draws_mw: np.ndarray, redispatch_mw: np.ndarray, options: Mapping[tuple[int, int], int] | None
    ) -> int:
        total = 0
        for q, loop in enumerate(self.loops):
            scr = loop.screen(draws_mw[q], redispatch_mw[q], self.lifted(q, options))
            total += len(scr.base_violations) + len(scr.post_violations)
        return total

    def repair(
        self, draws_mw: np.ndarray, options: Mapping[tuple[int, int], int] | None, *, time_limit_s: float
    ) -> np.ndarray | None:
        """A least-cost secure re-dispatch for every period (an LP each, under its loop's rows and its
        own lazy screen), or None when some period has none in time."""
        out = []
        for q in range(len(self.loops)):
            red = self._least_cost(q, draws_mw[q], options, time_limit_s, record=False)
            if red is None:
                return None
            out.append(red)
        return np.array(out)

    def record(
        self, draws_mw: np.ndarray, options: Mapping[tuple[int, int], int] | None, *, time_limit_s: float
    ) -> np.ndarray:
        """For a placement chosen without line limits (CP-SAT, greedy): each period's least-cost
        re-dispatch under its own lazy loop (rows and iterations recorded), else the merit order."""
        out = []
        for q, loop in enumerate(self.loops):
            red = self._least_cost(q, draws_mw[q], options, time_limit_s, record=True)
            out.append(merit_order(loop.grid, loop, draws_mw[q], self.spare(q, options)) if red is None else red)
        return np.array(out)

    def _least_cost(
        self,
        q: int,
        draw_mw: np.ndarray,
        options: Mapping[tuple[int, int], int] | None,
        time_limit_s: float,
        *,
        record: bool,
    ) -> np.ndarray | None:
        """Period q's least-cost secure re-dispatch with the options built (reinforcements, contracts),
        its share of ``time_limit_s``."""
        return least_cost_redispatch(
            self.loops[q],
            draw_mw,
            self.lower_mw[q],
            time_limit_s=time_limit_s / len(self.loops),
            record=record,
            lifted=self.lifted(q, options),
            spare_mw=self.spare(q, options),
        )

    def reports(
        self,
        draws_mw: np.ndarray,
        redispatch_mw: np.ndarray,
        options: Mapping[tuple[int, int], int] | None,
        *,
        enforced: bool,
        loop_seconds: float,
        time_limit_s: float,
    ) -> tuple[list[GridReport], np.ndarray]:
        """Per period the parsimonious re-dispatch (no dearer, fewest MW moved; kept only when it is
        secure or the period was not) and its report, with the reinforcements ``options`` build. The
        whole loop's iterations go with the last period's report (the final build-out's,
        ``plan.grid``). Returns (reports, re-dispatch used)."""
        reports, used = [], []
        for q, loop in enumerate(self.loops):
            lifted, spare = self.lifted(q, options), self.spare(q, options)
            red = np.asarray(redispatch_mw[q], float)
            scr = loop.screen(draws_mw[q], red, lifted)
            insecure = bool(scr.base_violations or scr.post_violations)
            lean = parsimonious_redispatch(
                loop,
                draws_mw[q],
                red,
                self.lower_mw[q],
                time_limit_s=max(1.0, time_limit_s / len(self.loops)),
                lifted=lifted,
                spare_mw=spare,
            )
            rep = loop.report(draws_mw[q], lean, enforced=enforced, loop_seconds=0.0, lifted=lifted, spare_mw=spare)
            if rep.n_minus_1 == "secure" or insecure:
                red = lean
            else:
                rep = loop.report(draws_mw[q], red, enforced=enforced, loop_seconds=0.0, lifted=lifted, spare_mw=spare)
            reports.append(rep)
            used.append(red)
        last = reports[-1]
        reports[-1] = last.model_copy(
            update={
                "iterations": self.iterations,
                "constraints_added": sum(len(loop.added) for loop in self.loops),
                "loop_seconds": round(loop_seconds, 4),
            }
        )
        return reports, np.array(used)

    def binding_names(self, limit: int = 10) -> list[str]:
        """The rows the loop added, in the planner's words (for an infeasibility report)."""
        names = []
        for loop in self.loops:
            for l, j in sorted(loop.added):
                line = loop.grid.line_ids[l]
                where = "in the base case" if j < 0 else f"after losing line {loop.grid.line_ids[loop.outages[j]]}"
                names.append(f"line {line} {where} in {loop.period_id}")
                if len(names) >= limit:
                    return names
        return names
