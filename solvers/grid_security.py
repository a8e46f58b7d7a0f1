"""Grid security for the new load: lazy base-case and N-1 line constraints on a MathOpt model.

Input: a scenario with lines, a MathOpt model that holds one continuous variable per site
(facility MW) and per plant (re-dispatch MW). Output: the balance constraints, the flow
constraints the loop found violated, and the :class:`~placer.plan.GridReport`.

The no-harm rule (issue 3): with pre-existing flows f0 (least-cost DC OPF of the
existing load) and the plan's flows f = f0 + PTDF·ΔP,

* base case: |f_l| <= max(rating_l, |f0_l|);
* after losing line k (not a bridge): |f_l + LODF[l,k] f_k| <= max(emergency_l, |f0_l + LODF[l,k] f0_k|).

The rows themselves are :class:`~solvers.formulation.Row` objects of :mod:`solvers.formulation_grid`;
this module decides which to add and translates them into its LPs (:class:`LpRows`).
:meth:`SecurityLoop.reachable_rows` screens out, by a valid bound, the rows no placement within
the variables' bounds can break (the up-front yardstick's row set).

Rather than adding all L + L·K rows up front, :class:`SecurityLoop` screens a solution
with PTDF/LODF (one dense product) and adds only the rows it violates (per line, the
ROWS_PER_LINE most violated outages per round); the caller re-solves until the screen is
clean. Each row is a dense combination of PTDF rows, restricted to the plants and sites
that can move the flow: O(G + S) non-zeros. f0 includes the phase shifters' flows, so the
rows need no shift term of their own (see :mod:`solvers.dcpf`).

Re-dispatch for a fixed placement: :func:`least_cost_redispatch` (an LP under the same lazy
loop; the grid-blind engines' re-dispatch, and the MILP's secure fallback while its loop
runs), then :func:`parsimonious_redispatch` (among re-dispatches no dearer than that, one
moving the fewest MW). Cost rule: :func:`redispatch_cost_usd_per_year` charges only raised
output, redispatch_weight x utilization x 8760 x sum_g cost_g x max(Delta_g, 0).

Complexity per screen: O(L·B) for flows, O(L·K) for the post-outage matrix.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from ortools.math_opt.python import mathopt

from placer.contract import HOURS_PER_YEAR, plant_cost_usd_per_mwh
from placer.plan import ContingencyLoading, GridReport, LineFlow, LoopIteration, PreexistingGrid, Redispatch
from placer.scenario import Scenario
from solvers.dcpf import GridModel, PreexistingState
from solvers.formulation import Ref, Row
from solvers.formulation_grid import GridRows

TOL_MW = 1e-6
WORST_REPORTED = 10
ROWS_PER_LINE = 3  # post-outage rows added per monitored line and loop iteration (the most violated)
# The parsimony LP may spend this much (relative) more than the least cost: HiGHS's own primal
# feasibility tolerance, not a trade of money for fewer MW moved.
PARSIMONY_COST_TOL = 1e-9


def has_grid(scenario: Scenario) -> bool:
    return bool(scenario.topology.edges_of_kind("line"))


@dataclass
class Screen:
    """Flows of one candidate solution and the no-harm rows it breaks."""

    flows_mw: np.ndarray  # base case, per line
    post_mw: np.ndarray  # lines x screened outages
    base_violations: list[int]  # line indices
    post_violations: list[tuple[int, int]]  # (line, outage column)
    worst_violation_mw: float
    lifted: frozenset[int] = frozenset()  # the reinforcements built when it was screened


@dataclass
class SecurityLoop:
    scenario: Scenario
    grid: GridModel
    pre: PreexistingState
    site_ids: list[str]
    last: int = 0  # period index of the facility variables the rows name (the final build-out)
    period: int | None = None  # a rollout's period (re-dispatch per period); None: one period
    period_id: str = ""
    supply: tuple = ()  # (site, MW, option ref) of on-site supply in force then (see GridRows)
    uprates: tuple = ()  # (line index, rating MW, emergency MW, option ref) of line reinforcements in force then
    iterations: list[LoopIteration] = field(default_factory=list)
    added: set[tuple[int, int]] = field(default_factory=set)  # (line, outage column or -1)
    _post_cut: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        g, pol = self.grid, self.scenario.policy.grid
        self.security = pol.security
        self.ptdf = g.ptdf()
        self.outages = g.non_bridge_outages() if self.security == "n-1" else np.zeros(0, dtype=np.int64)
        self.lodf_cols = g.lodf()[:, self.outages] if self.outages.size else np.zeros((g.n_line, 0))
        f0 = self.pre.flows_mw
        self.pre_post = f0[:, None] + self.lodf_cols * f0[self.outages][None, :]
        self.base_limit = np.maximum(g.rating_mw, np.abs(f0))
        self.post_limit = np.maximum(g.emergency_mw[:, None], np.abs(self.pre_post))
        # a line is not monitored against its own outage
        for j, k in enumerate(self.outages):
            self.post_limit[k, j] = np.inf
        self.monitored = g.monitored(min_kv=pol.monitor_min_kv)
        if pol.monitor_min_loading is not None:
            worst = np.abs(f0) / g.rating_mw
            if self.outages.size:
                post = np.abs(self.pre_post) / g.emergency_mw[:, None]
                post[self.outages, np.arange(self.outages.size)] = 0.0
                worst = np.maximum(worst, post.max(axis=1))
            self.monitored &= worst >= pol.monitor_min_loading
        # site -> bus shares, as a dense S x B matrix (S is small)
        self.share = np.zeros((len(self.site_ids), g.n_bus))
        for s, sid in enumerate(self.site_ids):
            for b, sh in g.site_feeds.get(sid, []):
                self.share[s, b] += sh
        # each reinforcement u: how much it raises line l's base limit and each post-outage limit once built
        self.lift_base: list[float] = []
        self.lift_post: list[np.ndarray] = []
        for l, rating, emergency, _ref in self.uprates:
            self.lift_base.append(max(0.0, max(float(g.rating_mw[l]), rating, abs(f0[l])) - self.base_limit[l]))
            finite = np.isfinite(self.post_limit[l])
            post = np.maximum(max(float(g.emergency_mw[l]), emergency), np.abs(self.pre_post[l]))
            self.lift_post.append(
                np.where(finite, np.maximum(0.0, post - np.where(finite, self.post_limit[l], 0.0)), 0.0)
            )
        self.rows = GridRows(self, self.last, period=self.period, period_id=self.period_id, supply=self.supply)
        # the re-dispatch LPs fix each site's grid draw (facility less supply): no period, no option terms
        self.lp_rows = GridRows(self, self.last, lifted=frozenset())

    # ------------------------------------------------------------------ maths
    def delta_injections(self, site_mw: np.ndarray, redispatch_mw: np.ndarray) -> np.ndarray:
        p = -(self.share.T @ site_mw)
        np.add.at(p, self.grid.plant_bus, redispatch_mw)
        return p

    def screen(self, site_mw: np.ndarray, redispatch_mw: np.ndarray, lifted: frozenset[int] = frozenset()) -> Screen:
        """Flows and the no-harm rows they break, with the reinforcements ``lifted`` built."""
        base_limit, post_limit = self.limits(lifted)
        f = self.pre.flows_mw + self.ptdf @ self.delta_injections(site_mw, redispatch_mw)
        post = f[:, None] + self.lodf_cols * f[self.outages][None, :]
        # unmonitored lines (and a line against its own outage, limit inf) never count
        # Same rule as the verifier: over the limit by more than TOL x max(1, limit).
        over_base = np.where(self.monitored, np.abs(f) - base_limit, -np.inf)
        base = [int(l) for l in np.flatnonzero(over_base > TOL_MW * np.maximum(1.0, base_limit))]
        cut = self._post_cut if not lifted else None
        if cut is None:  # limit + tolerance, inf where unmonitored: one compare per entry
            tol_post = TOL_MW * np.maximum(1.0, np.where(np.isfinite(post_limit), post_limit, 1.0))
            cut = np.where(self.monitored[:, None], post_limit + tol_post, np.inf)
            if not lifted:
                self._post_cut = cut
        ls, js = np.nonzero(np.abs(post) > cut)
        post_v = list(zip(ls.tolist(), js.tolist()))
        excess = np.abs(post[ls, js]) - post_limit[ls, js]
        worst = max(0.0, float(over_base[base].max()) if base else 0.0, float(excess.max()) if excess.size else 0.0)
        return Screen(f, post, base, post_v, float(worst), lifted)

    def lifts(self, l: int, j: int) -> list[tuple[int, float, Ref]]:
        """The reinforcements of line l: (uprate index, MW its limit rises once built, option ref)."""
        return [
            (u, float(self.lift_base[u] if j < 0 else self.lift_post[u][j]), ref)
            for u, (lu, _r, _e, ref) in enumerate(self.uprates)
            if lu == l and (self.lift_base[u] if j < 0 else self.lift_post[u][j]) > 0
        ]

    def lp_rows_for(self, lifted: frozenset[int]) -> GridRows:
        """A re-dispatch LP's row writer with the reinforcements ``lifted`` built (the others not)."""
        return self.lp_rows if not lifted else GridRows(self, self.last, lifted=lifted)

    def limits(self, lifted: frozenset[int] = frozenset()) -> tuple[np.ndarray, np.ndarray]:
        """(base limit per line, post-outage limit per line and outage column) with ``lifted`` built."""
        if not lifted:
            return self.base_limit, self.post_limit
        base, post = self.base_limit.copy(), self.post_limit.copy()
        for u in lifted:
            l = self.uprates[u][0]
            base[l] += self.lift_base[u]
            post[l] = post[l] + self.lift_post[u]
        return base, post

    def row(self, l: int, j: int) -> tuple[np.ndarray, float, float]:
        """Sensitivity of the monitored flow to bus injections, its pre-existing value and its limit."""
        if j < 0:
            return self.ptdf[l], float(self.pre.flows_mw[l]), float(self.base_limit[l])
        k = self.outages[j]
        a = self.ptdf[l] + self.lodf_cols[l, j] * self.ptdf[k]
        return a, float(self.pre_post[l, j]), float(self.post_limit[l, j])

    def reachable_rows(
        self, site_max_mw: np.ndarray, lower_mw: np.ndarray, upper_mw: np.ndarray
    ) -> tuple[list[tuple[int, int]], int]:
        """The monitored no-harm rows that some placement within the variables' bounds could break:
        every other row holds for every such placement, so leaving it out changes nothing (a valid
        screen, the up-front formulation's and the lazy seed's). Returns the rows (line, outage
        column or -1), sorted, and the number of monitored candidate rows screened.

        Bounds: site s's facility MW in [0, site_max_mw[s]], plant g's re-dispatch in
        [lower_mw[g], upper_mw[g]]. A row's flow is c + a.x; on balanced x (sum of re-dispatch =
        new load per component) a - lam e gives the same flow for any lam (e: +1 per plant,
        -share per site), so each line's sensitivity vector is shifted by the lam that minimises
        its reach R = sum |a_v - lam e_v| w_v (a weighted median; w: half-widths). A post-outage row
        a_l + LODF_lk a_k reaches at most |c + a.m| + R_l + |LODF_lk| R_k from the box midpoint m
        (triangle inequality); the row is kept when that reaches its limit.

        Complexity: O(L (G + S) log(G + S)) for the shifted sensitivities, O(L K) for the screen."""
        g = self.grid
        cols = np.concatenate([self.ptdf[:, g.plant_bus], -(self.ptdf @ self.share.T)], axis=1)  # L x (G + S)
        lo = np.concatenate([lower_mw, np.zeros(len(site_max_mw))])
        hi = np.concatenate([upper_mw, site_max_mw])
        mid, half = (lo + hi) / 2, np.maximum(hi - lo, 0.0) / 2
        sigma = self.share.sum(axis=1)
        e = np.concatenate([np.ones(len(lower_mw)), -sigma])
        if np.unique(g.components).size == 1:
            # minimise sum_v |a_v - lam e_v| w_v over lam: the weighted median of a_v / e_v, weights |e_v| w_v
            ok = np.abs(e) > 0
            pts, wts = cols[:, ok] / e[ok], np.abs(e[ok]) * half[ok]
            order = np.argsort(pts, axis=1)
            cum = np.cumsum(wts[order], axis=1)
            k = np.argmax(cum >= cum[:, -1:] / 2, axis=1)
            lam = np.take_along_axis(pts, np.take_along_axis(order, k[:, None], axis=1), axis=1)[:, 0]
            cols = cols - lam[:, None] * e[None, :]
        reach = np.abs(cols) @ half  # per line
        at_mid = cols @ mid
        base_far = np.abs(self.pre.flows_mw + at_mid) + reach
        keep = [(int(l), -1) for l in np.flatnonzero(self.monitored & (base_far >= self.base_limit * (1 - 1e-9)))]
        n_cand = int(self.monitored.sum())
        if self.outages.size:
            k_idx = self.outages
            post_far = (
                np.abs(self.pre_post + at_mid[:, None] + self.lodf_cols * at_mid[k_idx][None, :])
                + reach[:, None]
                + np.abs(self.lodf_cols) * reach[k_idx][None, :]
            )
            cand = self.monitored[:, None] & np.isfinite(self.post_limit)
            n_cand += int(cand.sum())
            ls, js = np.nonzero(cand & (post_far >= self.post_limit * (1 - 1e-9)))
            keep += list(zip(ls.tolist(), js.tolist()))
        return sorted(keep), n_cand

    # ------------------------------------------------------------------ model
    def add_balance(self, target: RowTarget, rows: GridRows | None = None) -> None:
        """Per connected component: re-dispatch serves exactly the new load drawn there."""
        for row in (self.rows if rows is None else rows).balance():
            target.add_row(row)

    def add_rows(
        self,
        target: RowTarget,
        screen: Screen,
        added: set[tuple[int, int]] | None = None,
        rows: GridRows | None = None,
    ) -> tuple[int, int]:
        """Add the rows ``screen`` found violated and not yet in ``added`` (default: this loop's set),
        written by ``rows`` (default: the model's, :attr:`rows`; the LPs pass :attr:`lp_rows`)."""
        added = self.added if added is None else added
        writer = self.rows if rows is None else rows
        pairs = [(l, -1) for l in screen.base_violations] + self._worst_per_line(screen, added)
        n_base = n_post = 0
        for l, j in pairs:
            if (l, j) in added:
                continue  # already a row: a violation here is solver tolerance, not a missing cut
            added.add((l, j))
            for row in writer.line_limits(l, j):
                target.add_row(row)
            if j < 0:
                n_base += 1
            else:
                n_post += 1
        return n_base, n_post

    def _worst_per_line(self, screen: Screen, added: set[tuple[int, int]]) -> list[tuple[int, int]]:
        """Of the post-outage violations not yet rows, the ROWS_PER_LINE most violated per line.

        A line already overloaded before any new load (no harm: its limit is its pre-existing
        post-outage flow) is violated after hundreds of outages at once by the same new flow;
        those rows differ only by LODF[l,k] PTDF[k], so a few per line per iteration cut off
        the rest (measured on case3012wp_k: 14,609 rows in the first iteration otherwise)."""
        by_line: dict[int, list[tuple[float, int]]] = {}
        post_limit = self.limits(screen.lifted)[1]
        for l, j in screen.post_violations:
            if (l, j) not in added:
                excess = abs(screen.post_mw[l, j]) - post_limit[l, j]
                by_line.setdefault(l, []).append((-excess, j))
        out = []
        for l in sorted(by_line):
            out += [(l, j) for _, j in sorted(by_line[l])[:ROWS_PER_LINE]]
        return out

    # ------------------------------------------------------------------ report
    def report(
        self,
        site_mw: np.ndarray,
        redispatch_mw: np.ndarray,
        *,
        enforced: bool,
        loop_seconds: float,
        lifted: frozenset[int] = frozenset(),
    ) -> GridReport:
        """The plan's grid section for this placement and re-dispatch, with the reinforcements
        ``lifted`` built (their lines reported at the reinforced ratings and limits)."""
        g, sc = self.grid, self.scenario
        scr = self.screen(site_mw, redispatch_mw, lifted)
        base_limit, post_limit = self.limits(lifted)
        rating = g.rating_mw.copy()
        for u in lifted:
            l, r, _e, _ref = self.uprates[u]
            rating[l] = max(rating[l], r)
        f, post = scr.flows_mw, scr.post_mw
        new_load = self.share.T @ site_mw
        inj = self.pre.injections_mw + self.delta_injections(site_mw, redispatch_mw)
        lines = [
            LineFlow(
                line=g.line_ids[l],
                flow_mw=float(f[l]),
                limit_mw=float(base_limit[l]),
                rating_mw=float(rating[l]),
                loading_pct=float(100 * abs(f[l]) / base_limit[l]),
            )
            for l in range(g.n_line)
        ]

        def loading(l: int, j: int) -> ContingencyLoading:
            return ContingencyLoading(
                outage=g.line_ids[self.outages[j]],
                line=g.line_ids[l],
                flow_mw=float(post[l, j]),
                limit_mw=float(post_limit[l, j]),
                loading_pct=float(100 * abs(post[l, j]) / post_limit[l, j]),
            )

        worst: list[ContingencyLoading] = []
        if self.outages.size:
            ratio = np.where(self.monitored[:, None], np.abs(post) / post_limit, -1.0)
            flat = ratio.ravel()
            n = min(WORST_REPORTED, flat.size)
            # = np.argsort(-ratio, axis=None, kind="stable")[:n] without sorting all L x K entries
            kth = np.partition(flat, flat.size - n)[flat.size - n]
            cand = np.flatnonzero(flat >= kth)
            top = cand[np.lexsort((cand, -flat[cand]))][:n]
            worst = [loading(*np.unravel_index(i, ratio.shape)) for i in top if ratio.flat[i] >= 0]
        violations = [
            ContingencyLoading(
                outage="-",
                line=g.line_ids[l],
                flow_mw=float(f[l]),
                limit_mw=float(base_limit[l]),
                loading_pct=float(100 * abs(f[l]) / base_limit[l]),
            )
            for l in scr.base_violations
        ] + [loading(l, j) for l, j in scr.post_violations]
        verdict = "secure" if not violations else "insecure"
        plants = {p.id: p for p in sc.topology.plants}
        return GridReport(
            security=self.security,
            enforced_by_solver=enforced,
            base_mva=sc.policy.base_mva,
            monitored_lines=int(self.monitored.sum()),
            injections_mw={b: float(inj[i]) for i, b in enumerate(g.bus_ids)},
            new_load_mw={b: float(new_load[i]) for i, b in enumerate(g.bus_ids) if new_load[i] > 0},
            redispatch=[
                Redispatch(
                    plant=pid,
                    mw=float(redispatch_mw[i]),
                    spare_mw=float(g.spare_mw[i]),
                    cost_usd_per_mwh=float(g.cost_usd_per_mwh[i]),
                )
                for i, pid in enumerate(g.plant_ids)
                if abs(redispatch_mw[i]) > 1e-9 and pid in plants
            ],
            preexisting=self._preexisting_report(),
            lines=lines,
            worst_contingencies=worst,
            bridges=[g.line_ids[k] for k in g.bridges()] if self.security == "n-1" else [],
            violations=violations,
            n_minus_1=verdict,
            iterations=self.iterations,
            constraints_added=len(self.added),
            loop_seconds=round(loop_seconds, 4),
        )

    def _preexisting_report(self) -> PreexistingGrid:
        g = self.grid
        n1 = []
        if self.outages.size:
            over = np.abs(self.pre_post) > g.emergency_mw[:, None] + TOL_MW
            over[self.outages, np.arange(self.outages.size)] = False
            for l, j in zip(*np.nonzero(over)):
                n1.append(
                    ContingencyLoading(
                        outage=g.line_ids[self.outages[j]],
                        line=g.line_ids[l],
                        flow_mw=float(self.pre_post[l, j]),
                        limit_mw=float(g.emergency_mw[l]),
                        loading_pct=float(100 * abs(self.pre_post[l, j]) / g.emergency_mw[l]),
                    )
                )
        return PreexistingGrid(
            dispatch_mw={pid: float(self.pre.dispatch_mw[i]) for i, pid in enumerate(g.plant_ids)},
            cost_usd_per_h=float(self.pre.cost_usd_per_h),
            relaxed=self.pre.relaxed,
            base_overloads=[
                LineFlow(
                    line=v.line, flow_mw=v.flow_mw, limit_mw=v.limit_mw, rating_mw=v.limit_mw, loading_pct=v.loading_pct
                )
                for v in self.pre.overloads
            ],
            n1_overloads=n1,
        )


