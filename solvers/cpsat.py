"""CP-SAT placement: integer racks per (tenant, SKU, site).

Input: a :class:`~solvers.problem.Problem` and solver options. Output: an
:class:`~solvers.engine.EngineResult` (the plan is assembled by :mod:`solvers.assemble`), or :class:`~placer.errors.InfeasibleError`
whose reasons name, in the planner's words, a set of constraints that cannot all hold.

The model (see the README's maths) is :mod:`solvers.formulation`'s rows, translated by
:class:`PlacementModel` (:meth:`PlacementModel.add_row`) over its variables:

* ``x[c]`` integer racks for each candidate c = (t, k, s) (``y[c, q]`` per period on rollouts);
* ``use[t, s]`` booleans, 1 when tenant t has GPUs at site s (islands, max sites, the
  tenant-spread penalty); ``open[s]`` booleans for the site fixed cost.

The translator owns the integer scaling (MW rows in watts, upper-limit coefficients rounded up
and lower-limit ones down, :mod:`solvers.scaling`) and the int64 overflow check of every row;
every planner's rule keeps its row (name and sentence) in :attr:`PlacementModel.constraints`.
To explain infeasibility the model is rebuilt with one enforcement literal per named
constraint and solved under assumptions; the infeasible core is minimised by grouped deletion
within a time budget (:func:`explain_infeasibility`, 5 s by default) and read back as sentences
with the demand lines in conflict. Common causes never get this far: the aggregate pre-check
(:mod:`solvers.precheck`) answers them with arithmetic before any engine runs.

Size: C integer variables (C <= T·K·S candidates after pruning), T·S + S booleans,
O(C) non-zeros per constraint family.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ortools
import structlog
from ortools.sat.python import cp_model

from placer.errors import InfeasibleError, NoSolutionError, SolveInterrupted
from solvers.cuts import capacity_cuts
from solvers.engine import EngineResult
from solvers.formulation import MW, Formulation, Ref, Row
from solvers.interrupt import run_interruptibly
from solvers.options import greedy_options, with_options
from solvers.problem import Problem
from solvers.replan import movable, move_rows, move_terms
from solvers.scaling import W_PER_MW, check_linear, down_w, up_w
from solvers.schedule import forward_schedule

if TYPE_CHECKING:
    from placer.plan import Status

log = structlog.get_logger("placer.cpsat")


@dataclass
class NamedConstraint:
    """A planner's rule in the model: its formulation row and, in explain mode, its assumption literal."""

    row: Row
    literal: cp_model.IntVar | None = None

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def sentence(self) -> str:  # in the planner's words: what must hold
        return self.row.sentence


@dataclass
class Variables:
    x: dict[int, cp_model.IntVar] = field(default_factory=dict)
    use: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    open: dict[int, cp_model.IntVar] = field(default_factory=dict)
    y: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)  # (candidate, period) -> live racks
    option: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)  # (option, period) -> built
    moved: dict[int, cp_model.IntVar] = field(default_factory=dict)  # re-plans: racks below the previous count
    upper: dict[int, int] = field(default_factory=dict)  # variable index -> upper bound

    def ub(self, var: cp_model.IntVar) -> int:
        # Booleans are not registered: their bound is 1.
        return self.upper.get(var.index, 1)