def redispatch_lower_mw(scenario: Scenario, pre: PreexistingState) -> np.ndarray:
    """Lower bound of each plant's re-dispatch: -its pre-existing output when re-dispatch down is allowed."""
    if scenario.policy.grid.redispatch_down:
        return -np.asarray(pre.dispatch_mw, float)
    return np.zeros(len(pre.dispatch_mw))


def redispatch_cost_usd_per_year(scenario: Scenario, cost_usd_per_mwh, redispatch_mw) -> float:
    pol = scenario.policy
    hours = HOURS_PER_YEAR * pol.cost.utilization
    # Only generation raised is charged: lowering a plant earns the plan no credit (otherwise the
    # new load would be credited with the system saving of cheap spare displacing dear plants).
    raised = np.maximum(np.asarray(redispatch_mw, float), 0.0)
    return pol.grid.redispatch_weight * hours * float(np.asarray(cost_usd_per_mwh, float) @ raised)


def redispatch_floor_usd_per_year(scenario: Scenario, new_load_mw: float) -> float:
    """A lower bound on the re-dispatch cost of ANY placement drawing at least ``new_load_mw``.

    Re-dispatch changes sum to the new load (lossless DC), so the raised output is at least
    the new load; charged only on raised output, it costs at least the merit order of the
    plants' spare filled up to that load. Line limits only add to it."""
    plants = sorted(scenario.topology.plants, key=plant_cost_usd_per_mwh)
    left, raised_mw = max(0.0, new_load_mw), []
    for pl in plants:
        raised_mw.append(min(left, pl.spare_mw))
        left -= raised_mw[-1]
    return redispatch_cost_usd_per_year(scenario, [plant_cost_usd_per_mwh(pl) for pl in plants], raised_mw)


def add_raise_cost(target: RowTarget, rows: GridRows, usd_per_mw: np.ndarray) -> list:
    """Objective terms charging only raised output: up_g >= delta_g, up_g in [0, spare_g], cost on up_g
    (the ``raise_def`` rows of :mod:`solvers.formulation_grid`). Returns (USD per MW, variable) pairs."""
    grid = rows.grid
    defs, terms = rows.raise_definitions(usd_per_mw)
    for row in defs:
        key = row.terms[0][1].key
        g = key[0]
        target.raised[key] = target.m.add_variable(
            lb=0.0, ub=max(0.0, float(grid.spare_mw[g])), name=f"raise[{','.join((grid.plant_ids[g], *rows.tag))}]"
        )
        target.add_row(row)
    return [(c, target.var(ref)) for c, ref in terms]


class RowTarget(Protocol):
    """What the grid rows are added to: a MathOpt model ``m`` with its facility, re-dispatch and
    raise variables, and ``add_row`` (the MILP's :class:`~solvers.milp.MilpModel` is one)."""

    m: mathopt.Model
    raised: dict[tuple[int, ...], mathopt.Variable]  # (plant,) or (plant, period)

    def var(self, ref: Ref) -> mathopt.Variable: ...

    def add_row(self, row: Row) -> None: ...