class PlacementModel:
    """Builds the CP-SAT model for a problem. ``explain=True`` guards every constraint with a literal."""

    def __init__(self, problem: Problem, *, explain: bool = False):
        self.p = problem
        self.f = Formulation(problem, wide_domains=explain)
        self.explain = explain
        self.model = cp_model.CpModel()
        self.v = Variables()
        self.constraints: list[NamedConstraint] = []
        self.max_abs_sum = 0
        self._build()

    # ---- helpers --------------------------------------------------------------
    def add(
        self,
        row: Row,
        terms: list[tuple[int, cp_model.IntVar]],
        lo: int | None,
        hi: int | None,
        enforce: cp_model.IntVar | None = None,
    ):
        """Add lo <= sum(coef * var) <= hi (the row scaled) as a named constraint, only when ``enforce``
        is 1 if given, after an overflow check."""
        name = row.name
        coefs = [c for c, _ in terms]
        ubs = [self.v.ub(var) for _, var in terms]
        self.max_abs_sum = max(self.max_abs_sum, check_linear(name, coefs, ubs, max(abs(lo or 0), abs(hi or 0))))
        expr = cp_model.LinearExpr.weighted_sum([v for _, v in terms], coefs)
        named = NamedConstraint(row)
        cts = []
        if lo is not None and hi is not None and lo == hi:
            cts.append(self.model.add(expr == lo))
        else:
            if lo is not None:
                cts.append(self.model.add(expr >= lo))
            if hi is not None:
                cts.append(self.model.add(expr <= hi))
        if enforce is not None:
            for ct in cts:
                ct.only_enforce_if(enforce)
        if self.explain:
            # (with ``enforce`` too: the rule binds only when its condition holds and it is assumed)
            named.literal = self.model.new_bool_var(name)
            for ct in cts:
                ct.only_enforce_if(named.literal)
        for ct in cts:
            ct.with_name(name)
        self.constraints.append(named)

    def var(self, ref: Ref) -> cp_model.IntVar:
        kind, key = ref.kind, ref.key
        if kind == "y":
            i, q = key
            return self.v.y[(i, q)]
        if kind == "use":
            t, s = key
            return self.v.use[(t, s)]
        if kind == "open":
            return self.v.open[key[0]]
        if kind == "option":
            return self.v.option[(key[0], key[1])]
        if kind == "moved":
            return self.v.moved[key[0]]
        raise ValueError(f"CP-SAT holds no variable '{kind}' (aggregates are expanded first)")

    def add_row(self, row: Row) -> None:
        """Translate a formulation row: aggregates expanded, MW rows scaled to watts with upper-limit
        coefficients rounded up and lower-limit ones down (a plan feasible here is feasible in floating
        point), count rows as they are; planner's rules named (and guarded in explain mode)."""
        terms = self.f.expand(row.terms)
        lo, hi = row.lo, row.hi
        if row.unit == MW:
            if lo is not None and hi is not None:
                raise ValueError(f"row '{row.name}': a ranged MW row needs two roundings; write two rows")
            scale = up_w if hi is not None else down_w
            scaled = [(scale(c), self.var(ref)) for c, ref in terms]
            lo, hi = (None if lo is None else up_w(lo)), (None if hi is None else down_w(hi))
        else:
            scaled = [(int(c), self.var(ref)) for c, ref in terms]
            lo, hi = (None if lo is None else int(lo)), (None if hi is None else int(hi))
        enforce = None if row.enforce is None else self.var(row.enforce)
        if row.explain:
            self.add(row, scaled, lo, hi, enforce)
            return
        if enforce is not None:
            raise ValueError(f"row '{row.name}': CP-SAT enforces only named rows conditionally")
        if (
            len(terms) == 2
            and lo is None
            and hi == 0
            and [c for c, _ in scaled] == [1, -1]
            and all(ref.kind in ("use", "open") for _, ref in terms)
        ):
            self.model.add_implication(scaled[0][1], scaled[1][1]).with_name(row.name)  # a <= b over booleans
            return
        expr = cp_model.LinearExpr.weighted_sum([v for _, v in scaled], [c for c, _ in scaled])
        if lo is not None and lo == hi:
            self.model.add(expr == lo).with_name(row.name)
        else:
            if lo is not None:
                self.model.add(expr >= lo).with_name(row.name)
            if hi is not None:
                self.model.add(expr <= hi).with_name(row.name)

    # ---- the model ------------------------------------------------------------
    def _build(self) -> None:
        p, m, v = self.p, self.model, self.v
        cands = p.candidates
        f = self.f
        P = p.periods.count
        for i, c in enumerate(cands):
            # In explain mode keep domains wide so that infeasibility lands in named constraints.
            ub = f.rack_bound(i)
            label = f"{p.tenants[c.t].id},{p.skus[c.k].id},{p.sites[c.s].id}"
            for q in range(P):
                var = m.new_int_var(0, ub, f"y[{label},{p.periods.ids[q]}]" if P > 1 else f"x[{label}]")
                v.y[(i, q)] = var
                v.upper[var.index] = ub
            v.x[i] = v.y[(i, P - 1)]
        for o, opt in enumerate(p.options):  # power options: booleans per period
            for q in range(P):
                v.option[(o, q)] = m.new_bool_var(f"option[{opt.id},{p.periods.ids[q]}]")

        for row in f.demand():
            self.add_row(row)
        if p.replan is not None:  # re-plans (solvers/replan.py): racks moved and frozen sites
            for i in movable(f):
                var = m.new_int_var(0, p.replan.previous[i], f"moved[{i}]")
                v.moved[i] = var
                v.upper[var.index] = p.replan.previous[i]
            for row in move_rows(f):
                self.add_row(row)
        for q in range(P):
            for row in f.period_limits(q):
                self.add_row(row)
        if P > 1:
            for row in f.rollout():
                self.add_row(row)
        for row in f.option_rules():
            self.add_row(row)
        for row in f.power():
            self.add_row(row)

        # tenant rules: use[t,s] links GPUs at a site to islands, site counts and the spread penalty
        for t, s in f.pairs():
            v.use[(t, s)] = m.new_bool_var(f"use[{p.tenants[t].id},{p.sites[s].id}]")
            for row in f.pair_rules(t, s):
                self.add_row(row)
        for row in f.tenant_rules():
            self.add_row(row)

        # site fixed cost: open[s] >= use[t, s]
        for s in f.open_sites():
            v.open[s] = m.new_bool_var(f"open[{p.sites[s].id}]")
            for row in f.open_links(s):
                self.add_row(row)

        # Capacity-link cuts (solvers/cuts.py): valid rows that tighten the LP bound the fixed and
        # tenant-site costs leave loose (measured: gap 17.1 % -> 8.6 % on 100 sites at 60 s with the
        # open rows alone). Not in explain mode: a cut would enforce a site limit whose named
        # constraint the core minimisation is trying to drop.
        if not self.explain:
            for row in f.cuts(capacity_cuts(p, open_sites=set(v.open), pairs=set(v.use))):
                self.add_row(row)

        self._objective()

    def _objective(self) -> None:
        """The formulation's objective in whole dollars (each coefficient rounded), overflow-checked."""
        v = self.v
        terms, constants = self.f.objective()
        terms = terms + move_terms(self.f)  # re-plans: the annualised move cost (none otherwise)
        scaled = [(round(c), self.var(ref)) for c, ref in terms]
        offset = sum(round(c) for c in constants)
        check_linear("objective", [c for c, _ in scaled], [v.ub(var) for _, var in scaled], offset)
        self.model.minimize(cp_model.LinearExpr.weighted_sum([x for _, x in scaled], [c for c, _ in scaled]) + offset)

    def hint(
        self,
        racks: dict[int, int],
        schedule: dict[tuple[int, int], int] | None = None,
        options: dict[int, int] | None = None,
    ) -> None:
        for (i, q), y in self.v.y.items():
            value = schedule.get((i, q), 0) if schedule is not None else racks.get(i, 0)
            self.model.add_hint(y, value)
        for (o, q), b in self.v.option.items():  # options: built from the period given, else not
            first = (options or {}).get(o)
            self.model.add_hint(b, int(first is not None and q >= first))