class LpRows:
    """A re-dispatch LP's translator of grid rows: facility variables (fixed to a placement) and
    re-dispatch variables by index; rows added in floating point, term by term. O(terms) per row."""

    def __init__(self, model: mathopt.Model, facility: list, redispatch: list):
        self.m, self.facility, self.redispatch = model, facility, redispatch
        self.raised: dict[tuple[int, ...], mathopt.Variable] = {}

    def var(self, ref: Ref) -> mathopt.Variable:
        kind, key = ref.kind, ref.key
        if kind == "facility":
            return self.facility[key[0]]
        if kind == "redispatch":
            return self.redispatch[key[0]]
        if kind == "raise":
            return self.raised[key]
        raise ValueError(f"a re-dispatch LP holds no variable {kind}{list(key)}")

    def add_row(self, row: Row) -> None:
        ct = self.m.add_linear_constraint(
            lb=-np.inf if row.lo is None else float(row.lo),
            ub=np.inf if row.hi is None else float(row.hi),
            name=row.name,
        )
        for c, ref in row.terms:
            ct.set_coefficient(self.var(ref), float(c))


def dispatch_for_placement(
    scenario: Scenario, site_ids: list[str], site_mw: np.ndarray, *, time_limit_s: float = 60.0
) -> GridReport:
    """Re-dispatch for a fixed placement (engines that do not model flows): least-cost LP under the
    same lazy no-harm loop, then the parsimony LP. If no re-dispatch keeps the limits, the
    merit-order dispatch without line limits is reported, with its violations."""
    grid = GridModel.from_scenario(scenario)
    pre = grid.preexisting_state()
    loop = SecurityLoop(scenario, grid, pre, site_ids)
    t0 = time.perf_counter()
    lower = redispatch_lower_mw(scenario, pre)
    best = least_cost_redispatch(loop, site_mw, lower, time_limit_s=time_limit_s, record=True)
    if best is None:
        best = merit_order(grid, loop, site_mw)
    else:
        best = parsimonious_redispatch(loop, site_mw, best, lower, time_limit_s=time_limit_s)
    return loop.report(site_mw, best, enforced=False, loop_seconds=time.perf_counter() - t0)