class _Progress(cp_model.CpSolverSolutionCallback):
    """Logs every improving incumbent with the bound and gap (live progress)."""

    def __init__(self, on_progress=None):
        super().__init__()
        self.on_progress = on_progress
        self.count = 0
        self.last_logged = 0.0

    def on_solution_callback(self) -> None:
        self.count += 1
        obj, bound = self.objective_value, self.best_objective_bound
        gap = (obj - bound) / abs(obj) if obj else 0.0
        event = {
            "solution": self.count,
            "seconds": round(self.wall_time, 3),
            "objective_usd": obj,
            "bound_usd": bound,
            "gap": gap,
        }
        # At most one line a second: CP-SAT can find hundreds of small improvements.
        if self.count == 1 or self.wall_time - self.last_logged >= 1.0:
            self.last_logged = self.wall_time
            log.info("cpsat.incumbent", **event)
        if self.on_progress:
            self.on_progress(event)


STATUS: dict[cp_model.CpSolverStatus, Status] = {
    cp_model.OPTIMAL: "OPTIMAL",
    cp_model.FEASIBLE: "FEASIBLE",
    cp_model.INFEASIBLE: "INFEASIBLE",
    cp_model.UNKNOWN: "UNKNOWN",
    cp_model.MODEL_INVALID: "MODEL_INVALID",
}


def _parameters(opts, *, workers: int | None = None) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(opts.time_limit_s)
    solver.parameters.num_workers = workers or opts.workers
    solver.parameters.random_seed = opts.seed
    solver.parameters.relative_gap_limit = float(opts.relative_gap)
    if opts.deterministic:
        # A wall-clock stop depends on machine speed and thread timing; deterministic time does not.
        solver.parameters.interleave_search = True
        solver.parameters.max_deterministic_time = float(opts.time_limit_s)
        solver.parameters.max_time_in_seconds = 10.0 * float(opts.time_limit_s)  # a safety net only
    solver.parameters.log_search_progress = bool(opts.log_search)
    return solver


EXPLAIN_BUDGET_S = 5.0  # wall time for the whole explanation (initial core and its minimisation)
CALL_LIMIT_S = 1.0  # at most this per deletion test; a test that times out keeps its group

# Deletion tries to drop these families first, so that what survives is the plainest story: the
# demand lines and the limits they break. Families not listed go in between, in name order.
_DROP_FIRST = [
    "power_band_min",
    "generation_adequacy",
    "power_band_max",
    "substation_headroom",
    "build_rate",
    "feed_capacity",
    "air_cooling",
    "liquid_cooling",
    "training_island",
    "max_sites",
    "latency_share",
    "site_it_capacity",
    "delivered",
    "latest",
    "demand",
]


def _group_key(row: Row, period_ids: set[str]) -> tuple:
    """A constraint's group: its family and entity, over every period (``site_it_capacity[sejong,2027Q1]``
    and ``[sejong,2027Q2]`` are one group); a tenant's training islands at every site are one group."""
    args = row.entities[:1] if row.family == "training_island" else row.entities
    return (row.family, *[a for a in args if a not in period_ids])


class _CoreSearch:
    """Assumption literals of the explain model, solved as a pure feasibility problem with a budget."""

    def __init__(self, problem: Problem, opts, budget_s: float):
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + budget_s
        self.opts = opts
        self.pm = PlacementModel(problem, explain=True)
        self.pm.model.clear_objective()  # feasibility only: a deletion test stops at the first plan
        self.by_index: dict[int, NamedConstraint] = {}
        self.literals: dict[int, cp_model.IntVar] = {}  # the same index -> its assumption literal
        for c in self.pm.constraints:
            assert c.literal is not None, "explain=True gives every named constraint a literal"
            self.by_index[c.literal.index] = c
            self.literals[c.literal.index] = c.literal
        self.calls = 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def test(self, assumed: list[int], limit_s: float) -> tuple[str, list[int]]:
        """('infeasible', sufficient assumptions) | ('feasible', []) | ('unknown', [])."""
        self.calls += 1
        m = self.pm.model
        m.clear_assumptions()
        m.add_assumptions([self.literals[i] for i in assumed])
        solver = _parameters(self.opts, workers=1)
        solver.parameters.max_time_in_seconds = max(0.01, min(limit_s, self.deadline - time.perf_counter()))
        solver.parameters.max_deterministic_time = 1e9
        solver.parameters.relative_gap_limit = 0.0
        # Enforced rows enter the LP relaxation only at level 2; without it an aggregate conflict
        # (demand vs the band) under assumptions is left to search (measured: >3 s vs 0.03 s).
        solver.parameters.linearization_level = 2
        # Under assumptions presolve can do little but costs most of each test (measured on
        # korea-2025-rollout: 0.8 s -> 0.2 s per test without it).
        solver.parameters.cp_model_presolve = False
        status = solver.solve(m)
        if status == cp_model.INFEASIBLE:
            core = sorted(set(solver.sufficient_assumptions_for_infeasibility()) & set(assumed))
            return "infeasible", core or assumed
        if status in (cp_model.FEASIBLE, cp_model.OPTIMAL):
            return "feasible", []
        return "unknown", []