def least_cost_redispatch(
    loop: SecurityLoop,
    site_mw: np.ndarray,
    lower_mw: np.ndarray,
    *,
    time_limit_s: float,
    record: bool = False,
    lifted: frozenset[int] = frozenset(),
) -> np.ndarray | None:
    """The least-cost secure re-dispatch for a fixed placement (an LP under the lazy no-harm loop),
    or None when there is none (or the time or iteration limit stops the loop first).

    ``record``: rows go into ``loop.added`` and each iteration into ``loop.iterations`` (the
    re-dispatch of a grid-blind engine's plan). Otherwise (the MILP's repair of a placement) the
    LP starts with every row the loop holds and keeps its own rows to itself. ``lifted``: the line
    reinforcements built (their limits raised).
    Complexity: one LP per loop iteration, G + S variables."""
    grid, sc = loop.grid, loop.scenario
    model = mathopt.Model(name="redispatch")
    sites = [
        model.add_variable(lb=float(v), ub=float(v), name=f"facility[{sid}]") for sid, v in zip(loop.site_ids, site_mw)
    ]
    red = [
        model.add_variable(lb=float(lo), ub=float(s), name=f"redispatch[{p}]")
        for p, lo, s in zip(grid.plant_ids, lower_mw, grid.spare_mw)
    ]
    lp = LpRows(model, sites, red)
    rows = loop.lp_rows_for(lifted)
    model.minimize(mathopt.fast_sum(c * v for c, v in add_raise_cost(lp, rows, grid.cost_usd_per_mwh)))
    loop.add_balance(lp, rows)
    added = loop.added if record else set(loop.added)
    if not record:
        for l, j in sorted(added):
            lp.add_row(rows.line_limit(l, j))
    deadline = time.perf_counter() + max(0.5, float(time_limit_s))
    for it in range(sc.policy.grid.max_iterations):
        t = time.perf_counter()
        res = mathopt.solve(
            model, mathopt.SolverType.HIGHS, params=mathopt.SolveParameters(time_limit=_seconds(deadline - t))
        )
        if not res.has_primal_feasible_solution():
            return None
        values = np.array([res.variable_values()[v] for v in red])
        if sc.policy.grid.security == "none":
            return values
        scr = loop.screen(site_mw, values, lifted)
        n_base, n_post = loop.add_rows(lp, scr, added=added, rows=rows)
        if record:
            loop.iterations.append(
                LoopIteration(
                    iteration=it + 1,
                    seconds=round(time.perf_counter() - t, 4),
                    objective=res.objective_value(),
                    base_constraints_added=n_base,
                    contingency_constraints_added=n_post,
                    worst_violation_mw=scr.worst_violation_mw,
                )
            )
        if n_base + n_post == 0:
            return values if scr.worst_violation_mw <= TOL_MW else None
        if time.perf_counter() > deadline:
            return None
    return None