def explain_infeasibility(
    problem: Problem, opts, *, budget_s: float = EXPLAIN_BUDGET_S, rules_proven_infeasible: bool = True
) -> list[str] | None:
    """Reasons naming a set of constraints that cannot all hold: CP-SAT's infeasible core under
    assumptions, minimised by deletion within ``budget_s`` seconds of wall time.

    The literals are grouped by family and entity (a demand line, a site's IT capacity over all
    periods, a tenant's islands); deletion first drops whole groups (cheap families first, see
    ``_DROP_FIRST``), then single constraints inside the groups left. Every test has at most
    ``CALL_LIMIT_S``; a test that times out keeps what it tested, and the result then says it is
    not proven minimal. Progress goes to the log (``infeasibility.core``). The reasons are: the
    demand lines in the core, one bullet per constraint family, and a last line on minimality.
    Returns [] when the rules are satisfiable (the conflict is elsewhere, e.g. the grid). When the
    first solve finds neither, every rule is listed as the (unminimised) conflict if the caller has
    proven the rules infeasible (CP-SAT's own solve), and None is returned otherwise (the MILP,
    whose infeasibility may come from the grid rows).

    Cost: one CP-SAT feasibility solve per group and per remaining constraint, each capped."""
    search = _CoreSearch(problem, opts, budget_s)
    period_ids = set(problem.periods.ids) if problem.periods.multi else set()
    names = {i: c.name for i, c in search.by_index.items()}
    status, core = search.test(sorted(search.by_index), budget_s)
    if status == "feasible":
        return []
    proven = status == "infeasible"
    if not proven:
        if not rules_proven_infeasible:
            log.info(
                "infeasibility.core.done",
                constraints=None,
                minimal=False,
                solves=search.calls,
                elapsed_s=round(search.elapsed(), 3),
            )
            return None
        core = sorted(search.by_index)  # no core in time: every rule is suspect
    log.info("infeasibility.core", step=0, phase="initial", constraints=len(core), elapsed_s=round(search.elapsed(), 3))

    def order(idx: int) -> tuple:
        fam = search.by_index[idx].row.family
        return (_DROP_FIRST.index(fam) if fam in _DROP_FIRST else len(_DROP_FIRST) // 2, names[idx])

    minimal = proven
    step, last_log = 0, search.elapsed()
    groups: dict[tuple, list[int]] = {}
    for i in sorted(core, key=order):
        groups.setdefault(_group_key(search.by_index[i].row, period_ids), []).append(i)
    # Phase 1 tests whole groups; phase 2 single constraints of the groups with several left.
    phases = [("group", list(groups.values())), ("constraint", None)]
    for phase, candidates in phases:
        if candidates is None:
            candidates = [
                [i] for members in groups.values() if len(set(members) & set(core)) > 1 for i in members if i in core
            ]
        for members in candidates:
            drop = set(members) & set(core)
            if not drop or len(drop) == len(core):
                continue
            if time.perf_counter() >= search.deadline:
                minimal = False
                break
            step += 1
            result, smaller = search.test([i for i in core if i not in drop], CALL_LIMIT_S)
            if result == "infeasible":
                core = smaller
            elif result == "unknown":
                minimal = False
            now = search.elapsed()
            if now - last_log >= 0.5:
                last_log = now
                log.info(
                    "infeasibility.core",
                    step=step,
                    phase=phase,
                    tested=names[members[0]],
                    result=result,
                    constraints=len(core),
                    elapsed_s=round(now, 3),
                )
    seconds = search.elapsed()
    log.info(
        "infeasibility.core.done",
        steps=step,
        constraints=len(core),
        minimal=minimal,
        solves=search.calls,
        elapsed_s=round(seconds, 3),
    )
    reasons = _core_reasons(problem, [search.by_index[i] for i in sorted(core, key=order)])
    if minimal:
        reasons.append(f"a minimal conflict: without any one of these it goes away (core minimised in {seconds:.1f} s)")
    else:
        reasons.append(
            f"not proven minimal: stopped after {seconds:.1f} s and {step} deletion tests (the time budget "
            f"is {budget_s:g} s); some constraints listed may not be needed"
        )
    return reasons


def _pruned_note(problem: Problem, tenants: list[int]) -> list[str]:
    """Sites a tenant's region rules allow but that hold none of its racks in the model (cooling
    medium, rack size or training island), so that a core over the rest reads right."""
    have = {(c.t, c.s) for c in problem.candidates}
    parts = []
    for t in tenants:
        allowed = problem.tenants[t].allowed_regions
        gone = [
            s.id for i, s in enumerate(problem.sites) if (allowed is None or s.region in allowed) and (t, i) not in have
        ]
        if gone:
            shown = ", ".join(gone[:8]) + (f" and {len(gone) - 8} more" if len(gone) > 8 else "")
            parts.append(f"{problem.tenants[t].id} at {shown}")
    if not parts:
        return []
    return [
        "left out before solving (too small for the tenant's racks or training island, or lacking its "
        "cooling medium): " + "; ".join(parts)
    ]


def _core_reasons(problem: Problem, members: list[NamedConstraint]) -> list[str]:
    """The demand lines of the core first, then one bullet per family: sentences joined, or for the
    site and substation limits a compact list of the limits with their MW."""
    from solvers.precheck import demand_lines_text

    t_index = {t.id: i for i, t in enumerate(problem.tenants)}
    k_index = {k.id: i for i, k in enumerate(problem.skus)}
    lines: list[tuple[int, int]] = []
    by_family: dict[str, list[NamedConstraint]] = {}
    for c in members:
        fam = c.row.family
        if fam == "demand":
            tenant, sku = c.row.entities
            lines.append((t_index[tenant], k_index[sku]))
        else:
            by_family.setdefault(fam, []).append(c)
    # Tenant rules scale with the tenant's demand (a latency share is a share of all its GPUs): a
    # tenant named only by such rules is in conflict through them.
    rules = {
        "latency_share": "latency share",
        "max_sites": "site limit",
        "training_island": "training islands",
        "latest": "go-live deadline",
        "delivered": "deliveries",
    }
    via: dict[int, list[str]] = {}
    for fam, cs in by_family.items():
        for c in cs:
            if fam in rules:
                t = t_index[c.row.entities[0]]
                if not any(tt == t for tt, _ in lines) and rules[fam] not in via.get(t, []):
                    via.setdefault(t, []).append(rules[fam])
    parts = [demand_lines_text(problem, lines)] if lines else []
    parts += [
        f"{problem.tenants[t].id}'s {problem.tenant_gpus(t):,} GPUs through its {' and '.join(names)} "
        f"({demand_lines_text(problem, [key for key in problem.demand_racks if key[0] == t])})"
        for t, names in sorted(via.items())
    ]
    out = [
        f"demand lines in conflict: {'; '.join(parts)}"
        if parts
        else "demand lines in conflict: none (these rules conflict even with nothing placed)"
    ]
    out += _pruned_note(problem, sorted({t for t, _ in lines} | set(via)))
    per = problem.periods
    limits = {
        "site_it_capacity": ("IT capacity", per.it_cap),
        "liquid_cooling": ("liquid cooling", per.liquid_cap),
        "air_cooling": ("air cooling", per.air_cap),
        "feed_capacity": ("feed capacity (N-1)", per.feed_limit),
        "substation_headroom": ("headroom for new load", per.headroom),
    }
    site_index = {s.id: i for i, s in enumerate(problem.sites)}
    sub_index = {b: i for i, b in enumerate(problem.substation_ids)}
    q_index = {q: i for i, q in enumerate(per.ids)}
    for fam, cs in by_family.items():
        if fam in limits and len(cs) >= 3:
            label, table = limits[fam]
            index = sub_index if fam == "substation_headroom" else site_index
            parts, total = [], 0.0
            entries = [c.row.entities for c in cs]
            periods = {args[1] for args in entries if len(args) > 1}
            one_period = len(periods) == 1 and all(len(args) > 1 for args in entries)
            for args in entries:
                q = q_index[args[1]] if len(args) > 1 else per.count - 1
                value = table[q][index[args[0]]]
                total += value
                when = f" in {args[1]}" if len(args) > 1 and not one_period else ""
                parts.append(f"{args[0]}{when} {value:g} MW")
            kind = "substations" if fam == "substation_headroom" else "sites"
            when = f" in {next(iter(periods))}" if one_period else ""
            # A sum over different periods means nothing: the total only within one period.
            in_all = f", {total:,.1f} MW in all" if one_period or not periods else ""
            out.append(f"the {label}{when} of {len(cs)} {kind}{in_all}: " + ", ".join(parts))
        else:
            out.append("; ".join(c.sentence for c in cs))
    return out


def solve_cpsat(problem: Problem, *, hint: dict[int, int] | None = None, on_progress=None) -> EngineResult:
    """One CP-SAT solve of the placement (and schedule), hinted with ``hint`` when given.
    Raises InfeasibleError with the minimised core's reasons, NoSolutionError without a plan
    in the time limit, SolveInterrupted on Ctrl-C before any plan."""
    opts = problem.scenario.policy.solver
    t0 = time.perf_counter()
    pm = PlacementModel(problem)
    if hint:
        built = greedy_options(problem.options)  # the greedy baseline's options, with its capacities
        applied = with_options(problem, built)
        pm.hint(hint, forward_schedule(applied, hint) if problem.periods.multi else None, built)
    build_s = time.perf_counter() - t0
    stats = pm.model.proto
    log.info(
        "cpsat.model",
        variables=len(stats.variables),
        constraints=len(stats.constraints),
        candidates=len(problem.candidates),
        max_abs_linear_sum=pm.max_abs_sum,
        build_seconds=round(build_s, 3),
    )
    solver = _parameters(opts)
    # Ctrl-C: we stop the search ourselves and mark the plan (CP-SAT's own handler would hide it).
    solver.parameters.catch_sigint_signal = False
    t1 = time.perf_counter()
    status, interrupted = run_interruptibly(
        lambda: solver.solve(pm.model, _Progress(on_progress)), solver.stop_search, engine="cpsat"
    )
    solve_s = time.perf_counter() - t1
    if interrupted and status not in (cp_model.OPTIMAL, cp_model.FEASIBLE, cp_model.INFEASIBLE):
        raise SolveInterrupted(f"interrupted (Ctrl-C) after {solve_s:.1f} s, before CP-SAT found any plan")
    name: Status = STATUS.get(status, "UNKNOWN")
    log.info(
        "cpsat.done",
        status=name,
        seconds=round(solve_s, 3),
        objective_usd=solver.objective_value if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None,
        bound_usd=solver.best_objective_bound,
    )
    if status == cp_model.INFEASIBLE:
        reasons = explain_infeasibility(problem, opts)
        raise InfeasibleError("no placement satisfies all the constraints; these cannot all hold together:", reasons)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise NoSolutionError(
            f"CP-SAT found no plan within {opts.time_limit_s:g} s (status {name}); raise --time-limit"
        )
    racks = {i: int(solver.value(x)) for i, x in pm.v.x.items()}
    schedule = {key: int(solver.value(y)) for key, y in pm.v.y.items()} if problem.periods.multi else None
    options = {key: int(solver.value(b)) for key, b in pm.v.option.items()} if problem.options else None
    params: dict[str, Any] = {
        "max_time_in_seconds": solver.parameters.max_time_in_seconds,
        "num_workers": solver.parameters.num_workers,
        "random_seed": solver.parameters.random_seed,
        "relative_gap_limit": solver.parameters.relative_gap_limit,
        "deterministic": bool(opts.deterministic),
        "power_unit": f"1/{W_PER_MW} MW",
        "hinted": bool(hint),
    }
    notes = [
        (
            "CP-SAT models site, cooling, feed (N-1), substation, band, latency, island, site-count and region rules; "
            "it does not model transmission-line flows (use --solver milp for grid limits)."
        )
    ]
    if interrupted:
        notes.append(f"interrupted (Ctrl-C) after {solve_s:.1f} s: the plan is CP-SAT's incumbent then, status {name}")
    return EngineResult(
        racks=racks,
        status=name,
        solver="cpsat",
        solver_version=ortools.__version__,
        parameters=params,
        build_seconds=build_s,
        solve_seconds=solve_s,
        bound=float(solver.best_objective_bound),
        engine_objective=float(solver.objective_value),
        schedule=schedule,
        notes=notes,
        interrupted=interrupted,
        options=options,
    )