def parsimonious_redispatch(
    loop: SecurityLoop,
    site_mw: np.ndarray,
    start_mw: np.ndarray,
    lower_mw: np.ndarray,
    *,
    time_limit_s: float = 30.0,
    lifted: frozenset[int] = frozenset(),
) -> np.ndarray:
    """Among the re-dispatches that cost no more than ``start_mw`` (a secure one), one that moves the
    fewest MW: the lexicographic second stage of the re-dispatch choice.

    Many dispatches often cost the same (lowering a plant is free, zero-cost plants are free to
    raise, equal prices are common), and an LP returns an arbitrary vertex among them. This LP
    splits each plant's change Delta_g = up_g - down_g (up in [0, spare], down in [0, -lower]),
    keeps the balance, the cost sum_g c_g up_g <= cost(start) and the no-harm rows (the loop's
    rows so far, then its lazy screen again), and minimises sum_g (up_g + down_g) = sum |Delta_g|.
    The cost term is unchanged (it charges c_g max(Delta_g, 0) <= c_g up_g), so this never trades
    money for parsimony. Returns ``start_mw`` when the LP does not finish clean.

    Size: 3G variables, G + components + rows constraints; one LP per loop iteration.
    """
    grid, sc = loop.grid, loop.scenario
    hours = HOURS_PER_YEAR * sc.policy.cost.utilization * sc.policy.grid.redispatch_weight
    usd = hours * grid.cost_usd_per_mwh
    start_mw = np.asarray(start_mw, float)
    cap = float(usd @ np.maximum(start_mw, 0.0))
    model = mathopt.Model(name="redispatch-parsimony")
    sites = [
        model.add_variable(lb=float(v), ub=float(v), name=f"facility[{sid}]") for sid, v in zip(loop.site_ids, site_mw)
    ]
    red, moved, cost_terms = [], [], []
    for g, pid in enumerate(grid.plant_ids):
        spare, low = max(0.0, float(grid.spare_mw[g])), min(0.0, float(lower_mw[g]))
        d = model.add_variable(lb=low, ub=spare, name=f"redispatch[{pid}]")
        up = model.add_variable(lb=0.0, ub=spare, name=f"up[{pid}]")
        down = model.add_variable(lb=0.0, ub=-low, name=f"down[{pid}]")
        ct = model.add_linear_constraint(lb=0.0, ub=0.0, name=f"split[{pid}]")
        ct.set_coefficient(d, 1.0)
        ct.set_coefficient(up, -1.0)
        ct.set_coefficient(down, 1.0)
        red.append(d)
        moved += [up, down]
        if usd[g] > 0:
            cost_terms.append((float(usd[g]), up))
    lp = LpRows(model, sites, red)
    rows = loop.lp_rows_for(lifted)
    loop.add_balance(lp, rows)
    if cost_terms:
        ct = model.add_linear_constraint(ub=cap + PARSIMONY_COST_TOL * max(1.0, cap), name="cost_at_most_least")
        for c, v in cost_terms:
            ct.set_coefficient(v, c)
    model.minimize(mathopt.fast_sum(moved))
    added: set[tuple[int, int]] = set()
    for l, j in sorted(loop.added):
        added.add((l, j))
        lp.add_row(rows.line_limit(l, j))
    deadline = time.perf_counter() + max(1.0, float(time_limit_s))
    for _ in range(sc.policy.grid.max_iterations):
        res = mathopt.solve(
            model,
            mathopt.SolverType.HIGHS,
            params=mathopt.SolveParameters(time_limit=_seconds(deadline - time.perf_counter())),
        )
        if res.termination.reason != mathopt.TerminationReason.OPTIMAL:
            return start_mw
        values = np.array([res.variable_values()[v] for v in red])
        if sc.policy.grid.security == "none":
            break
        scr = loop.screen(site_mw, values, lifted)
        if scr.worst_violation_mw <= TOL_MW:
            break
        if sum(loop.add_rows(lp, scr, added=added, rows=rows)) == 0 or time.perf_counter() > deadline:
            return start_mw
    else:
        return start_mw
    if np.abs(values).sum() > np.abs(start_mw).sum() or float(usd @ np.maximum(values, 0.0)) > cap + 1e-6 * max(
        1.0, cap
    ):
        return start_mw  # solver tolerance; keep the better of the two
    return values


def merit_order(grid: GridModel, loop: SecurityLoop, site_mw: np.ndarray) -> np.ndarray:
    """Cheapest plants first, per component, ignoring line limits."""
    out = np.zeros(len(grid.plant_ids))
    labels = grid.components
    need = {int(c): float(loop.share[:, labels == c].sum(axis=1) @ site_mw) for c in np.unique(labels)}
    for g in sorted(range(len(grid.plant_ids)), key=lambda g: (grid.cost_usd_per_mwh[g], grid.plant_ids[g])):
        c = int(labels[grid.plant_bus[g]])
        take = min(float(grid.spare_mw[g]), need.get(c, 0.0))
        out[g] = take
        need[c] = need.get(c, 0.0) - take
    return out


def _seconds(s: float):
    import datetime

    return datetime.timedelta(seconds=max(0.01, float(s)))
